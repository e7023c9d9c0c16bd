"""Limits: every input is bounded (RFC 9110 §15.5.15 414, RFC 6585 §5 431, RFC 9112 §7.1).

The engine buffers only what it cannot yet judge; each test here feeds an input that a naive
parser would buffer forever and checks that it is refused once it passes the bound, with the
status the limit names, and that nothing accumulates in the meantime.
"""

from __future__ import annotations

import time

import pytest
from http11_driver import feed, rejects

from moreweb.http11 import (
    NEED_DATA,
    Connection,
    Data,
    EndOfMessage,
    Limits,
    RemoteProtocolError,
    Request,
)


def head_of_size(size: int, line: bytes = b"GET / HTTP/1.1\r\n") -> bytes:
    """A valid head of exactly `size` bytes, counting its final empty line."""
    fixed = line + b"Host: a\r\nX-Pad: \r\n\r\n"
    assert size >= len(fixed)
    return fixed.replace(b"X-Pad: ", b"X-Pad: " + b"p" * (size - len(fixed)))


def test_defaults() -> None:
    limits = Limits()
    assert limits.max_head_size == 64 * 1024
    assert limits.max_header_count == 100
    assert not limits.lenient_lf


# -- head size: 431, or 414 for the request line alone ------------------------------------------

@pytest.mark.parametrize("limits", [Limits(max_head_size=200), Limits()])
def test_head_at_the_limit_is_accepted_one_byte_more_is_431(limits: Limits) -> None:
    size = limits.max_head_size
    assert len(head_of_size(size)) == size
    assert feed(head_of_size(size), limits).error is None
    err = rejects(head_of_size(size + 1), limits)
    assert err.status_code == 431


def test_head_too_large_is_refused_before_it_ends() -> None:
    # Streamed in small pieces with no end in sight: refused as soon as it passes the limit.
    limits = Limits(max_head_size=1000)
    conn = Connection(limits)
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\n")
    fed = 0
    with pytest.raises(RemoteProtocolError) as info:
        for _ in range(1000):
            conn.receive_data(b"X-Filler: " + b"f" * 90 + b"\r\n")
            fed += 102
            assert conn.next_event() is NEED_DATA
    assert info.value.status_code == 431
    assert fed <= 1000 + 102


@pytest.mark.parametrize("limits", [Limits(max_head_size=300), Limits()])
def test_request_line_over_the_limit_is_414(limits: Limits) -> None:
    target = b"/" + b"a" * limits.max_head_size
    assert rejects(b"GET " + target + b" HTTP/1.1\r\nHost: a\r\n\r\n", limits).status_code == 414


def test_request_line_over_the_limit_is_414_before_it_ends() -> None:
    limits = Limits(max_head_size=500)
    conn = Connection(limits)
    conn.receive_data(b"GET /")
    with pytest.raises(RemoteProtocolError) as info:
        for _ in range(100):
            conn.receive_data(b"a" * 100)
            assert conn.next_event() is NEED_DATA
    assert info.value.status_code == 414


def test_long_request_line_within_the_limit_is_fine() -> None:
    limits = Limits(max_head_size=300)
    target = b"/" + b"a" * 200
    out = feed(b"GET " + target + b" HTTP/1.1\r\nHost: a\r\n\r\n", limits)
    assert out.error is None and out.requests[0].target == target


# -- number of fields: 431 ----------------------------------------------------------------------

def fields_head(count: int) -> bytes:
    return (b"GET / HTTP/1.1\r\nHost: a\r\n"
            + b"".join(b"X-%d: v\r\n" % i for i in range(count - 1)) + b"\r\n")


def test_default_header_count_limit() -> None:
    assert len(feed(fields_head(100)).requests[0].headers) == 100
    assert rejects(fields_head(101)).status_code == 431


def test_configured_header_count_limit() -> None:
    limits = Limits(max_header_count=5)
    assert feed(fields_head(5), limits).error is None
    assert rejects(fields_head(6), limits).status_code == 431


# -- chunked framing bounds -------------------------------------------------------------------

CHUNKED = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"


def test_chunk_size_line_with_long_extension_is_refused() -> None:
    limits = Limits(max_chunk_line=64)
    ok = b"3;" + b"e" * 50 + b"\r\nabc\r\n0\r\n\r\n"
    assert feed(CHUNKED + ok, limits).error is None
    long = b"3;" + b"e" * 100 + b"\r\nabc\r\n0\r\n\r\n"
    assert rejects(CHUNKED + long, limits).status_code == 400


def test_endless_chunk_size_line_is_refused_before_it_ends() -> None:
    conn = Connection(Limits(max_chunk_line=256))
    conn.receive_data(CHUNKED + b"1;ext=")
    assert type(conn.next_event()) is Request
    with pytest.raises(RemoteProtocolError):
        for _ in range(100):
            conn.receive_data(b"v" * 50)
            assert conn.next_event() is NEED_DATA
    assert conn.buffered <= 256 + 50


def test_endless_zero_padded_chunk_size_is_refused() -> None:
    conn = Connection()
    conn.receive_data(CHUNKED)
    conn.next_event()
    with pytest.raises(RemoteProtocolError):
        for _ in range(100):
            conn.receive_data(b"0" * 1000)
            assert conn.next_event() is NEED_DATA


def test_trailer_section_size_is_bounded() -> None:
    limits = Limits(max_head_size=500)
    big = b"0\r\nX-T: " + b"t" * 600 + b"\r\n\r\n"
    assert rejects(CHUNKED + big, limits).status_code == 431
    conn = Connection(limits)
    conn.receive_data(CHUNKED + b"0\r\nX-T: ")
    conn.next_event()
    with pytest.raises(RemoteProtocolError) as info:
        for _ in range(100):
            conn.receive_data(b"t" * 100)
            assert conn.next_event() is NEED_DATA
    assert info.value.status_code == 431


def test_trailer_count_is_bounded() -> None:
    limits = Limits(max_header_count=3)
    ok = b"0\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(3)) + b"\r\n"
    assert feed(CHUNKED + ok, limits).events[-2] == EndOfMessage(
        [(b"x-0", b"v"), (b"x-1", b"v"), (b"x-2", b"v")])
    bad = b"0\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(4)) + b"\r\n"
    assert rejects(CHUNKED + bad, limits).status_code == 431


# -- nothing accumulates ------------------------------------------------------------------------

def test_leading_empty_lines_do_not_accumulate() -> None:
    conn = Connection()
    for _ in range(1000):
        conn.receive_data(b"\r\n" * 50)
        assert conn.next_event() is NEED_DATA
    assert conn.buffered == 0
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert type(conn.next_event()) is Request


def test_body_bytes_do_not_accumulate() -> None:
    conn = Connection()
    conn.receive_data(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n")
    conn.next_event()
    total = 0
    for _ in range(100):
        conn.receive_data(b"x" * 10000)
        event = conn.next_event()
        assert type(event) is Data
        total += len(event.data)  # type: ignore[union-attr]
        assert conn.buffered == 0
    assert total == 1000000 and conn.next_event() == EndOfMessage([])


def test_chunked_body_bytes_do_not_accumulate() -> None:
    conn = Connection()
    conn.receive_data(CHUNKED)
    conn.next_event()
    conn.receive_data(b"%x\r\n" % 1000000)
    for _ in range(100):
        conn.receive_data(b"y" * 10000)
        assert type(conn.next_event()) is Data
        assert conn.buffered == 0


def test_garbage_without_newline_is_bounded() -> None:
    conn = Connection(Limits(max_head_size=4096))
    with pytest.raises(RemoteProtocolError) as info:
        for _ in range(100):
            conn.receive_data(b"\xff" * 1000)
            assert conn.next_event() is NEED_DATA
    assert info.value.status_code in (400, 414)
    assert conn.buffered <= 4096 + 1000


# -- CPU: a head trickled in byte by byte costs linear time -------------------------------------
# Before incremental scanning, each received byte re-examined the whole pending head: 60 KB sent
# one byte at a time cost ~3 s of CPU in strict mode and ~13 s with lenient_lf, within the
# 10 s head timeout. Now each byte is examined once (~0.1 s here). The bound is generous for slow
# CI machines but far below the quadratic cost.

def trickle(conn: Connection, data: bytes) -> float:
    start = time.perf_counter()
    for i in range(len(data)):
        conn.receive_data(data[i:i + 1])
        assert conn.next_event() is NEED_DATA
    return time.perf_counter() - start


SLOW_FIELDS = b"".join(b"X-%05d: %s\r\n" % (i, b"v" * 40) for i in range(1200))  # ~58 KB


@pytest.mark.parametrize("lenient_lf", [False, True])
def test_trickled_head_costs_linear_time(lenient_lf: bool) -> None:
    conn = Connection(Limits(lenient_lf=lenient_lf))
    assert trickle(conn, b"GET / HTTP/1.1\r\nHost: a\r\n" + SLOW_FIELDS) < 2.0


def test_trickled_long_request_line_costs_linear_time() -> None:
    conn = Connection()
    head = b"GET /" + b"a" * 30000 + b" HTTP/1.1\r\nHost: a\r\n" + SLOW_FIELDS[:28000]
    assert trickle(conn, head) < 2.0


def test_trickled_trailers_cost_linear_time() -> None:
    conn = Connection()
    conn.receive_data(CHUNKED + b"0\r\n")
    assert type(conn.next_event()) is Request
    assert trickle(conn, SLOW_FIELDS) < 2.0
