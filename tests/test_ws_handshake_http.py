"""The opening handshake as seen on the wire (RFC 6455 §4.2) and its HTTP outcomes.

Bad handshakes are answered with 400 (426 for an unknown version) and never reach the app as a
websocket; the app's choices before accepting (close -> 403, return -> 500, raise -> 500, the
`websocket.http.response` denial) become plain HTTP responses; `--ws none` serves the upgrade
request as plain HTTP.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from typing import Any

import pytest

from tests.ws_helpers import (
    OP_CLOSE,
    OP_TEXT,
    AppProbe,
    Head,
    RawClient,
    close_payload,
    echo_app,
    encode_frame,
    run,
    serve,
    upgrade_request,
)

websockets = pytest.importorskip("websockets")
from websockets.asyncio.client import connect  # noqa: E402
from websockets.exceptions import InvalidStatus  # noqa: E402


def recording_app(seen: list[str]) -> Any:
    """Records every scope type it is called with; answers http with 200 'plain', echoes ws."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-length", b"5")]})
            await send({"type": "http.response.body", "body": b"plain"})
        elif scope["type"] == "websocket":
            await echo_app()(scope, receive, send)

    return app


async def exchange(port: int, request: bytes, expect_close: bool = True
                   ) -> tuple[Head, bytes, bool]:
    """Send raw bytes; return the response head, body, and whether the server then closed."""
    client = await RawClient.connect(port)
    client.write(request)
    head = await client.read_head()
    body = await client.read_body(head)
    closed = expect_close and await client.closed_by_server()
    client.close()
    return head, body, closed


BAD_HANDSHAKES = {
    "missing key": upgrade_request(headers=[("Sec-WebSocket-Key", None)]),  # type: ignore[list-item]
    "key not 16 bytes": upgrade_request(key=base64.b64encode(b"short")),
    "key not base64": upgrade_request(key=b"!!!!not-base64!!!!!!!!=="),
    "two keys": upgrade_request(headers=[("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                                         ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")]),
    "no connection upgrade": upgrade_request(headers=[("Connection", "keep-alive")]),
    "POST": upgrade_request(method=b"POST", headers=[("Content-Length", "0")]),
    "HTTP/1.0": upgrade_request(http_version=b"1.0"),
    "with a body": upgrade_request(headers=[("Content-Length", "5")]) + b"hello",
}


@pytest.mark.parametrize("request_bytes", BAD_HANDSHAKES.values(), ids=BAD_HANDSHAKES.keys())
def test_bad_handshake_gets_400_and_never_reaches_the_app(request_bytes: bytes) -> None:
    # RFC 6455 §4.2.1: a server that cannot read the handshake answers 400 Bad Request.
    seen: list[str] = []

    async def scenario() -> tuple[Head, bytes, bool]:
        async with serve(recording_app(seen)) as srv:
            return await exchange(srv.port, request_bytes)

    head, body, closed = run(scenario())
    assert head.status == 400
    assert head.get("connection") == "close"
    assert body  # a human-readable reason
    assert closed
    assert "websocket" not in seen


@pytest.mark.parametrize("version", [b"8", b"14", b"13, 8"])
def test_unsupported_version_gets_426_naming_version_13(version: bytes) -> None:
    # RFC 6455 §4.2.2: 426 Upgrade Required with the versions the server speaks.
    seen: list[str] = []

    async def scenario() -> tuple[Head, bytes, bool]:
        async with serve(recording_app(seen)) as srv:
            return await exchange(srv.port, upgrade_request(version=version))

    head, _, closed = run(scenario())
    assert head.status == 426
    assert head.get("sec-websocket-version") == "13"
    assert closed
    assert seen == []


def test_accept_key_is_sha1_of_key_and_guid() -> None:
    # RFC 6455 §1.3's worked example.
    async def scenario() -> Head:
        async with serve(echo_app()) as srv:
            client = await RawClient.connect(srv.port)
            client.write(upgrade_request(key=b"dGhlIHNhbXBsZSBub25jZQ=="))
            head = await client.read_head()
            client.send(OP_CLOSE, close_payload(1000))
            await client.read_until_close()
            client.close()
            return head

    head = run(scenario())
    assert head.status == 101
    assert head.get("sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert head.get("upgrade", ).lower() == "websocket"  # type: ignore[union-attr]
    assert "upgrade" in head.get("connection", ).lower()  # type: ignore[union-attr]
    assert head.get("server") == "moreweb"
    assert head.get("date") is not None
    expected = base64.b64encode(hashlib.sha1(
        b"dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    assert head.get("sec-websocket-accept") == expected.decode()


def test_upgrade_after_plain_requests_on_the_same_keep_alive_connection() -> None:
    seen: list[str] = []

    async def scenario() -> bytes:
        async with serve(recording_app(seen), ws_per_message_deflate=False) as srv:
            client = await RawClient.connect(srv.port)
            for _ in range(2):
                client.write(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
                head = await client.read_head()
                assert head.status == 200
                assert await client.read_body(head) == b"plain"
            client.write(upgrade_request())
            assert (await client.read_head()).status == 101
            client.send(OP_TEXT, b"after upgrade")
            echoed = await client.read_frame()
            client.send(OP_CLOSE, close_payload(1000))
            await client.read_until_close()
            client.close()
            return echoed.payload

    assert run(scenario()) == b"after upgrade"
    assert seen == ["http", "http", "websocket"]


def test_ws_none_serves_the_upgrade_request_as_plain_http() -> None:
    seen: list[str] = []

    async def scenario() -> tuple[Head, bytes, bool]:
        async with serve(recording_app(seen), ws="none") as srv:
            return await exchange(srv.port, upgrade_request(), expect_close=False)

    head, body, _ = run(scenario())
    assert (head.status, body) == (200, b"plain")
    assert seen == ["http"]


def test_other_upgrade_tokens_are_served_as_plain_http() -> None:
    seen: list[str] = []

    async def scenario() -> tuple[Head, bytes, bool]:
        async with serve(recording_app(seen)) as srv:
            return await exchange(srv.port, b"GET / HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\n"
                                  b"Upgrade: h2c\r\n\r\n", expect_close=False)

    head, body, _ = run(scenario())
    assert (head.status, body) == (200, b"plain")
    assert seen == ["http"]


async def handshake_status(app: Any) -> tuple[int, bytes]:
    async with serve(app) as srv:
        with pytest.raises(InvalidStatus) as info:
            async with connect(srv.url(), open_timeout=5):
                pass
        response = info.value.response
        return response.status_code, bytes(response.body or b"")


def test_close_before_accept_is_403() -> None:
    # ASGI spec: websocket.close before websocket.accept rejects the handshake with 403.
    probe = AppProbe()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await probe.receive_from(receive)
        await send({"type": "websocket.close", "code": 1000})

    assert run(handshake_status(app))[0] == 403
    assert probe.types() == ["websocket.connect"]


def test_app_returning_without_accept_is_500() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()

    assert run(handshake_status(app))[0] == 500


def test_app_raising_before_accept_is_500(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom before accept")

    assert run(handshake_status(app))[0] == 500
    assert any("Exception in ASGI application" in r.getMessage() for r in caplog.records)


def test_accepting_an_unoffered_subprotocol_fails_the_handshake() -> None:
    # RFC 6455 §4.2.2: the server may only select a subprotocol the client offered.
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept", "subprotocol": "not-offered"})

    assert run(handshake_status(app))[0] == 500


def test_denial_response_extension_sends_any_http_response() -> None:
    # ASGI spec 2.4 `websocket.http.response`: start, then body in several parts.
    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert "websocket.http.response" in scope["extensions"]
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.http.response.start", "status": 401,
                    "headers": [(b"www-authenticate", b"Bearer"),
                                (b"content-type", b"text/plain")]})
        await send({"type": "websocket.http.response.body", "body": b"no ",
                    "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"token"})

    async def scenario() -> tuple[Head, bytes, bool]:
        async with serve(app) as srv:
            return await exchange(srv.port, upgrade_request())

    head, body, closed = run(scenario())
    assert head.status == 401
    assert head.get("www-authenticate") == "Bearer"
    assert body == b"no token"
    assert closed
    assert head.get("sec-websocket-accept") is None


def test_denial_response_seen_by_websockets_client() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.http.response.start", "status": 404,
                    "headers": [(b"content-length", b"9")]})
        await send({"type": "websocket.http.response.body", "body": b"not found"})

    assert run(handshake_status(app)) == (404, b"not found")


def test_bad_handshake_does_not_break_the_server_for_the_next_client() -> None:
    async def scenario() -> str:
        async with serve(echo_app()) as srv:
            head, _, _ = await exchange(srv.port, upgrade_request(version=b"7"))
            assert head.status == 426
            async with connect(srv.url()) as ws:
                await ws.send("ok")
                return str(await ws.recv())

    assert run(scenario()) == "ok"


def test_shutdown_before_accept_answers_the_pending_handshake() -> None:
    # A handshake still waiting for the app when the server stops must not hang the client.
    started = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        started.set()
        await asyncio.sleep(30)

    async def scenario() -> tuple[int, bool]:
        async with serve(app, timeout_graceful_shutdown=1) as srv:
            client = await RawClient.connect(srv.port)
            client.write(upgrade_request())
            await asyncio.wait_for(started.wait(), 5)
            srv.server.should_exit = True
            head = await client.read_head()
            closed = await client.closed_by_server()
            client.close()
            return head.status, closed

    status, closed = run(scenario())
    assert status >= 500
    assert closed


def test_browser_style_handshake_headers_are_accepted() -> None:
    # Firefox sends "Connection: keep-alive, Upgrade"; header values are case-insensitive
    # tokens (RFC 6455 §4.2.1 items 3-4).
    async def scenario() -> int:
        async with serve(echo_app()) as srv:
            client = await RawClient.connect(srv.port)
            client.write(upgrade_request("/chat", headers=[
                ("Connection", "keep-alive, Upgrade"), ("Upgrade", "WebSocket"),
                ("Origin", "http://example.test"), ("User-Agent", "Mozilla/5.0"),
                ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")]))
            head = await client.read_head()
            client.send(OP_CLOSE, close_payload(1000))
            await client.read_until_close()
            client.close()
            return head.status

    assert run(scenario()) == 101


def test_upgrade_pipelined_behind_a_plain_request_in_one_packet() -> None:
    seen: list[str] = []

    async def scenario() -> bytes:
        async with serve(recording_app(seen), ws_per_message_deflate=False) as srv:
            client = await RawClient.connect(srv.port)
            client.write(b"GET /first HTTP/1.1\r\nHost: t\r\n\r\n" + upgrade_request()
                         + encode_frame(OP_TEXT, b"riding along"))
            head = await client.read_head()
            assert (head.status, await client.read_body(head)) == (200, b"plain")
            assert (await client.read_head()).status == 101
            echoed = await client.read_frame()
            client.send(OP_CLOSE, close_payload(1000))
            await client.read_until_close()
            client.close()
            return echoed.payload

    assert run(scenario()) == b"riding along"
    assert seen == ["http", "websocket"]
