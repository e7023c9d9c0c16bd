"""The sending side: response heads and body framing (RFC 9112 §4, §6, §7; RFC 9110 §6.4.1,
§8.6, §15), and refusing anything that could split a response.
"""

from __future__ import annotations

import pytest

from moreweb.http11 import (
    DONE,
    ERROR,
    MUST_CLOSE,
    Connection,
    Data,
    EndOfMessage,
    InformationalResponse,
    LocalProtocolError,
    Response,
)


def ready(head: bytes = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n") -> Connection:
    """A connection whose request has been fully read, so a response may be sent."""
    conn = Connection()
    conn.receive_data(head)
    conn.next_event()
    conn.next_event()
    return conn


HTTP10 = b"GET / HTTP/1.0\r\n\r\n"
HEAD = b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n"


def split(out: bytes) -> tuple[bytes, list[bytes], bytes]:
    head, _, body = out.partition(b"\r\n\r\n")
    status, *fields = head.split(b"\r\n")
    return status, fields, body


# -- status line (RFC 9112 §4) -----------------------------------------------------------------

def test_status_line_uses_standard_reason_phrase() -> None:
    assert ready().send_response(Response(404)).startswith(b"HTTP/1.1 404 Not Found\r\n")


def test_custom_reason_and_unknown_status() -> None:
    assert ready().send_response(Response(200, [], b"Fine")).startswith(b"HTTP/1.1 200 Fine\r\n")
    # reason-phrase may be empty, but the SP before it is required.
    assert ready().send_response(Response(599)).startswith(b"HTTP/1.1 599 \r\n")


@pytest.mark.parametrize("status", [0, 99, 1000, -200])
def test_status_code_must_be_three_digits(status: int) -> None:
    conn = ready()
    with pytest.raises(LocalProtocolError):
        conn.send_response(Response(status))
    assert conn.our_state is ERROR


@pytest.mark.parametrize("status", [100, 101, 103, 199])
def test_final_response_with_1xx_status_is_refused(status: int) -> None:
    # RFC 9110 §15.2: 1xx are interim responses; they go through InformationalResponse.
    with pytest.raises(LocalProtocolError):
        ready().send(Response(status))


def test_informational_response_must_be_1xx() -> None:
    with pytest.raises(LocalProtocolError):
        ready().send(InformationalResponse(200))


@pytest.mark.parametrize("reason", [b"OK\r\nX-Evil: 1", b"O\nK", b"O\rK", b"O\x00K"])
def test_reason_phrase_cannot_split_the_response(reason: bytes) -> None:
    with pytest.raises(LocalProtocolError):
        ready().send_response(Response(200, [], reason))


# -- no response splitting (RFC 9110 §5.5, RFC 9112 §5) -----------------------------------------

@pytest.mark.parametrize(("name", "value"), [
    (b"x-a", b"v\r\nSet-Cookie: evil=1"),
    (b"x-a", b"v\nSet-Cookie: evil=1"),
    (b"x-a", b"v\rSet-Cookie: evil=1"),
    (b"x-a", b"v\x00"),
    (b"x-a", b"\r\n"),
    (b"x-a\r\nSet-Cookie", b"evil=1"),   # the line break hidden in the name
    (b"x-a\nSet-Cookie", b"evil=1"),
    (b"x-a\r", b"v"),
    (b"x\x00a", b"v"),
    (b"x-a: v\r\nSet-Cookie", b"evil=1"),
    (b"x-a", b"v\r\nSet-Cookie\x00evil=1"),  # a NUL posing as the name/value separator
    (b"x-a\x00v\r\nSet-Cookie", b"evil=1"),
])
def test_cr_lf_nul_in_outgoing_fields_are_refused(name: bytes, value: bytes) -> None:
    conn = ready()
    with pytest.raises(LocalProtocolError):
        conn.send_response(Response(200, [(name, value)]))
    assert conn.our_state is ERROR


@pytest.mark.parametrize("name", [b"", b"x a", b"x:a", b"x-a: v", b"x(a)", b"caf\xc3\xa9", b"x\ta"])
def test_field_name_must_be_a_token(name: bytes) -> None:
    with pytest.raises(LocalProtocolError):
        ready().send_response(Response(200, [(name, b"v")]))


def test_fields_must_be_bytes() -> None:
    with pytest.raises(LocalProtocolError):
        ready().send_response(Response(200, [("x-a", "v")]))  # type: ignore[list-item]


def test_splitting_refused_in_informational_and_trailers() -> None:
    with pytest.raises(LocalProtocolError):
        ready(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\n"
              ).send(InformationalResponse(100, [(b"x", b"a\r\nb: c")]))
    conn = ready()
    conn.send(Response(200))
    with pytest.raises(LocalProtocolError):
        conn.send(EndOfMessage([(b"x-trailer", b"a\r\n\r\nHTTP/1.1 200 OK")]))


def test_valid_fields_are_sent_in_order_as_given() -> None:
    fields = [(b"Content-Type", b"text/plain"), (b"Set-Cookie", b"a=1"), (b"Set-Cookie", b"b=2"),
              (b"X-Empty", b""), (b"X-Obs", b"caf\xc3\xa9\tx")]
    _, lines, _ = split(ready().send_response(Response(200, fields), b"x"))
    assert lines[:5] == [b"Content-Type: text/plain", b"Set-Cookie: a=1", b"Set-Cookie: b=2",
                         b"X-Empty: ", b"X-Obs: caf\xc3\xa9\tx"]


def test_default_fields_go_into_every_head() -> None:
    conn = ready()
    conn.default_fields = b"server: moreweb\r\ndate: Thu, 01 Jan 2026 00:00:00 GMT\r\n"
    _, lines, _ = split(conn.send_response(Response(200)))
    assert lines[:2] == [b"server: moreweb", b"date: Thu, 01 Jan 2026 00:00:00 GMT"]


# -- framing chosen from what the application declared (RFC 9112 §6.3) ---------------------------

def test_content_length_given_by_the_application() -> None:
    conn = ready()
    head = conn.send(Response(200, [(b"content-length", b"5")]))
    assert b"transfer-encoding" not in head.lower()
    assert conn.send(Data(b"hel")) + conn.send(Data(b"lo")) == b"hello"
    assert conn.send(EndOfMessage()) == b""
    assert conn.our_state is DONE


def test_whole_body_without_content_length_gets_one() -> None:
    out = ready().send_response(Response(200), b"hello")
    assert out == b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"


def test_empty_whole_body_gets_content_length_zero() -> None:
    assert ready().send_response(Response(200)) == b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"


def test_whole_body_with_content_length_is_not_doubled() -> None:
    out = ready().send_response(Response(200, [(b"Content-Length", b"5")]), b"hello")
    assert out == b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"


def test_streamed_http11_without_length_is_chunked() -> None:
    conn = ready()
    head = conn.send(Response(200, [(b"content-type", b"text/plain")]))
    assert head == (b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n"
                    b"transfer-encoding: chunked\r\n\r\n")
    assert conn.send(Data(b"hello")) == b"5\r\nhello\r\n"
    assert conn.send(Data(b"")) == b""  # an empty chunk would end the body
    assert conn.send(Data(b"x" * 26)) == b"1a\r\n" + b"x" * 26 + b"\r\n"
    assert conn.send(EndOfMessage()) == b"0\r\n\r\n"
    assert conn.our_state is DONE and conn.keep_alive


def test_chunked_trailers_are_sent() -> None:
    conn = ready()
    conn.send(Response(200))
    conn.send(Data(b"a"))
    assert conn.send(EndOfMessage([(b"x-checksum", b"1")])) == b"0\r\nx-checksum: 1\r\n\r\n"


def test_application_chunked_with_content_length_drops_content_length() -> None:
    # RFC 9112 §6.2: a sender MUST NOT send Content-Length with Transfer-Encoding.
    conn = ready()
    head = conn.send(Response(200, [(b"Content-Length", b"5"), (b"Transfer-Encoding", b"chunked")]))
    assert b"content-length" not in head.lower()
    assert head.lower().count(b"transfer-encoding") == 1
    assert conn.send(Data(b"hello")) == b"5\r\nhello\r\n"


def test_application_transfer_coding_without_final_chunked_is_refused() -> None:
    # RFC 9112 §6.1: chunked must be the final coding unless the body is close-delimited; a
    # head claiming "gzip" alone while the bytes are chunked would be misread by the client.
    with pytest.raises(LocalProtocolError):
        ready().send(Response(200, [(b"Transfer-Encoding", b"gzip")]))


def test_streamed_http10_without_length_is_close_delimited() -> None:
    conn = ready(HTTP10)
    head = conn.send(Response(200))
    assert b"transfer-encoding" not in head.lower()
    assert b"connection: close" in head.lower()
    assert conn.send(Data(b"hello")) == b"hello"
    assert conn.send(EndOfMessage()) == b""
    assert not conn.keep_alive and conn.our_state is MUST_CLOSE


def test_http10_keep_alive_stream_without_length_still_closes() -> None:
    conn = ready(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    head = conn.send(Response(200))
    assert b"connection: close" in head.lower() and b"keep-alive" not in head.lower()
    conn.send(EndOfMessage())
    assert conn.our_state is MUST_CLOSE


def test_http10_never_gets_transfer_encoding() -> None:
    # RFC 9112 §6.1: no Transfer-Encoding in a response to an HTTP/1.0 request.
    conn = ready(HTTP10)
    head = conn.send(Response(200, [(b"Transfer-Encoding", b"chunked")]))
    assert b"transfer-encoding" not in head.lower()
    assert conn.send(Data(b"abc")) == b"abc"


def test_http10_whole_body_gets_content_length() -> None:
    out = ready(HTTP10).send_response(Response(200), b"abc")
    assert b"content-length: 3" in out.lower() and out.endswith(b"\r\n\r\nabc")


# -- responses without content (RFC 9110 §6.4.1) -----------------------------------------------

@pytest.mark.parametrize("status", [204, 304])
def test_204_and_304_carry_no_body(status: int) -> None:
    conn = ready()
    out = conn.send_response(Response(status), b"dropped")
    assert out.endswith(b"\r\n\r\n") and b"dropped" not in out
    assert b"transfer-encoding" not in out.lower()
    assert conn.our_state is DONE and conn.keep_alive


def test_204_drops_framing_fields() -> None:
    # RFC 9110 §8.6: no Content-Length in a 204; RFC 9112 §6.1: no Transfer-Encoding either.
    out = ready().send_response(Response(204, [(b"Content-Length", b"0"),
                                               (b"Transfer-Encoding", b"chunked")]))
    assert b"content-length" not in out.lower() and b"transfer-encoding" not in out.lower()


def test_304_keeps_the_representation_content_length() -> None:
    # RFC 9110 §8.6: a 304 may carry the Content-Length the 200 would have had.
    out = ready().send_response(Response(304, [(b"Content-Length", b"1234")]))
    assert out.endswith(b"Content-Length: 1234\r\n\r\n")


def test_head_response_keeps_headers_and_drops_body() -> None:
    conn = ready(HEAD)
    head = conn.send(Response(200, [(b"Content-Length", b"1234")]))
    assert b"Content-Length: 1234" in head
    assert conn.send(Data(b"x" * 1234)) == b""
    assert conn.send(EndOfMessage()) == b""
    assert conn.our_state is DONE and conn.keep_alive


def test_head_response_streamed_has_no_chunked_framing() -> None:
    conn = ready(HEAD)
    head = conn.send(Response(200))
    assert b"transfer-encoding" not in head.lower()
    assert conn.send(Data(b"abc")) == b"" and conn.send(EndOfMessage()) == b""


def test_head_whole_body_is_not_sent() -> None:
    out = ready(HEAD).send_response(Response(200), b"hello")
    assert not out.endswith(b"hello") and out.endswith(b"\r\n\r\n")


def test_informational_responses_have_no_body_and_no_framing() -> None:
    conn = ready(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\n")
    out = conn.send(InformationalResponse(103, [(b"link", b"</s.css>; rel=preload")]))
    assert out == b"HTTP/1.1 103 Early Hints\r\nlink: </s.css>; rel=preload\r\n\r\n"


# -- the application breaking its own Content-Length promise ------------------------------------

def test_more_bytes_than_content_length_is_an_error() -> None:
    conn = ready()
    conn.send(Response(200, [(b"content-length", b"3")]))
    with pytest.raises(LocalProtocolError):
        conn.send(Data(b"four"))
    assert conn.our_state is ERROR
    with pytest.raises(LocalProtocolError):
        conn.start_next_cycle()


def test_fewer_bytes_than_content_length_is_an_error() -> None:
    conn = ready()
    conn.send(Response(200, [(b"content-length", b"3")]))
    conn.send(Data(b"ab"))
    with pytest.raises(LocalProtocolError):
        conn.send(EndOfMessage())
    assert conn.our_state is ERROR


@pytest.mark.parametrize("body", [b"ab", b"abcd"])
def test_send_response_body_not_matching_content_length_is_an_error(body: bytes) -> None:
    conn = ready()
    with pytest.raises(LocalProtocolError):
        conn.send_response(Response(200, [(b"content-length", b"3")]), body)
    assert conn.our_state is ERROR


@pytest.mark.parametrize("value", [b"abc", b"-1", b"1.5", b"", b"3, 3", b"9" * 19, b"9" * 5000],
                         ids=["abc", "-1", "1.5", "empty", "list", "19-digits", "5000-digits"])
def test_invalid_application_content_length_is_refused(value: bytes) -> None:
    with pytest.raises(LocalProtocolError):
        ready().send(Response(200, [(b"content-length", value)]))


def test_conflicting_application_content_lengths_are_refused() -> None:
    with pytest.raises(LocalProtocolError):
        ready().send(Response(200, [(b"content-length", b"3"), (b"Content-Length", b"4")]))


def test_errors_on_our_side_carry_500() -> None:
    conn = ready()
    with pytest.raises(LocalProtocolError) as info:
        conn.send(Data(b"x"))
    assert info.value.status_code == 500 and info.value.reason


# -- frame_body: body bytes the caller writes itself (sendfile) ---------------------------------

def test_frame_body_content_length_accounts_and_adds_nothing() -> None:
    conn = ready()
    conn.send(Response(200, [(b"content-length", b"10")]))
    assert conn.frame_body(6) == (b"", b"")
    assert conn.frame_body(4) == (b"", b"")
    with pytest.raises(LocalProtocolError):
        conn.frame_body(1)  # past the promised length
    assert conn.our_state is ERROR


def test_frame_body_content_length_short_is_caught_at_the_end() -> None:
    conn = ready()
    conn.send(Response(200, [(b"content-length", b"10")]))
    conn.frame_body(9)
    with pytest.raises(LocalProtocolError):
        conn.send(EndOfMessage())


def test_frame_body_chunked_wraps_the_bytes_in_one_chunk() -> None:
    conn = ready()
    conn.send(Response(200))
    assert conn.frame_body(300) == (b"12c\r\n", b"\r\n")


def test_frame_body_of_zero_bytes_never_ends_a_chunked_body() -> None:
    # "0\r\n\r\n" is the last-chunk marker: a zero-length frame must produce no chunk at all.
    conn = ready()
    conn.send(Response(200))
    before, after = conn.frame_body(0) or (b"", b"")
    assert before + after == b""
    assert conn.send(Data(b"abc")) == b"3\r\nabc\r\n"


def test_frame_body_negative_count_is_refused() -> None:
    conn = ready()
    conn.send(Response(200, [(b"content-length", b"3")]))
    with pytest.raises(LocalProtocolError):
        conn.frame_body(-5)


def test_frame_body_without_body_is_none() -> None:
    conn = ready(HEAD)
    conn.send(Response(200, [(b"content-length", b"10")]))
    assert conn.frame_body(10) is None


def test_frame_body_close_delimited() -> None:
    conn = ready(HTTP10)
    conn.send(Response(200))
    assert conn.frame_body(10) == (b"", b"")


def test_frame_body_before_a_response_is_refused() -> None:
    with pytest.raises(LocalProtocolError):
        ready().frame_body(1)


@pytest.mark.parametrize("status", [100, 103])
def test_no_1xx_to_an_http10_client(status: int) -> None:
    # RFC 9110 §15.2: a server MUST NOT send a 1xx response to an HTTP/1.0 client.
    conn = ready(b"POST / HTTP/1.0\r\nContent-Length: 1\r\n\r\n")
    with pytest.raises(LocalProtocolError):
        conn.send(InformationalResponse(status))
