"""The WebSocket options as a user passes them: `python -m moreweb --ws... ` flags, and wss://.

One real server process per flag set (the CLI is the interface uvicorn users switch over), and
an embedded TLS server for the `wss` scheme in the scope.
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import pytest

from tests.helpers_server import ServerProcess, write_app
from tests.ws_helpers import (
    OP_PING,
    AppProbe,
    RawClient,
    echo_app,
    run,
    serve,
    upgrade_request,
)

websockets = pytest.importorskip("websockets")
from websockets.asyncio.client import connect  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402

ECHO_MODULE = """
async def app(scope, receive, send):
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"4")]})
        await send({"type": "http.response.body", "body": b"http"})
        return
    if scope["type"] != "websocket":
        return
    await receive()
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        await send({"type": "websocket.send", "text": message.get("text"),
                    "bytes": message.get("bytes")})
"""


def test_cli_ws_flags_set_max_size_deflate_and_keepalive(tmp_path: Path) -> None:
    app_dir = write_app(tmp_path, "wsapp", ECHO_MODULE)
    args = ["wsapp:app", "--app-dir", app_dir, "--port", "0", "--lifespan", "off",
            "--ws-max-size", "1000", "--ws-per-message-deflate", "false",
            "--ws-ping-interval", "0.2", "--ws-ping-timeout", "0.2"]

    async def scenario(port: int) -> tuple[str | None, int, float]:
        url = f"ws://127.0.0.1:{port}/"
        async with connect(url, compression="deflate", ping_interval=None) as ws:
            assert ws.response is not None
            extensions = ws.response.headers.get("sec-websocket-extensions")
            await ws.send("x" * 1000)
            assert await ws.recv() == "x" * 1000
            await ws.send("x" * 1001)
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 5)
            assert info.value.rcvd is not None
            code = info.value.rcvd.code
        # A raw peer that never answers the keepalive ping is dropped after ~0.4 s.
        client = await RawClient.opened(port)
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert (await client.read_frame(timeout=2)).opcode == OP_PING
        assert await client.closed_by_server(timeout=3)
        client.close()
        return extensions, code, loop.time() - started

    with ServerProcess(args) as server:
        extensions, code, elapsed = run(scenario(server.port))
    assert extensions is None
    assert code == 1009
    assert elapsed < 2


def test_cli_ws_none_serves_upgrades_as_http(tmp_path: Path) -> None:
    app_dir = write_app(tmp_path, "wsapp", ECHO_MODULE)

    async def scenario(port: int) -> tuple[int, bytes]:
        client = await RawClient.connect(port)
        client.write(upgrade_request())
        head = await client.read_head()
        body = await client.read_body(head)
        client.close()
        return head.status, body

    with ServerProcess(["wsapp:app", "--app-dir", app_dir, "--port", "0", "--lifespan",
                        "off", "--ws", "none"]) as server:
        assert run(scenario(server.port)) == (200, b"http")


def test_wss_scheme_over_tls(tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    probe = AppProbe()

    async def scenario() -> Any:
        async with serve(echo_app(probe), ssl_certfile=str(certfile),
                         ssl_keyfile=str(keyfile)) as srv:
            url = f"wss://127.0.0.1:{srv.port}/secure"
            async with connect(url, ssl=client_context) as ws:
                await ws.send("over tls " * 1000)
                return await ws.recv()

    assert run(scenario()) == "over tls " * 1000
    assert probe.scopes[0]["scheme"] == "wss"
    assert probe.scopes[0]["path"] == "/secure"
    assert probe.received[-1]["code"] == 1000


def test_trusted_proxy_headers_set_the_websocket_scheme_and_client() -> None:
    # Behind a TLS-terminating proxy on 127.0.0.1 (trusted by default), the app must see wss
    # and the real client, as uvicorn's users expect.
    probe = AppProbe()

    async def scenario() -> None:
        async with serve(echo_app(probe)) as srv, connect(
                srv.url(), additional_headers={"X-Forwarded-Proto": "https",
                                               "X-Forwarded-For": "203.0.113.7"}) as ws:
            await ws.send("x")
            await ws.recv()

    run(scenario())
    assert probe.scopes[0]["scheme"] == "wss"
    assert probe.scopes[0]["client"][0] == "203.0.113.7"


def test_untrusted_proxy_headers_are_ignored_for_websockets() -> None:
    probe = AppProbe()

    async def scenario() -> None:
        async with serve(echo_app(probe), forwarded_allow_ips="10.9.9.9") as srv, connect(
                srv.url(), additional_headers={"X-Forwarded-Proto": "https",
                                               "X-Forwarded-For": "203.0.113.7"}) as ws:
            await ws.send("x")
            await ws.recv()

    run(scenario())
    assert probe.scopes[0]["scheme"] == "ws"
    assert probe.scopes[0]["client"][0] == "127.0.0.1"
