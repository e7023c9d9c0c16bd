"""How a request body is delimited (RFC 9112 §6, §7.1): Content-Length, chunked, or nothing.

Framing is where request smuggling lives: whenever two parsers could disagree on where a body
ends, the engine must refuse the message rather than pick an interpretation.
"""

from __future__ import annotations

import pytest
from http11_driver import GET, feed, one_request, rejects

from moreweb.http11 import (
    ERROR,
    Connection,
    ConnectionClosed,
    Data,
    EndOfMessage,
    RemoteProtocolError,
    Request,
)

POST = b"POST /p HTTP/1.1\r\nHost: a\r\n"


def post(*fields: bytes, body: bytes = b"") -> bytes:
    return POST + b"".join(f + b"\r\n" for f in fields) + b"\r\n" + body


def body_of(data: bytes) -> tuple[bytes, EndOfMessage]:
    """The whole body and the end-of-message event of the first request in `data`."""
    out = feed(data)
    if out.error is not None:
        raise AssertionError(f"rejected: {out.error.status_code} {out.error.reason}")
    events = out.events
    assert type(events[0]) is Request
    i = 1
    body = b""
    if type(events[i]) is Data:
        body = events[i].data  # type: ignore[union-attr]
        i += 1
    eom = events[i]
    assert type(eom) is EndOfMessage
    return body, eom


# -- Content-Length (RFC 9112 §6.2, RFC 9110 §8.6) --------------------------------------------

def test_content_length_body() -> None:
    assert body_of(post(b"Content-Length: 5", body=b"hello")) == (b"hello", EndOfMessage([]))


def test_content_length_zero_and_absent_mean_no_body() -> None:
    # RFC 9112 §6.3 rule 7: a request without CL or TE has a zero-length body.
    assert body_of(post(b"Content-Length: 0")) == (b"", EndOfMessage([]))
    assert body_of(post()) == (b"", EndOfMessage([]))


def test_request_without_length_never_reads_until_close() -> None:
    # RFC 9112 §6.3: requests are never close-delimited; the extra bytes are a (bad) next
    # request, not a body.
    out = feed(post(body=b"stray body bytes"))
    assert out.events[:2] == [out.requests[0], EndOfMessage([])]
    assert out.error is not None and out.error.status_code == 400


def test_content_length_does_not_read_past_its_body() -> None:
    out = feed(post(b"Content-Length: 3", body=b"abc") + GET)
    assert [type(e) for e in out.events] == [Request, Data, EndOfMessage, Request, EndOfMessage,
                                             ConnectionClosed]
    assert out.events[1] == Data(b"abc")


@pytest.mark.parametrize("value", [b"005", b"0000000000000000000000000000000000000005"])
def test_leading_zeros_are_accepted(value: bytes) -> None:
    # 1*DIGIT allows them; policy: accepted.
    assert body_of(post(b"Content-Length: " + value, body=b"hello"))[0] == b"hello"


@pytest.mark.parametrize("fields", [
    (b"Content-Length: 5, 5",),
    (b"Content-Length: 5,5",),
    (b"Content-Length: 5", b"Content-Length: 5"),
    (b"Content-Length: 5", b"Content-Length: 05"),
])
def test_identical_repeated_content_lengths_are_accepted(fields: tuple[bytes, ...]) -> None:
    # RFC 9110 §8.6: a list of identical values MAY be replaced by one value.
    assert body_of(post(*fields, body=b"hello"))[0] == b"hello"


@pytest.mark.parametrize("fields", [
    (b"Content-Length: 5, 6",),
    (b"Content-Length: 5", b"Content-Length: 6"),
    (b"Content-Length: 5", b"Content-Length: 0"),
])
def test_different_content_lengths_are_400(fields: tuple[bytes, ...]) -> None:
    # RFC 9112 §6.3 rule 5: differing values -> unrecoverable framing error, 400 and close.
    assert rejects(post(*fields, body=b"hello")).status_code == 400


@pytest.mark.parametrize("value", [
    b"+5", b"-5", b"0x5", b"5.0", b"5 5", b"five", b"5a", b"", b"1_0", b"\xd9\xa5", b"\xef\xbc\x95",
    b"5,", b",5", b"5,,5",
])
def test_content_length_that_is_not_1_digit_is_400(value: bytes) -> None:
    # RFC 9110 §8.6: Content-Length = 1*DIGIT (no sign, no hex, no spaces inside, ASCII only).
    if value in (b"5,", b",5", b"5,,5"):
        # Empty list elements are ignored (RFC 9110 §5.6.1), so these read as "5": accepted.
        assert body_of(post(b"Content-Length: " + value, body=b"hello"))[0] == b"hello"
        return
    assert rejects(post(b"Content-Length: " + value, body=b"hello")).status_code == 400


@pytest.mark.parametrize("digits", [19, 20, 40, 5000])
def test_content_length_overflow_is_400(digits: int) -> None:
    # Policy: more than 18 significant digits (past a signed 64-bit integer) -> 400.
    assert rejects(post(b"Content-Length: " + b"9" * digits)).status_code == 400


def test_eighteen_digits_is_a_length_not_an_error() -> None:
    out = feed(post(b"Content-Length: " + b"9" * 18, body=b"abc"), close=False)
    assert out.error is None and out.events[1] == Data(b"abc")


@pytest.mark.parametrize(("fields", "accepted"), [
    ((b"Content-Length: 5", b"Content-Length: " + b"0" * 5000 + b"5"), True),
    ((b"Content-Length: " + b"0" * 5000 + b"5",), True),
    ((b"Content-Length: 5", b"Content-Length: " + b"9" * 5000), False),
    ((b"Content-Length: 5, " + b"1" * 5000,), False),
])
def test_huge_content_length_strings_are_judged_not_crashed_on(
        fields: tuple[bytes, ...], accepted: bool) -> None:
    # Python refuses int() on strings of more than 4300 digits; that must never escape as a
    # ValueError. Leading zeros do not count against the 18-digit bound (policy).
    out = feed(post(*fields, body=b"hello"))
    if accepted:
        assert out.error is None and out.events[1] == Data(b"hello")
    else:
        assert out.error is not None and out.error.status_code == 400


def test_body_cut_short_by_close_is_an_error() -> None:
    err = rejects(post(b"Content-Length: 10", body=b"short"))
    assert err.status_code == 400


# -- Transfer-Encoding (RFC 9112 §6.1, §6.3) ----------------------------------------------------

def test_chunked_body() -> None:
    data = post(b"Transfer-Encoding: chunked", body=b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    assert body_of(data) == (b"hello world", EndOfMessage([]))


@pytest.mark.parametrize("value", [b"Chunked", b"CHUNKED", b"chunked ", b" chunked"])
def test_transfer_coding_names_are_case_insensitive(value: bytes) -> None:
    # RFC 9112 §7: transfer-coding names are case-insensitive.
    data = post(b"Transfer-Encoding: " + value, body=b"1\r\nx\r\n0\r\n\r\n")
    assert body_of(data)[0] == b"x"


@pytest.mark.parametrize("fields", [
    (b"Transfer-Encoding: chunked", b"Content-Length: 5"),
    (b"Content-Length: 5", b"Transfer-Encoding: chunked"),
    (b"Content-Length: 0", b"Transfer-Encoding: chunked"),
])
def test_content_length_with_transfer_encoding_is_400(fields: tuple[bytes, ...]) -> None:
    # RFC 9112 §6.1: a server MAY reject a request with both, and MUST close after it; the
    # issue's policy is to reject (CL.TE / TE.CL smuggling).
    data = post(*fields, body=b"0\r\n\r\n")
    out = feed(data)
    assert out.error is not None and out.error.status_code == 400 and out.requests == []


@pytest.mark.parametrize("value", [b"chunked, gzip", b"chunked, identity", b"gzip", b"identity",
                                   b"chunked;q=1", b""])
def test_chunked_not_final_is_400(value: bytes) -> None:
    # RFC 9112 §6.3 rule 4: TE present and chunked not the final coding -> 400 and close.
    assert rejects(post(b"Transfer-Encoding: " + value, body=b"0\r\n\r\n")).status_code == 400


@pytest.mark.parametrize("value", [b"gzip, chunked", b"deflate, chunked", b"x-unknown, chunked"])
def test_unsupported_coding_before_chunked_is_501(value: bytes) -> None:
    # RFC 9112 §6.1: a transfer coding the server does not understand -> 501.
    assert rejects(post(b"Transfer-Encoding: " + value, body=b"0\r\n\r\n")).status_code == 501


def test_unsupported_coding_in_separate_field_line_is_501() -> None:
    data = post(b"Transfer-Encoding: gzip", b"Transfer-Encoding: chunked", body=b"0\r\n\r\n")
    assert rejects(data).status_code == 501


@pytest.mark.parametrize("fields", [
    (b"Transfer-Encoding: chunked, chunked",),
    (b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked"),
])
def test_chunked_twice_is_400(fields: tuple[bytes, ...]) -> None:
    # RFC 9112 §7: a sender MUST NOT apply chunked more than once.
    assert rejects(post(*fields, body=b"0\r\n\r\n")).status_code == 400


def test_transfer_encoding_in_http10_is_400() -> None:
    # RFC 9112 §6.1: TE in an HTTP/1.0 message is faulty framing; policy: reject.
    data = b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    assert rejects(data).status_code == 400


# -- chunked coding (RFC 9112 §7.1) -------------------------------------------------------------

def chunked(body: bytes) -> bytes:
    return post(b"Transfer-Encoding: chunked", body=body)


@pytest.mark.parametrize("size", [b"a", b"A", b"00a", b"0000000000000000000a"])
def test_chunk_size_is_hex(size: bytes) -> None:
    assert body_of(chunked(size + b"\r\n" + b"x" * 10 + b"\r\n0\r\n\r\n"))[0] == b"x" * 10


@pytest.mark.parametrize("ext", [
    b";name", b";name=value", b";a=1;b=2", b' ; name = "quoted \\" value"', b";n=\"\"",
    b"\t;\tn\t=\tv", b";n=\"caf\xc3\xa9\"",
])
def test_chunk_extensions_are_accepted_and_ignored(ext: bytes) -> None:
    # RFC 9112 §7.1.1: chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )
    assert body_of(chunked(b"3" + ext + b"\r\nabc\r\n0" + ext + b"\r\n\r\n"))[0] == b"abc"


@pytest.mark.parametrize("size", [b"0x3", b"+3", b"-3", b"3_0", b" 3", b"", b"g", b"3.0",
                                  b"\xd9\xa3", b"3 ", b"3\t"])
def test_chunk_size_that_is_not_1_hexdig_is_400(size: bytes) -> None:
    assert rejects(chunked(size + b"\r\nabc\r\n0\r\n\r\n")).status_code == 400


def test_chunk_size_overflow_is_400() -> None:
    assert rejects(chunked(b"1" + b"0" * 16 + b"\r\nabc\r\n0\r\n\r\n")).status_code == 400
    assert rejects(chunked(b"f" * 5000 + b"\r\nabc\r\n0\r\n\r\n")).status_code == 400


@pytest.mark.parametrize("ext", [
    b";", b";=v", b";n=", b";n=a b", b";n=\"unterminated", b";n=\"a\x00\"", b";n=\"a\x7f\"",
    b";n=v;", b"junk", b";n=\"a\"b", b";(n)", b";n=\x01",
])
def test_bad_chunk_extension_is_400(ext: bytes) -> None:
    assert rejects(chunked(b"3" + ext + b"\r\nabc\r\n0\r\n\r\n")).status_code == 400


@pytest.mark.parametrize("after", [b"XX", b"\n0", b"\r0", b" \r\n", b"ab\r\n"])
def test_chunk_data_not_followed_by_crlf_is_400(after: bytes) -> None:
    assert rejects(chunked(b"3\r\nabc" + after + b"0\r\n\r\n")).status_code == 400


def test_chunk_data_crlf_failure_detected_one_byte_early() -> None:
    # The byte after chunk data can already be judged alone.
    conn = Connection()
    conn.receive_data(chunked(b"3\r\nabcX"))
    assert type(conn.next_event()) is Request
    with pytest.raises(RemoteProtocolError, match="CRLF"):
        for _ in range(3):  # at most: Data, then the error (bounded: never hangs)
            conn.next_event()


@pytest.mark.parametrize("body", [
    b"3\nabc\r\n0\r\n\r\n", b"3\r\nabc\n0\r\n\r\n", b"3\r\nabc\r\n0\n\r\n",
    b"3\r\nabc\r\n0\r\n\n", b"3;n=v\nabc\r\n0\r\n\r\n",
])
def test_bare_lf_in_chunked_framing_is_400(body: bytes) -> None:
    assert rejects(chunked(body)).status_code == 400


def test_trailers_are_delivered_with_end_of_message() -> None:
    # RFC 9112 §7.1.2: trailer-section = *( field-line CRLF )
    data = chunked(b"3\r\nabc\r\n0\r\nX-Checksum: 123\r\nX-Other:  v \r\n\r\n")
    assert body_of(data) == (b"abc", EndOfMessage([(b"x-checksum", b"123"), (b"x-other", b"v")]))


@pytest.mark.parametrize("trailer", [b"X-A : v", b" X-A: v", b"X-A: v\x00", b"no colon",
                                     b"X A: v", b"X-A: a\rb"])
def test_invalid_trailer_field_is_400(trailer: bytes) -> None:
    assert rejects(chunked(b"0\r\n" + trailer + b"\r\n\r\n")).status_code == 400


def test_obs_fold_in_trailers_is_400() -> None:
    assert rejects(chunked(b"0\r\nX-A: v\r\n folded\r\n\r\n")).status_code == 400


def test_body_after_chunked_is_the_next_request() -> None:
    out = feed(chunked(b"3\r\nabc\r\n0\r\n\r\n") + GET)
    assert [type(e) for e in out.events] == [Request, Data, EndOfMessage, Request, EndOfMessage,
                                             ConnectionClosed]


def test_close_in_the_middle_of_chunked_body_is_an_error() -> None:
    assert rejects(chunked(b"5\r\nab")).status_code == 400
    assert rejects(chunked(b"5\r\nabcde\r\n")).status_code == 400
    assert rejects(chunked(b"0\r\nX-A: v\r\n")).status_code == 400


def test_error_in_body_leaves_error_state() -> None:
    out = feed(chunked(b"zz\r\n") + GET)
    assert out.conn is not None and out.conn.their_state is ERROR
    assert len(out.requests) == 1  # the head was fine; nothing after the bad chunk is read


def test_smuggling_attempt_cl_te_is_refused_before_any_event() -> None:
    # The classic CL.TE payload: a front end using CL forwards it all, a back end using TE
    # would see a second request "GET /admin". We must produce no Request at all.
    payload = (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 35\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n")
    out = feed(payload)
    assert out.requests == [] and out.error is not None and out.error.status_code == 400


def test_one_request_helper_sees_body_framing() -> None:
    req = one_request(post(b"Content-Length: 2", body=b"hi"))
    assert req.headers[-1] == (b"content-length", b"2")
