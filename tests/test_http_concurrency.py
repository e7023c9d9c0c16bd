"""Many clients at once: each request runs as its own task, so slow requests overlap instead of
queueing, and every client gets its own answer.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from http_server_helpers import read_body, respond, serve

CLIENTS = 100
DELAY = 0.2


async def slow_echo(scope: Any, receive: Any, send: Any) -> None:
    body = await read_body(receive)
    await asyncio.sleep(DELAY)
    await respond(send, 200, scope["path"].encode() + b":" + body)


def test_concurrent_slow_requests_overlap_and_each_gets_its_answer() -> None:
    async def run_clients(url: str) -> tuple[list[bytes], float]:
        limits = httpx.Limits(max_connections=CLIENTS)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=10) as client:
            started = time.monotonic()
            responses = await asyncio.gather(*(
                client.post(f"/{i}", content=str(i * i).encode()) for i in range(CLIENTS)))
            return [r.content for r in responses], time.monotonic() - started

    with serve(slow_echo) as server:
        bodies, elapsed = asyncio.run(run_clients(server.url))
        assert server.wait_for(lambda: not server.server.server_state.tasks, 3)
    assert bodies == [f"/{i}:{i * i}".encode() for i in range(CLIENTS)]
    # Served one after another this would take CLIENTS * DELAY = 20 s.
    assert elapsed < CLIENTS * DELAY / 4, elapsed


def test_one_slow_client_does_not_hold_up_others() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await read_body(receive)
        await respond(send, 200, b"fast")

    with serve(app) as server, server.raw() as slow:
        # This client sends half a body and then nothing more.
        slow.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nhalf")
        started = time.monotonic()
        for _ in range(10):
            assert httpx.get(server.url).text == "fast"
        assert time.monotonic() - started < 3
