"""Flow control both ways: nothing is buffered without bound on a slow peer or a slow app.

A client that stops reading makes the app's `send` wait (the transport's write buffer is the
only buffer, bounded by its high-water mark); an app that stops calling `receive` makes the
server stop reading after `ws_max_queue` messages, so TCP pushes back on the client. Kernel
buffers are pinned small on both ends: Linux autotunes loopback buffers to tens of MiB, which
would otherwise absorb everything and prove nothing.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

from tests.ws_helpers import (
    OP_BINARY,
    OP_CLOSE,
    RawClient,
    close_payload,
    encode_frame,
    run,
    serve,
    small_buffer_listener,
    wait_until,
)

CHUNK = 64 * 1024


async def wait_until_stable(value: Callable[[], int], quiet: float = 0.3,
                            timeout: float = 5.0) -> int:
    """Wait until `value()` has not changed for `quiet` seconds; return it."""
    deadline = time.monotonic() + timeout
    last, since = value(), time.monotonic()
    while time.monotonic() - since < quiet:
        if time.monotonic() > deadline:
            raise AssertionError("value never settled")
        await asyncio.sleep(0.02)
        current = value()
        if current != last:
            last, since = current, time.monotonic()
    return last


def test_app_send_waits_while_the_client_does_not_read() -> None:
    total = 400  # 25 MiB if nothing pushed back
    block = os.urandom(CHUNK)
    sent = 0
    finished = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal sent
        await receive()
        await send({"type": "websocket.accept"})
        for _ in range(total):
            await send({"type": "websocket.send", "bytes": block})
            sent += 1
        finished.set()
        await receive()

    async def scenario() -> tuple[int, int]:
        async with serve(app, ws_per_message_deflate=False, ws_ping_interval=None) as srv:
            client = await RawClient.opened(srv.port, buffer_size=CHUNK)
            stalled_at = await wait_until_stable(lambda: sent)
            assert not finished.is_set()
            # Reading again lets the app go on, and every message arrives intact.
            received = 0
            while received < total:
                frame = await client.read_frame()
                assert frame.opcode == OP_BINARY and frame.payload == block
                received += 1
            await asyncio.wait_for(finished.wait(), 5)
            client.send(OP_CLOSE, close_payload(1000))
            await client.read_until_close()
            client.close()
            return stalled_at, received

    stalled_at, received = run(scenario(), timeout=30)
    assert received == total
    # Socket buffers (a few MiB at most here) plus the transport's high-water mark: the app
    # was held back long before it could queue all 25 MiB.
    assert 0 < stalled_at * CHUNK < 10 * 1024 * 1024


def test_server_stops_reading_when_the_app_stops_receiving() -> None:
    count = 256
    size = 16 * 1024  # 4 MiB in all
    release = asyncio.Event()
    received: list[bytes] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await release.wait()
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            received.append(message["bytes"])

    async def scenario() -> int:
        async with serve(app, sockets=[small_buffer_listener()], ws_max_queue=4,
                         ws_per_message_deflate=False, ws_ping_interval=None) as srv:
            client = await RawClient.opened(srv.port, buffer_size=32 * 1024)
            transport = client.writer.transport
            client.write(b"".join(encode_frame(OP_BINARY, i.to_bytes(2, "big") * (size // 2))
                                  for i in range(count)))
            stuck = await wait_until_stable(transport.get_write_buffer_size)
            assert received == []
            release.set()
            await wait_until(lambda: len(received) == count)
            await wait_until(lambda: transport.get_write_buffer_size() == 0)
            client.send(OP_CLOSE, close_payload(1000))
            await client.read_until_close()
            client.close()
            return stuck

    stuck = run(scenario(), timeout=30)
    # Kernel buffers are ~100 KiB and the server holds at most one read (256 KiB) of queued
    # messages: most of the 4 MiB must still be waiting on the client's side.
    assert stuck > 3 * 1024 * 1024
    assert received == [i.to_bytes(2, "big") * (size // 2) for i in range(count)]
