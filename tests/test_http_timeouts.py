"""Connection timeouts: the request-head deadline (slowloris protection: 408, then close) and the
keep-alive idle timeout (close quietly). Small timeouts keep these tests fast; each asserts both
that the deadline fires and that it does not fire early.

RFC 9110 §15.5.9 (408 Request Timeout), RFC 9112 §9.5 (closing idle connections).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from http_server_helpers import RawConnection, read_body, request, respond, serve

HEAD_TIMEOUT = 0.5
KEEP_ALIVE = 0.3


async def ok_app(scope: Any, receive: Any, send: Any) -> None:
    await read_body(receive)
    await respond(send, 200, b"ok")


def _expect_408_then_close(conn: RawConnection, started: float) -> float:
    response = conn.read_response(timeout=HEAD_TIMEOUT + 3)
    elapsed = time.monotonic() - started
    assert response.status == 408
    assert response.header(b"connection") == b"close"
    assert conn.is_closed(2)
    return elapsed


def test_silent_connection_gets_408_and_is_closed() -> None:
    with serve(ok_app, timeout_request_head=HEAD_TIMEOUT) as server, server.raw() as conn:
        started = time.monotonic()
        elapsed = _expect_408_then_close(conn, started)
        assert server.wait_for(lambda: server.connection_count() == 0, 2)
    assert HEAD_TIMEOUT * 0.9 <= elapsed < HEAD_TIMEOUT + 1.5


def test_trickled_head_is_not_rescued_by_each_byte() -> None:
    # Slowloris: one byte at a time keeps the socket busy but never finishes the head. The
    # deadline covers the whole head, so each byte must not push it back: bytes keep coming
    # until 80% of the timeout, and the 408 must still come at the timeout, not a timeout
    # after the last byte.
    with serve(ok_app, timeout_request_head=HEAD_TIMEOUT) as server, server.raw() as conn:
        started = time.monotonic()
        partial = b"GET / HTTP/1.1\r\nHost: test\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        sent = 0
        while time.monotonic() - started < HEAD_TIMEOUT * 0.8:
            conn.send(partial[sent:sent + 1])
            sent += 1
            time.sleep(0.04)
        last_byte = time.monotonic() - started
        elapsed = _expect_408_then_close(conn, started)
    assert sent > 5
    assert HEAD_TIMEOUT * 0.9 <= elapsed < last_byte + HEAD_TIMEOUT * 0.9


def test_head_arriving_in_time_is_served_even_when_slow() -> None:
    with serve(ok_app, timeout_request_head=HEAD_TIMEOUT) as server, server.raw() as conn:
        data = request("GET", "/")
        for i in range(0, len(data), 8):
            conn.send(data[i:i + 8])
            time.sleep(0.02)
        assert conn.read_response().status == 200


def test_slow_app_is_not_cut_off_by_the_head_timeout() -> None:
    async def slow(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(HEAD_TIMEOUT + 0.3)
        await respond(send, 200, b"late but fine")

    with serve(slow, timeout_request_head=HEAD_TIMEOUT) as server, server.raw() as conn:
        conn.send(request("GET", "/"))
        assert conn.read_response(timeout=3).body == b"late but fine"


def test_slow_body_upload_is_not_cut_off_by_the_head_timeout() -> None:
    with serve(ok_app, timeout_request_head=0.3) as server, server.raw() as conn:
        conn.send(request("POST", "/", [(b"content-length", b"6")]))
        for byte in b"abcdef":
            time.sleep(0.1)
            conn.send(bytes([byte]))
        assert conn.read_response().status == 200


def test_keep_alive_idle_connection_is_closed_without_a_response() -> None:
    with serve(ok_app, timeout_keep_alive=KEEP_ALIVE, timeout_request_head=5) as server, \
            server.raw() as conn:
        conn.send(request("GET", "/"))
        assert conn.read_response().status == 200
        idle_from = time.monotonic()
        assert conn.read_until_close(KEEP_ALIVE + 2) == b""
        idle = time.monotonic() - idle_from
        assert server.wait_for(lambda: server.connection_count() == 0, 2)
    assert KEEP_ALIVE * 0.9 <= idle < KEEP_ALIVE + 1.5


def test_keep_alive_timeout_restarts_after_each_request() -> None:
    with serve(ok_app, timeout_keep_alive=KEEP_ALIVE, timeout_request_head=5) as server, \
            server.raw() as conn:
        for _ in range(4):
            conn.send(request("GET", "/"))
            assert conn.read_response().status == 200
            time.sleep(KEEP_ALIVE * 0.6)  # each pause alone is under the timeout
        conn.send(request("GET", "/"))
        assert conn.read_response().status == 200


def test_started_head_after_keep_alive_falls_under_the_head_timeout() -> None:
    # Once the client starts its next head, the (longer) head deadline applies, and a head
    # that never completes still ends in 408.
    with serve(ok_app, timeout_keep_alive=0.2, timeout_request_head=HEAD_TIMEOUT) as server, \
            server.raw() as conn:
        conn.send(request("GET", "/"))
        assert conn.read_response().status == 200
        conn.send(b"GET /next HTTP/1.1\r\n")
        started = time.monotonic()
        elapsed = _expect_408_then_close(conn, started)
    assert elapsed >= 0.2


def test_zero_keep_alive_closes_right_after_the_response() -> None:
    with serve(ok_app, timeout_keep_alive=0) as server, server.raw() as conn:
        conn.send(request("GET", "/"))
        assert conn.read_response().status == 200
        assert conn.is_closed(1)
