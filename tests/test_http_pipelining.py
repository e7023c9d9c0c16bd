"""Pipelined requests (RFC 9112 §9.3.2): answered one at a time, in the order they came, however
long each takes and however the bytes are split; a `Connection: close` request ends the line.
"""

from __future__ import annotations

import asyncio
from typing import Any

from http_server_helpers import echo_app, read_body, request, respond, serve


async def delay_app(scope: Any, receive: Any, send: Any) -> None:
    """Sleep for `?ms` milliseconds, then answer with the path."""
    query = scope["query_string"].decode()
    delay = int(query.split("=")[1]) / 1000 if query.startswith("ms=") else 0
    await read_body(receive)
    await asyncio.sleep(delay)
    await respond(send, 200, scope["path"].encode())


def test_pipelined_requests_are_answered_in_order_despite_different_delays() -> None:
    targets = ["/slow?ms=150", "/fast", "/medium?ms=50", "/fast2"]
    with serve(delay_app) as server, server.raw() as conn:
        conn.send(b"".join(request("GET", t) for t in targets))
        bodies = [conn.read_response().body for _ in targets]
    assert bodies == [b"/slow", b"/fast", b"/medium", b"/fast2"]


def test_pipelined_requests_split_at_every_byte_boundary_are_parsed_the_same() -> None:
    stream = request("POST", "/a", body=b"first") + request("GET", "/b") + \
        request("POST", "/c", [(b"transfer-encoding", b"chunked")]) + b"3\r\nabc\r\n0\r\n\r\n"
    with serve(echo_app) as server:
        for split in range(1, len(stream), 7):
            with server.raw() as conn:
                conn.send(stream[:split])
                conn.send(stream[split:])
                results = [(r.header(b"x-target"), r.body)
                           for r in (conn.read_response() for _ in range(3))]
            assert results == [(b"/a", b"first"), (b"/b", b""), (b"/c", b"abc")], split


def test_many_small_pipelined_requests_in_one_write() -> None:
    count = 200
    with serve(echo_app) as server, server.raw() as conn:
        conn.send(b"".join(request("GET", f"/{i}") for i in range(count)))
        targets = [conn.read_response().header(b"x-target") for _ in range(count)]
    assert targets == [f"/{i}".encode() for i in range(count)]


def test_pipeline_larger_than_the_read_buffer_limit_is_served_completely() -> None:
    # While the first (slow) response is produced, the server stops reading past its
    # pipelining high-water mark instead of buffering without bound; nothing may get lost.
    padding = [(b"x-pad", b"p" * 4000)]
    count = 100  # ~400 KB of pipelined heads, beyond the 256 KiB mark
    with serve(delay_app) as server, server.raw(timeout=15) as conn:
        conn.send(request("GET", "/first?ms=200")
                  + b"".join(request("GET", f"/{i}", padding) for i in range(count)))
        assert conn.read_response().body == b"/first"
        bodies = [conn.read_response().body for _ in range(count)]
    assert bodies == [f"/{i}".encode() for i in range(count)]


def test_requests_after_connection_close_are_not_answered() -> None:
    with serve(echo_app) as server, server.raw() as conn:
        conn.send(request("GET", "/1") + request("GET", "/2", [(b"connection", b"close")])
                  + request("GET", "/3"))
        first = conn.read_response()
        second = conn.read_response()
        rest = conn.read_until_close()
    assert (first.header(b"x-target"), second.header(b"x-target")) == (b"/1", b"/2")
    assert second.header(b"connection") == b"close"
    assert rest == b""


def test_a_500_in_the_middle_of_a_pipeline_closes_after_it() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["path"] == "/fail":
            raise RuntimeError("pipeline victim")
        await respond(send, 200, scope["path"].encode())

    with serve(app) as server, server.raw() as conn:
        conn.send(request("GET", "/1") + request("GET", "/fail") + request("GET", "/3"))
        assert conn.read_response().body == b"/1"
        assert conn.read_response().status == 500
        assert conn.read_until_close() == b""


def test_pipelined_bodies_that_the_app_does_not_read_are_skipped() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await respond(send, 200, scope["path"].encode())  # never calls receive()

    with serve(app) as server, server.raw() as conn:
        conn.send(request("POST", "/1", body=b"x" * 5000) + request("POST", "/2", body=b"y")
                  + request("GET", "/3"))
        assert [conn.read_response().body for _ in range(3)] == [b"/1", b"/2", b"/3"]
