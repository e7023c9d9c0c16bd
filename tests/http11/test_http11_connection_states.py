"""The connection's life: states of both sides, keep-alive, pipelining, 100-continue, protocol
switches and closing (RFC 9112 §9, RFC 9110 §7.6.1, §7.8, §9.3.6, §10.1.1).
"""

from __future__ import annotations

import pytest
from http11_driver import GET, feed

from moreweb.http11 import (
    CLOSED,
    DONE,
    ERROR,
    IDLE,
    MIGHT_SWITCH_PROTOCOL,
    MUST_CLOSE,
    NEED_DATA,
    PAUSED,
    SEND_BODY,
    SEND_RESPONSE,
    SWITCHED_PROTOCOL,
    Connection,
    ConnectionClosed,
    Data,
    EndOfMessage,
    InformationalResponse,
    LocalProtocolError,
    RemoteProtocolError,
    Request,
    Response,
)
from moreweb.http11.states import CLIENT, EVENT_TRIGGERED, SERVER


def states(conn: Connection) -> tuple[object, object]:
    return conn.their_state, conn.our_state


def received(data: bytes) -> Connection:
    conn = Connection()
    conn.receive_data(data)
    return conn


def head_of(response_bytes: bytes) -> bytes:
    return response_bytes.split(b"\r\n\r\n", 1)[0].lower()


# -- the transition table (RFC 9112 §9) ---------------------------------------------------------

def test_table_covers_every_state_of_both_roles() -> None:
    for role in (CLIENT, SERVER):
        for state in (IDLE, SEND_BODY, DONE, MUST_CLOSE, CLOSED, SWITCHED_PROTOCOL, ERROR):
            assert state in EVENT_TRIGGERED[role]
    # Terminal states accept no event at all: nothing can leave ERROR or SWITCHED_PROTOCOL.
    assert EVENT_TRIGGERED[CLIENT][ERROR] == {} and EVENT_TRIGGERED[SERVER][ERROR] == {}
    assert EVENT_TRIGGERED[SERVER][SWITCHED_PROTOCOL] == {}


def test_one_full_cycle() -> None:
    conn = Connection()
    assert states(conn) == (IDLE, IDLE)
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n")
    assert type(conn.next_event()) is Request
    assert states(conn) == (SEND_BODY, SEND_RESPONSE)
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"hi")
    assert conn.next_event() == Data(b"hi")
    assert conn.next_event() == EndOfMessage([])
    assert states(conn) == (DONE, SEND_RESPONSE)
    conn.send(Response(200, [(b"content-length", b"2")]))
    assert states(conn) == (DONE, SEND_BODY)
    conn.send(Data(b"ok"))
    conn.send(EndOfMessage())
    assert states(conn) == (DONE, DONE)
    conn.start_next_cycle()
    assert states(conn) == (IDLE, IDLE)


def test_start_next_cycle_refused_unless_both_done() -> None:
    conn = received(GET)
    conn.next_event()
    with pytest.raises(LocalProtocolError):
        conn.start_next_cycle()  # client SEND_BODY, server SEND_RESPONSE
    conn.next_event()
    with pytest.raises(LocalProtocolError):
        conn.start_next_cycle()  # server has not answered


@pytest.mark.parametrize("event", [Data(b"x"), EndOfMessage(), InformationalResponse(100)])
def test_sending_out_of_order_is_a_local_error_and_poisons_our_side(event: object) -> None:
    conn = Connection()
    with pytest.raises(LocalProtocolError):
        conn.send(event)  # type: ignore[arg-type]
    assert conn.our_state is ERROR


def test_two_responses_to_one_request_is_refused() -> None:
    conn = received(GET)
    conn.next_event(), conn.next_event()
    conn.send_response(Response(200))
    with pytest.raises(LocalProtocolError):
        conn.send_response(Response(200))
    assert conn.our_state is ERROR


def test_cannot_send_request_event() -> None:
    with pytest.raises(LocalProtocolError):
        Connection().send(Request(b"GET", b"/", b"1.1", []))  # type: ignore[arg-type]


# -- keep-alive (RFC 9112 §9.3) -------------------------------------------------------------

def test_http11_is_persistent_by_default() -> None:
    conn = received(GET)
    conn.next_event(), conn.next_event()
    out = conn.send_response(Response(200))
    assert conn.keep_alive and states(conn) == (DONE, DONE)
    assert b"connection:" not in head_of(out)


@pytest.mark.parametrize("value", [b"close", b"Close", b"keep-alive, close", b"foo,CLOSE"])
def test_http11_connection_close(value: bytes) -> None:
    conn = received(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: " + value + b"\r\n\r\n")
    conn.next_event(), conn.next_event()
    assert not conn.keep_alive
    assert conn.their_state is MUST_CLOSE
    out = conn.send_response(Response(200))
    assert b"connection: close" in head_of(out)
    assert states(conn) == (MUST_CLOSE, MUST_CLOSE)
    with pytest.raises(LocalProtocolError):
        conn.start_next_cycle()


def test_http10_closes_by_default() -> None:
    # RFC 9112 §9.3: HTTP/1.0 persistence only with "Connection: keep-alive".
    conn = received(b"GET / HTTP/1.0\r\n\r\n")
    conn.next_event(), conn.next_event()
    assert not conn.keep_alive
    out = conn.send_response(Response(200), b"x")
    assert b"connection: close" in head_of(out)
    assert conn.our_state is MUST_CLOSE


@pytest.mark.parametrize("value", [b"keep-alive", b"Keep-Alive", b"foo, keep-alive"])
def test_http10_keep_alive(value: bytes) -> None:
    conn = received(b"GET / HTTP/1.0\r\nConnection: " + value + b"\r\n\r\n")
    conn.next_event(), conn.next_event()
    out = conn.send_response(Response(200), b"x")
    assert conn.keep_alive and states(conn) == (DONE, DONE)
    assert b"connection: keep-alive" in head_of(out)
    assert conn.their_http_version == b"1.0"


def test_http10_keep_alive_and_close_means_close() -> None:
    conn = received(b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n")
    conn.next_event(), conn.next_event()
    assert not conn.keep_alive


def test_application_connection_close_ends_keep_alive() -> None:
    conn = received(GET)
    conn.next_event(), conn.next_event()
    out = conn.send_response(Response(200, [(b"Connection", b"close")]))
    assert not conn.keep_alive and conn.our_state is MUST_CLOSE
    assert head_of(out).count(b"connection:") == 1


# -- pipelining (RFC 9112 §9.3.2) ------------------------------------------------------------

def test_pipelined_request_waits_until_the_cycle_ends() -> None:
    second = b"GET /two HTTP/1.1\r\nHost: a\r\n\r\n"
    conn = received(GET + second)
    assert type(conn.next_event()) is Request
    assert conn.next_event() == EndOfMessage([])
    assert conn.next_event() is PAUSED
    assert conn.buffered == len(second)
    conn.receive_data(b"GET /three HTTP/1.1\r\n")  # more bytes do not unpause
    assert conn.next_event() is PAUSED
    conn.send_response(Response(200))
    assert conn.next_event() is PAUSED  # still PAUSED until start_next_cycle
    conn.start_next_cycle()
    req = conn.next_event()
    assert type(req) is Request and req.target == b"/two"


def test_many_pipelined_requests_are_answered_in_order() -> None:
    data = b"".join(b"GET /%d HTTP/1.1\r\nHost: a\r\n\r\n" % i for i in range(20))
    out = feed(data)
    assert [r.target for r in out.requests] == [b"/%d" % i for i in range(20)]
    assert out.events[-1] == ConnectionClosed()


def test_no_request_after_connection_close_request_is_parsed() -> None:
    data = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" + GET
    out = feed(data, close=False)
    assert len(out.requests) == 1
    assert out.conn is not None and out.conn.next_event() is PAUSED


# -- Expect: 100-continue (RFC 9110 §10.1.1) ----------------------------------------------------

EXPECT = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"


def test_expect_100_continue_is_detected() -> None:
    conn = received(EXPECT)
    conn.next_event()
    assert conn.they_are_waiting_for_100_continue
    assert conn.next_event() is NEED_DATA
    out = conn.send(InformationalResponse(100))
    assert out == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert not conn.they_are_waiting_for_100_continue
    assert conn.our_state is SEND_RESPONSE
    conn.receive_data(b"abc")
    assert conn.next_event() == Data(b"abc")


def test_expect_is_case_insensitive() -> None:
    conn = received(EXPECT.replace(b"100-continue", b"100-Continue"))
    conn.next_event()
    assert conn.they_are_waiting_for_100_continue


def test_body_bytes_end_the_wait() -> None:
    conn = received(EXPECT + b"a")
    conn.next_event()
    conn.next_event()
    assert not conn.they_are_waiting_for_100_continue


def test_final_response_without_100_is_allowed() -> None:
    conn = received(EXPECT)
    conn.next_event()
    conn.send_response(Response(417))
    assert conn.our_state is DONE


@pytest.mark.parametrize("head", [
    b"GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n",  # no body to wait for
    b"POST / HTTP/1.0\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",  # RFC 9110 §10.1.1
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: something\r\n\r\n",
])
def test_no_wait_when_not_applicable(head: bytes) -> None:
    conn = received(head)
    conn.next_event()
    assert not conn.they_are_waiting_for_100_continue


# -- Upgrade (RFC 9110 §7.8) and CONNECT (RFC 9110 §9.3.6) ---------------------------------------

UPGRADE = (b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
           b"Connection: keep-alive, Upgrade\r\n\r\n")


def test_upgrade_accepted_hands_over_unread_bytes() -> None:
    conn = received(UPGRADE + b"\x81\x05hello")
    conn.next_event(), conn.next_event()
    assert conn.their_state is MIGHT_SWITCH_PROTOCOL
    assert conn.next_event() is PAUSED
    out = conn.send(InformationalResponse(101, [(b"upgrade", b"websocket"),
                                                (b"connection", b"Upgrade")]))
    assert out.startswith(b"HTTP/1.1 101 ")
    assert states(conn) == (SWITCHED_PROTOCOL, SWITCHED_PROTOCOL)
    assert conn.trailing_data == (b"\x81\x05hello", False)
    assert conn.next_event() is PAUSED  # the engine never parses the other protocol's bytes


def test_upgrade_declined_continues_as_http() -> None:
    conn = received(UPGRADE + GET)
    conn.next_event(), conn.next_event()
    conn.send_response(Response(200), b"no")
    assert states(conn) == (DONE, DONE)
    conn.start_next_cycle()
    assert type(conn.next_event()) is Request


def test_trailing_data_includes_peer_close() -> None:
    conn = received(UPGRADE + b"xyz")
    conn.receive_data(b"")
    conn.next_event(), conn.next_event()
    conn.send(InformationalResponse(101, [(b"upgrade", b"websocket")]))
    assert conn.trailing_data == (b"xyz", True)


@pytest.mark.parametrize("head", [
    b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n",  # no "Connection: upgrade"
    b"GET / HTTP/1.0\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",  # not in 1.0
    GET,
])
def test_101_without_an_upgrade_proposal_is_refused(head: bytes) -> None:
    conn = received(head)
    conn.next_event(), conn.next_event()
    assert conn.their_state is not MIGHT_SWITCH_PROTOCOL
    with pytest.raises(LocalProtocolError):
        conn.send(InformationalResponse(101))


CONNECT = b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"


def test_connect_2xx_switches_and_hands_over_unread_bytes() -> None:
    conn = received(CONNECT + b"\x16\x03\x01")
    assert type(conn.next_event()) is Request
    assert conn.next_event() == EndOfMessage([])
    assert conn.their_state is MIGHT_SWITCH_PROTOCOL
    out = conn.send(Response(200))
    # RFC 9110 §9.3.6: a 2xx to CONNECT has no content, so no framing fields.
    assert out == b"HTTP/1.1 200 OK\r\n\r\n"
    assert states(conn) == (SWITCHED_PROTOCOL, SWITCHED_PROTOCOL)
    assert conn.trailing_data == (b"\x16\x03\x01", False)


def test_connect_refused_continues_as_http() -> None:
    conn = received(CONNECT + GET)
    conn.next_event(), conn.next_event()
    out = conn.send_response(Response(407), b"auth")
    assert b"content-length: 4" in head_of(out)
    assert states(conn) == (DONE, DONE)
    conn.start_next_cycle()
    assert type(conn.next_event()) is Request


# -- closing ----------------------------------------------------------------------------------

def test_peer_close_while_idle_is_connection_closed() -> None:
    conn = Connection()
    conn.receive_data(b"")
    assert conn.next_event() == ConnectionClosed()
    assert conn.their_state is CLOSED
    assert conn.next_event() == ConnectionClosed()


def test_peer_close_after_leading_empty_lines_is_connection_closed() -> None:
    conn = received(b"\r\n\r\n")
    conn.receive_data(b"")
    assert conn.next_event() == ConnectionClosed()


def test_peer_close_mid_head_is_an_error() -> None:
    conn = received(b"GET / HTTP/1.1\r\nHost")
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"")
    with pytest.raises(RemoteProtocolError):
        conn.next_event()
    assert conn.their_state is ERROR


def test_peer_close_after_last_request_of_must_close_connection() -> None:
    conn = received(b"GET / HTTP/1.0\r\n\r\n")
    conn.receive_data(b"")
    conn.next_event(), conn.next_event()
    assert conn.next_event() == ConnectionClosed()
    assert conn.their_state is CLOSED


def test_peer_close_during_keep_alive_cycle_is_seen_after_the_cycle() -> None:
    # The response still goes out; the close shows up as the next cycle's first event.
    conn = received(GET)
    conn.receive_data(b"")
    conn.next_event(), conn.next_event()
    conn.send_response(Response(200))
    conn.start_next_cycle()
    assert conn.next_event() == ConnectionClosed()


def test_data_after_close_is_a_caller_bug() -> None:
    conn = Connection()
    conn.receive_data(b"")
    with pytest.raises(RuntimeError):
        conn.receive_data(b"GET")


def test_server_may_close_after_done() -> None:
    conn = received(GET)
    conn.next_event(), conn.next_event()
    conn.send_response(Response(200))
    conn.send(ConnectionClosed())
    assert conn.our_state is CLOSED


# -- errors: answer and close, never resynchronise ----------------------------------------------

def test_after_a_bad_head_the_error_response_closes() -> None:
    conn = received(b"GET / HTTP/1.1\r\n\r\n")  # no Host
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    assert info.value.status_code == 400 and conn.their_state is ERROR
    out = conn.send_response(Response(info.value.status_code), b"bad request")
    assert b"connection: close" in head_of(out) and not conn.keep_alive
    assert conn.our_state is MUST_CLOSE
    with pytest.raises(RemoteProtocolError):
        conn.next_event()  # the peer stays in ERROR: no new request is ever read


def test_error_mid_body_response_closes() -> None:
    conn = received(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
    assert type(conn.next_event()) is Request
    with pytest.raises(RemoteProtocolError):
        conn.next_event()
    out = conn.send_response(Response(400))
    assert b"connection: close" in head_of(out) and conn.our_state is MUST_CLOSE


def test_408_before_any_request_closes() -> None:
    conn = Connection()
    out = conn.send_response(Response(408))
    assert out.startswith(b"HTTP/1.1 408 ")
    assert b"connection: close" in head_of(out)
    assert not conn.keep_alive and conn.our_state is MUST_CLOSE


def test_400_for_junk_before_head_end_closes() -> None:
    conn = received(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03")  # a TLS ClientHello
    assert conn.next_event() is NEED_DATA  # no line yet: nothing to judge
    conn.receive_data(b"")
    with pytest.raises(RemoteProtocolError):
        conn.next_event()
    out = conn.send_response(Response(400))
    assert b"connection: close" in head_of(out)


@pytest.mark.parametrize(("head", "answer"), [
    (b"POST /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
     b"Content-Length: 5\r\n\r\nhello\x81\x00", InformationalResponse(101)),
    (b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\nContent-Length: 5\r\n\r\nhello\x16\x03",
     Response(200)),
])
def test_switch_before_the_request_has_ended_is_refused(head: bytes, answer: object) -> None:
    # RFC 9110 §7.8 / §9.3.6: the switch happens after the request message; accepting it
    # while body bytes are unread would hand those bytes to the new protocol.
    conn = received(head)
    assert type(conn.next_event()) is Request
    assert conn.their_state is SEND_BODY
    with pytest.raises(LocalProtocolError):
        conn.send(answer)  # type: ignore[arg-type]
    assert conn.our_state is ERROR and conn.their_state is not SWITCHED_PROTOCOL


def test_switch_after_reading_the_body_hands_over_only_what_follows() -> None:
    conn = received(b"POST /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
                    b"Connection: upgrade\r\nContent-Length: 5\r\n\r\nhello\x81\x00")
    conn.next_event()
    assert conn.next_event() == Data(b"hello")
    assert conn.next_event() == EndOfMessage([])
    conn.send(InformationalResponse(101))
    assert conn.trailing_data == (b"\x81\x00", False)
