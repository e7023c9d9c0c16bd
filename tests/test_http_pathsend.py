"""The ASGI `http.response.pathsend` extension: the server sends a file by path, with
`loop.sendfile` (zero-copy) where the transport allows and a read loop where it does not (TLS).
The bytes on the wire must be exactly the file, framed like any other body.
"""

from __future__ import annotations

import os
import random
import ssl
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from http_server_helpers import RunningServer, request, serve


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(random.Random(3).randbytes(300_000))
    return path


def pathsend_app(path: Path, headers: list[tuple[bytes, bytes]] | None = None,
                 pause_after_start: bool = False) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert "http.response.pathsend" in scope["extensions"]
        await send({"type": "http.response.start", "status": 200, "headers": headers or []})
        if pause_after_start:
            import asyncio

            await asyncio.sleep(0.01)  # the head goes out on its own before the file
        await send({"type": "http.response.pathsend", "path": str(path)})

    return app


def spy_sendfile(server: RunningServer) -> list[int]:
    """Record the byte counts of `loop.sendfile` calls made by the server."""
    calls: list[int] = []
    original = server.loop.sendfile

    async def sendfile(transport: Any, file: Any, offset: int = 0, count: int | None = None,
                       *, fallback: bool = True) -> int:
        calls.append(count or 0)
        return await original(transport, file, offset, count, fallback=fallback)

    server.loop.sendfile = sendfile  # type: ignore[method-assign]
    return calls


def test_pathsend_serves_the_file_with_sendfile_and_a_content_length(data_file: Path) -> None:
    with serve(pathsend_app(data_file)) as server, server.raw() as conn:
        calls = spy_sendfile(server)
        conn.send(request("GET", "/"))
        response = conn.read_response()
        # The connection stays usable: the framing was exact.
        conn.send(request("GET", "/"))
        again = conn.read_response()
    assert response.status == 200
    assert response.header(b"content-length") == b"300000"
    assert response.body == data_file.read_bytes()
    assert again.body == response.body
    assert calls == [300_000, 300_000]


def test_pathsend_keeps_the_apps_content_length(data_file: Path) -> None:
    app = pathsend_app(data_file, [(b"content-length", b"300000"),
                                   (b"content-type", b"application/octet-stream")])
    with serve(app) as server, server.raw() as conn:
        conn.send(request("GET", "/"))
        response = conn.read_response()
    assert response.header_all(b"content-length") == [b"300000"]
    assert response.body == data_file.read_bytes()


def test_pathsend_after_the_head_went_out_is_chunked(data_file: Path) -> None:
    with serve(pathsend_app(data_file, pause_after_start=True)) as server, server.raw() as conn:
        conn.send(request("GET", "/"))
        response = conn.read_response()
        conn.send(request("GET", "/"))
        assert conn.read_response().body == response.body
    assert response.chunked
    assert response.body == data_file.read_bytes()


def test_pathsend_for_head_sends_no_bytes_and_no_sendfile(data_file: Path) -> None:
    with serve(pathsend_app(data_file)) as server, server.raw() as conn:
        calls = spy_sendfile(server)
        conn.send(request("HEAD", "/") + request("GET", "/x"))
        head = conn.read_response(head_request=True)
        get = conn.read_response()
    assert head.header(b"content-length") == b"300000"
    assert len(get.body) == 300_000
    assert calls == [300_000], "only the GET sends the file"


def test_pathsend_of_an_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    with serve(pathsend_app(empty)) as server, server.raw() as conn:
        conn.send(request("GET", "/") + request("GET", "/"))
        first = conn.read_response()
        second = conn.read_response()
    assert first.header(b"content-length") == b"0"
    assert first.body == b"" and second.status == 200


def test_pathsend_to_an_http_1_0_client(data_file: Path) -> None:
    with serve(pathsend_app(data_file)) as server, server.raw() as conn:
        conn.send(request("GET", "/", version="1.0"))
        response = conn.read_response()
        assert conn.is_closed(2)
    assert response.body == data_file.read_bytes()


def test_pathsend_of_a_missing_file_fails_that_request_only(tmp_path: Path,
                                                             data_file: Path) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        path = tmp_path / "missing" if scope["path"] == "/missing" else data_file
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.pathsend", "path": str(path)})

    with serve(app) as server:
        with server.raw() as conn:
            conn.send(request("GET", "/missing"))
            data = conn.read_until_close()
        # The head was still waiting for the file: the client gets a 500, not a 200.
        assert data.startswith(b"HTTP/1.1 500 ")
        assert server.wait_for(lambda: bool(server.errors))
        assert isinstance(server.errors[0].exc_info[1], FileNotFoundError)  # type: ignore[index]
        assert httpx.get(server.url).content == data_file.read_bytes()


def test_pathsend_of_a_big_file_to_a_slow_reader(tmp_path: Path) -> None:
    big = tmp_path / "big"
    block = random.Random(5).randbytes(1 << 20)
    big.write_bytes(block * 16)
    with serve(pathsend_app(big)) as server, server.raw(timeout=20) as conn:
        conn.send(request("GET", "/"))
        time.sleep(0.3)  # let the server hit a full socket buffer mid-file
        response = conn.read_response()
    assert len(response.body) == 16 << 20
    assert response.body == block * 16


def test_pathsend_over_tls_copies_without_sendfile(tmp_path: Path, data_file: Path) -> None:
    trustme = pytest.importorskip("trustme")
    authority = trustme.CA()
    cert = authority.issue_cert("127.0.0.1")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)

    with serve(pathsend_app(data_file), ssl_certfile=str(cert_file),
               ssl_keyfile=str(key_file)) as server:
        calls = spy_sendfile(server)
        url = f"https://127.0.0.1:{server.port}/"
        with httpx.Client(verify=client_context) as client:
            response = client.get(url)
            again = client.get(url)
    assert response.status_code == 200
    assert response.content == data_file.read_bytes()
    assert again.content == response.content
    assert calls == []


def test_pathsend_file_is_closed_after_the_response(data_file: Path) -> None:
    def open_files() -> int:
        return sum(1 for fd in os.listdir("/proc/self/fd")
                   if os.path.realpath(f"/proc/self/fd/{fd}") == str(data_file))

    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc")
    with serve(pathsend_app(data_file)) as server, server.raw() as conn:
        for _ in range(3):
            conn.send(request("GET", "/"))
            conn.read_response()
        assert server.wait_for(lambda: open_files() == 0, 2)


def test_pipelined_pathsend_keeps_responses_in_order(data_file: Path) -> None:
    # Responses of a pipelined batch are gathered into one write; a file sent with
    # sendfile must still come after the heads and bodies queued before it.
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        if scope["path"] == "/file":
            await send({"type": "http.response.pathsend", "path": str(data_file)})
        else:
            await send({"type": "http.response.body", "body": scope["path"].encode()})

    with serve(app) as server, server.raw() as conn:
        conn.send(request("GET", "/a") + request("GET", "/file") + request("HEAD", "/file")
                  + request("GET", "/b") + request("GET", "/file"))
        bodies = [conn.read_response(head_request=i == 2).body for i in range(5)]
        assert server.errors == []
    content = data_file.read_bytes()
    assert bodies == [b"/a", content, b"", b"/b", content]
