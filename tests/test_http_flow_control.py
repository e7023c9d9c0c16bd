"""Flow control both ways, observed from outside.

Reading: unread request body past a high-water mark pauses reading from the socket, so a slow
app never has a large upload sitting in memory; the app sees that as bounded `http.request`
pieces. Writing: when the client stops reading, the transport pauses writing and the app's
`await send(...)` waits, so a streaming app cannot fill memory; the app sees that as sends
that stop completing.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
from http_server_helpers import RawConnection, request, respond, serve

MIB = 1024 * 1024


def test_big_upload_to_a_slow_consumer_is_read_in_bounded_pieces() -> None:
    sizes: list[int] = []
    total = 8 * MIB

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(0.05)  # a slow start: an unpaused server would read it all now
        received = 0
        while True:
            message = await receive()
            sizes.append(len(message["body"]))
            received += len(message["body"])
            await asyncio.sleep(0.001)
            if not message["more_body"]:
                break
        await respond(send, 200, str(received).encode())

    payload = bytes(range(256)) * (total // 256)
    with serve(app) as server:
        response = httpx.post(server.url, content=payload, timeout=20)
    assert response.text == str(total)
    assert sum(sizes) == total
    # The body buffer stops growing at the high-water mark (256 KiB) plus one socket read.
    assert max(sizes) <= 1 * MIB, max(sizes)


def test_upload_is_intact_across_pauses() -> None:
    digest: list[bytes] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        import hashlib

        hasher = hashlib.sha256()
        while True:
            message = await receive()
            hasher.update(message["body"])
            await asyncio.sleep(0.002)
            if not message["more_body"]:
                break
        digest.append(hasher.digest())
        await respond(send, 200, b"ok")

    import hashlib
    import random

    payload = random.Random(7).randbytes(3 * MIB)

    def chunks() -> Any:
        for start in range(0, len(payload), 100_000):
            yield payload[start:start + 100_000]

    with serve(app) as server:
        assert httpx.post(server.url, content=chunks(), timeout=20).status_code == 200
    assert digest == [hashlib.sha256(payload).digest()]


def _small_receive_buffer_connection(port: int) -> RawConnection:
    """A client whose kernel receive buffer is small, so the server's writes back up quickly."""
    return RawConnection("127.0.0.1", port, timeout=10, rcvbuf=32 * 1024)


CHUNK = 64 * 1024
CHUNKS = 512  # 32 MiB in all


def _counting_streamer() -> tuple[list[int], list[BaseException], threading.Event, Any]:
    completed = [0]
    errors: list[BaseException] = []
    finished = threading.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(CHUNK * CHUNKS).encode())]})
        block = b"z" * CHUNK
        try:
            for _ in range(CHUNKS):
                await send({"type": "http.response.body", "body": block, "more_body": True})
                completed[0] += 1
            await send({"type": "http.response.body", "body": b""})
        except OSError as exc:
            errors.append(exc)
        finally:
            finished.set()

    return completed, errors, finished, app


def test_send_waits_while_the_client_is_not_reading() -> None:
    completed, errors, finished, app = _counting_streamer()
    with serve(app) as server:
        conn = _small_receive_buffer_connection(server.port)
        try:
            conn.send(request("GET", "/"))
            time.sleep(0.4)
            stalled_at = completed[0]
            time.sleep(0.2)
            # The app is parked in send(): nothing more completed while nobody read.
            assert completed[0] == stalled_at
            assert stalled_at < CHUNKS // 4, f"{stalled_at} sends completed: memory unbounded"
            assert not finished.is_set()
            # Once the client reads, everything flows and arrives intact.
            response = conn.read_response(timeout=20)
        finally:
            conn.close()
        assert finished.wait(5)
    assert len(response.body) == CHUNK * CHUNKS
    assert response.body.count(b"z") == CHUNK * CHUNKS
    assert completed[0] == CHUNKS and not errors


def test_client_closing_while_send_waits_ends_the_app_with_oserror() -> None:
    completed, errors, finished, app = _counting_streamer()
    with serve(app) as server:
        conn = _small_receive_buffer_connection(server.port)
        conn.send(request("GET", "/"))
        time.sleep(0.3)
        assert not finished.is_set()
        conn.close()
        # The waiting send() is released by the disconnect, not left hanging.
        assert finished.wait(5)
        assert server.wait_for(lambda: server.connection_count() == 0, 3)
    assert len(errors) == 1
    assert completed[0] < CHUNKS
