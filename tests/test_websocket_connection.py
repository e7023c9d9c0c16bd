"""The connection: messages, fragmentation, UTF-8, size limits, closing (RFC 6455 5-7).

Each test feeds the bytes a client puts on the wire and checks the events and the bytes the
server answers with. Client frames are built by hand (see `frame`) so invalid ones can be made.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moreweb.websocket import (
    BytesMessage,
    CloseReceived,
    Connection,
    ConnectionFailed,
    ConnectionState,
    Event,
    LocalProtocolError,
    Ping,
    Pong,
    TextMessage,
)
from moreweb.websocket.frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    encode_frame,
)

KEY = b"\x01\x02\x03\x04"


def frame(opcode: int, payload: bytes = b"", *, fin: bool = True, key: bytes = KEY) -> bytes:
    """A masked client frame."""
    return encode_frame(opcode, payload, fin=fin, mask_key=key)


def close_frame(code: int | None = None, reason: bytes = b"") -> bytes:
    payload = b"" if code is None else struct.pack("!H", code) + reason
    return frame(OP_CLOSE, payload)


def feed(conn: Connection, data: bytes) -> list[Event]:
    conn.receive_data(data)
    return list(conn.events())


def server_close_frame(code: int, reason: bytes = b"") -> bytes:
    return encode_frame(OP_CLOSE, struct.pack("!H", code) + reason)


def failed_with(data: bytes, code: int, max_size: int = 1 << 24) -> Connection:
    conn = Connection(max_size=max_size)
    events = feed(conn, data)
    assert len(events) >= 1
    assert type(events[-1]) is ConnectionFailed, events
    assert events[-1].code == code
    # The failure close frame goes out, then nothing more is accepted (RFC 6455 7.1.7).
    assert conn.data_to_send()[:4] == b"\x88" + bytes([2 + len(events[-1].reason)]) + struct.pack(
        "!H", code
    )
    assert conn.state is ConnectionState.CLOSED
    assert feed(conn, frame(OP_TEXT, b"ignored")) == []
    return conn


# -- messages -----------------------------------------------------------------------------------


def test_whole_messages() -> None:
    conn = Connection()
    assert feed(conn, frame(OP_TEXT, "héllo".encode()) + frame(OP_BINARY, b"\x00\xff")) == [
        TextMessage("héllo"),
        BytesMessage(b"\x00\xff"),
    ]
    assert conn.data_to_send() == b""


def test_empty_messages() -> None:
    conn = Connection()
    assert feed(conn, frame(OP_TEXT) + frame(OP_BINARY)) == [TextMessage(""), BytesMessage(b"")]


def test_fragmented_message_with_interleaved_control_frames() -> None:
    # RFC 6455 5.4: control frames MAY be injected in the middle of a fragmented message.
    wire = (
        frame(OP_TEXT, b"Hel", fin=False)
        + frame(OP_PING, b"p1")
        + frame(OP_CONTINUATION, b"l", fin=False)
        + frame(OP_PONG, b"p2")
        + frame(OP_CONTINUATION, b"o")
    )
    assert feed(Connection(), wire) == [Ping(b"p1"), Pong(b"p2"), TextMessage("Hello")]


def test_fragmented_binary_message() -> None:
    wire = frame(OP_BINARY, b"a", fin=False) + frame(OP_CONTINUATION, b"", fin=False)
    wire += frame(OP_CONTINUATION, b"bc")
    assert feed(Connection(), wire) == [BytesMessage(b"abc")]


def test_utf8_sequence_split_across_fragments() -> None:
    # RFC 6455 5.6: only the whole message has to be valid UTF-8, not each fragment.
    encoded = "€𝄞".encode()
    wire = b"".join(
        frame(OP_TEXT if i == 0 else OP_CONTINUATION, encoded[i : i + 1], fin=i == len(encoded) - 1)
        for i in range(len(encoded))
    )
    assert feed(Connection(), wire) == [TextMessage("€𝄞")]


def test_large_message_with_64_bit_length() -> None:
    payload = bytes(range(256)) * 300  # 76800 bytes: 64-bit length field
    assert feed(Connection(), frame(OP_BINARY, payload)) == [BytesMessage(payload)]


def test_events_come_one_at_a_time() -> None:
    conn = Connection()
    conn.receive_data(frame(OP_TEXT, b"a") + frame(OP_TEXT, b"b")[:3])
    assert conn.next_event() == TextMessage("a")
    assert conn.next_event() is None
    conn.receive_data(frame(OP_TEXT, b"b")[3:])
    assert conn.next_event() == TextMessage("b")
    assert conn.next_event() is None


# -- sequencing errors ---------------------------------------------------------------------------


def test_continuation_without_message_fails_1002() -> None:
    # RFC 6455 5.4: a continuation frame needs a started message.
    failed_with(frame(OP_CONTINUATION, b"x"), 1002)


def test_new_data_frame_inside_fragmented_message_fails_1002() -> None:
    # RFC 6455 5.4: fragments of one message MUST NOT be interleaved with another message.
    failed_with(frame(OP_TEXT, b"a", fin=False) + frame(OP_BINARY, b"b"), 1002)
    failed_with(frame(OP_TEXT, b"a", fin=False) + frame(OP_TEXT, b"b", fin=False), 1002)


def test_unmasked_frame_fails_the_connection_1002() -> None:
    # RFC 6455 5.1.
    failed_with(encode_frame(OP_TEXT, b"hi"), 1002)


def test_reserved_opcode_fails_the_connection_1002() -> None:
    # RFC 6455 5.2.
    failed_with(frame(0x3, b""), 1002)


def test_rsv1_without_deflate_fails_1002() -> None:
    # RFC 6455 5.2: no extension negotiated, so RSV1 must be clear.
    failed_with(encode_frame(OP_TEXT, b"x", rsv1=True, mask_key=KEY), 1002)


def test_events_before_a_violation_are_still_delivered() -> None:
    conn = Connection()
    events = feed(conn, frame(OP_TEXT, b"ok") + encode_frame(OP_TEXT, b"bad"))
    assert events[0] == TextMessage("ok")
    assert type(events[1]) is ConnectionFailed


# -- UTF-8 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"ok\x80"],
)
def test_invalid_utf8_text_fails_1007(payload: bytes) -> None:
    # RFC 6455 8.1: invalid UTF-8 in a text message fails the connection with 1007.
    failed_with(frame(OP_TEXT, payload), 1007)


def test_invalid_utf8_fails_before_the_message_ends() -> None:
    # RFC 6455 8.1 (validated incrementally): the bad first fragment fails at once.
    conn = Connection()
    events = feed(conn, frame(OP_TEXT, b"ok \xed\xa0\x80", fin=False))
    assert [type(e) for e in events] == [ConnectionFailed]
    assert events[0].code == 1007


def test_truncated_utf8_at_message_end_fails_1007() -> None:
    failed_with(frame(OP_TEXT, b"a\xe2\x82", fin=False) + frame(OP_CONTINUATION, b""), 1007)


def test_binary_messages_are_not_utf8_checked() -> None:
    assert feed(Connection(), frame(OP_BINARY, b"\xff")) == [BytesMessage(b"\xff")]


# -- size limit ---------------------------------------------------------------------------------


def test_message_at_max_size_is_accepted() -> None:
    assert feed(Connection(max_size=10), frame(OP_BINARY, b"x" * 10)) == [BytesMessage(b"x" * 10)]


def test_single_frame_over_max_size_fails_1009() -> None:
    # RFC 6455 10.4: an endpoint may refuse messages too big for it, with 1009 (7.4.1).
    failed_with(frame(OP_BINARY, b"x" * 11), 1009, max_size=10)


def test_fragments_adding_up_over_max_size_fail_1009() -> None:
    wire = frame(OP_TEXT, b"x" * 6, fin=False) + frame(OP_CONTINUATION, b"x" * 5)
    failed_with(wire, 1009, max_size=10)


def test_oversized_frame_fails_from_its_header_alone() -> None:
    # Only the header has arrived: the announced 1 MB is refused without waiting for it.
    header = frame(OP_BINARY, bytes(1_000_000))[:14]
    failed_with(header, 1009, max_size=1000)


def test_max_size_none_means_unbounded() -> None:
    assert feed(Connection(max_size=None), frame(OP_BINARY, bytes(70000))) == [
        BytesMessage(bytes(70000))
    ]


# -- closing ------------------------------------------------------------------------------------


def test_peer_close_is_reported_and_echoed() -> None:
    # RFC 6455 5.5.1: an endpoint answers a close with a close, typically echoing the code.
    conn = Connection()
    assert feed(conn, close_frame(1001, "bye ✓".encode())) == [CloseReceived(1001, "bye ✓")]
    assert conn.data_to_send() == server_close_frame(1001)
    assert conn.data_to_send() == b""
    assert conn.state is ConnectionState.CLOSED


def test_empty_close_is_reported_as_1005_and_echoed_empty() -> None:
    # RFC 6455 7.1.5: no status code in the close frame is reported as 1005.
    conn = Connection()
    assert feed(conn, close_frame()) == [CloseReceived(1005, "")]
    assert conn.data_to_send() == b"\x88\x00"


def test_nothing_after_a_close_frame_is_processed() -> None:
    # RFC 6455 5.5.1: data after the close frame is discarded.
    conn = Connection()
    events = feed(conn, close_frame(1000) + frame(OP_TEXT, b"late") + frame(OP_PING))
    assert events == [CloseReceived(1000, "")]


def test_close_payload_of_one_byte_fails_1002() -> None:
    # RFC 6455 5.5.1: a close body starts with a 2-byte code.
    failed_with(frame(OP_CLOSE, b"\x03"), 1002)


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000])
def test_invalid_close_codes_fail_1002(code: int) -> None:
    # RFC 6455 7.4.1-7.4.2: reserved or undefined codes may not be sent.
    failed_with(close_frame(code), 1002)


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1011, 1012, 1014, 3000, 4999])
def test_valid_close_codes_are_accepted(code: int) -> None:
    assert feed(Connection(), close_frame(code)) == [CloseReceived(code, "")]


def test_invalid_utf8_close_reason_fails_1007() -> None:
    # RFC 6455 5.5.1: the close reason is UTF-8.
    failed_with(close_frame(1000, b"\xff"), 1007)


def test_server_initiated_close_handshake() -> None:
    conn = Connection()
    assert conn.send_close(1000, "done") == server_close_frame(1000, b"done")
    assert conn.state is ConnectionState.CLOSING
    # The peer may still send data before its close (RFC 6455 5.5.1): it is delivered.
    assert feed(conn, frame(OP_TEXT, b"last")) == [TextMessage("last")]
    assert feed(conn, close_frame(1000)) == [CloseReceived(1000, "")]
    assert conn.data_to_send() == b""  # no second close frame
    assert conn.state is ConnectionState.CLOSED


def test_close_is_idempotent() -> None:
    conn = Connection()
    assert conn.send_close() == server_close_frame(1000)
    assert conn.send_close(1001) == b""
    feed(conn, close_frame(1000))
    assert conn.send_close() == b""


def test_close_without_code() -> None:
    assert Connection().send_close(None) == b"\x88\x00"


@pytest.mark.parametrize("code", [999, 1004, 1005, 1006, 1015, 2000, 5000])
def test_sending_a_reserved_close_code_is_refused(code: int) -> None:
    conn = Connection()
    with pytest.raises(LocalProtocolError):
        conn.send_close(code)
    assert conn.state is ConnectionState.OPEN


def test_sending_a_too_long_close_reason_is_refused() -> None:
    conn = Connection()
    with pytest.raises(LocalProtocolError):
        conn.send_close(1000, "é" * 62)  # 124 bytes of UTF-8
    assert conn.send_close(1000, "x" * 123)[:2] == b"\x88\x7d"


def test_no_data_frames_after_close() -> None:
    # RFC 6455 5.5.1: after sending a close, no more data frames.
    conn = Connection()
    conn.send_close()
    with pytest.raises(LocalProtocolError):
        conn.send_text("late")
    with pytest.raises(LocalProtocolError):
        conn.send_bytes(b"late")
    # Control frames are still allowed while waiting for the peer's close.
    assert conn.send_ping(b"x") == b"\x89\x01x"


def test_no_frames_at_all_once_closed() -> None:
    conn = Connection()
    feed(conn, close_frame(1000))
    with pytest.raises(LocalProtocolError):
        conn.send_ping()
    with pytest.raises(LocalProtocolError):
        conn.send_pong()
    assert conn.reply_to_ping(Ping(b"x")) == b""


def test_violation_after_our_close_sends_no_second_close() -> None:
    conn = Connection()
    conn.send_close()
    events = feed(conn, frame(OP_CONTINUATION, b"x"))
    assert type(events[0]) is ConnectionFailed
    assert conn.data_to_send() == b""
    assert conn.state is ConnectionState.CLOSED


# -- ping / pong and sending ---------------------------------------------------------------------


def test_ping_is_surfaced_and_answered_with_one_call() -> None:
    # RFC 6455 5.5.2-5.5.3: a pong carries the ping's application data.
    conn = Connection()
    events = feed(conn, frame(OP_PING, b"hb"))
    assert events == [Ping(b"hb")]
    assert conn.data_to_send() == b""  # never answered behind the caller's back
    assert conn.reply_to_ping(events[0]) == b"\x8a\x02hb"
    assert conn.send_pong(b"hb") == b"\x8a\x02hb"


def test_control_payload_over_125_bytes_is_refused_when_sending() -> None:
    with pytest.raises(LocalProtocolError):
        Connection().send_ping(b"x" * 126)


def test_server_frames_are_unmasked() -> None:
    # RFC 6455 5.1: a server MUST NOT mask.
    conn = Connection()
    assert conn.send_text("hé") == b"\x81\x03h\xc3\xa9"
    assert conn.send_bytes(b"\x00") == b"\x82\x01\x00"
    assert conn.send_bytes(bytes(300))[:4] == b"\x82\x7e\x01\x2c"


def test_client_role_round_trip() -> None:
    client = Connection(client=True)
    server = Connection()
    wire = client.send_text("hi") + client.send_bytes(b"\x01" * 70000) + client.send_ping(b"?")
    assert wire[1] & 0x80  # masked
    assert feed(server, wire) == [TextMessage("hi"), BytesMessage(b"\x01" * 70000), Ping(b"?")]
    answer = server.send_text("yo") + server.reply_to_ping(Ping(b"?")) + server.send_close(1000)
    assert feed(client, answer) == [TextMessage("yo"), Pong(b"?"), CloseReceived(1000, "")]
    assert feed(server, client.data_to_send()) == [CloseReceived(1000, "")]
    assert server.state is client.state is ConnectionState.CLOSED


# -- byte-boundary independence ------------------------------------------------------------------


@st.composite
def client_streams(draw: st.DrawFn) -> tuple[bytes, list[Event]]:
    """A valid client byte stream (fragments, interleaved control frames) and its events."""
    wire = b""
    events: list[Event] = []
    keys = st.binary(min_size=4, max_size=4)
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["text", "bytes", "ping", "pong"]))
        if kind in ("ping", "pong"):
            payload = draw(st.binary(max_size=20))
            wire += frame(OP_PING if kind == "ping" else OP_PONG, payload, key=draw(keys))
            events.append(Ping(payload) if kind == "ping" else Pong(payload))
            continue
        if kind == "text":
            text = draw(st.text(max_size=40))
            data = text.encode()
        else:
            data = draw(st.binary(max_size=150))
        cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=3)))
        pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        for i, piece in enumerate(pieces):
            opcode = (OP_TEXT if kind == "text" else OP_BINARY) if i == 0 else OP_CONTINUATION
            wire += frame(opcode, piece, fin=i == len(pieces) - 1, key=draw(keys))
            if i < len(pieces) - 1 and draw(st.booleans()):
                wire += frame(OP_PING, b"mid", key=draw(keys))
                events.append(Ping(b"mid"))
        events.append(TextMessage(text) if kind == "text" else BytesMessage(data))
    wire += close_frame(1000, b"end")
    events.append(CloseReceived(1000, "end"))
    return wire, events


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(client_streams())
def test_any_split_point_gives_the_same_events(stream: tuple[bytes, list[Event]]) -> None:
    wire, expected = stream
    assert feed(Connection(), wire) == expected
    for cut in range(len(wire) + 1):
        conn = Connection()
        events = feed(conn, wire[:cut])
        events += feed(conn, wire[cut:])
        assert events == expected, cut


@settings(max_examples=40, deadline=None)
@given(client_streams(), st.lists(st.integers(1, 64), min_size=1, max_size=30))
def test_any_chunking_gives_the_same_events(
    stream: tuple[bytes, list[Event]], sizes: list[int]
) -> None:
    wire, expected = stream
    conn = Connection()
    events: list[Event] = []
    pos = 0
    i = 0
    while pos < len(wire):
        size = sizes[i % len(sizes)]
        conn.receive_data(wire[pos : pos + size])
        # Sometimes read events, sometimes let several chunks pile up first.
        if i % 3 != 1:
            events.extend(conn.events())
        pos += size
        i += 1
    events.extend(conn.events())
    assert events == expected
