"""The `lenient_lf` option: bare LF accepted as a line terminator in the request line and header
section only (RFC 9112 §2.2 MAY), never in chunked framing, and never a licence for bare CR.
"""

from __future__ import annotations

import pytest
from http11_driver import feed, rejects

from moreweb.http11 import Data, EndOfMessage, Limits, Request

LENIENT = Limits(lenient_lf=True)


def crlf(data: bytes) -> bytes:
    return data.replace(b"\n", b"\r\n")


@pytest.mark.parametrize("head", [
    b"GET /a HTTP/1.1\nHost: x\nX-A: 1\n\n",
    b"GET /a HTTP/1.1\r\nHost: x\nX-A: 1\r\n\n",
    b"GET /a HTTP/1.1\nHost: x\r\nX-A: 1\n\r\n",
])
def test_bare_lf_head_is_accepted_and_equals_crlf_head(head: bytes) -> None:
    expected = Request(b"GET", b"/a", b"1.1", [(b"host", b"x"), (b"x-a", b"1")])
    out = feed(head, LENIENT)
    assert out.error is None and out.requests == [expected]
    assert feed(crlf(head.replace(b"\r\n", b"\n"))).requests == [expected]  # strict, CRLF


def test_strict_mode_rejects_the_same_heads() -> None:
    assert rejects(b"GET /a HTTP/1.1\nHost: x\n\n").status_code == 400
    assert rejects(b"GET /a HTTP/1.1\r\nHost: x\n\r\n").status_code == 400


def test_leading_bare_lf_lines_are_skipped() -> None:
    out = feed(b"\n\r\n\nGET / HTTP/1.0\n\n", LENIENT)
    assert out.error is None and len(out.requests) == 1


def test_pipelined_lf_requests() -> None:
    out = feed(b"GET /1 HTTP/1.1\nHost: x\n\nGET /2 HTTP/1.1\nHost: x\n\n", LENIENT)
    assert [r.target for r in out.requests] == [b"/1", b"/2"]


def test_content_length_body_after_lf_head_is_untouched() -> None:
    out = feed(b"POST / HTTP/1.1\nHost: x\nContent-Length: 6\n\na\nb\r\nc", LENIENT)
    assert out.error is None and out.events[1] == Data(b"a\nb\r\nc")


@pytest.mark.parametrize("head", [
    b"GET / HTTP/1.1\rHost: x\n\n",
    b"GET / HTTP/1.1\nHost: x\rX-A: 1\n\n",
    b"GET / HTTP/1.1\nHost: x\r\r\n\n",
    b"GET / HTTP/1.1\nX-A: a\rb\nHost: x\n\n",
])
def test_bare_cr_is_still_rejected(head: bytes) -> None:
    # RFC 9112 §2.2: leniency about LF never extends to CR.
    assert rejects(head, LENIENT).status_code == 400


@pytest.mark.parametrize("body", [
    b"3\nabc\r\n0\r\n\r\n", b"3\r\nabc\n0\r\n\r\n", b"3\r\nabc\r\n0\n\n", b"3\r\nabc\r\n0\r\n\n",
    b"3\r\nabc\r\n0\r\nX-T: v\n\r\n",
])
def test_chunked_framing_stays_strict(body: bytes) -> None:
    head = b"POST / HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n\n"
    assert rejects(head + body, LENIENT).status_code == 400


def test_chunked_body_after_lf_head_with_crlf_framing() -> None:
    head = b"POST / HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n\n"
    out = feed(head + b"3\r\nabc\r\n0\r\nX-T: v\r\n\r\n", LENIENT)
    assert out.error is None
    assert out.events[1:3] == [Data(b"abc"), EndOfMessage([(b"x-t", b"v")])]


def test_other_rules_still_apply_in_lenient_mode() -> None:
    assert rejects(b"GET / HTTP/1.1\nHost : x\n\n", LENIENT).status_code == 400
    assert rejects(b"GET / HTTP/1.1\nHost: x\n folded\n\n", LENIENT).status_code == 400
    assert rejects(b"GET / HTTP/1.1\n\n", LENIENT).status_code == 400
    assert rejects(b"GET / HTTP/3.0\nHost: x\n\n", LENIENT).status_code == 505


def test_lenient_head_size_limit_counts_the_raw_bytes() -> None:
    limits = Limits(max_head_size=100, lenient_lf=True)
    head = b"GET / HTTP/1.1\nHost: x\nX-Pad: " + b"p" * 60 + b"\n\n"
    assert len(head) <= 100 and feed(head, limits).error is None
    assert rejects(head.replace(b"p" * 60, b"p" * 90), limits).status_code == 431
