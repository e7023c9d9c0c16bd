"""permessage-deflate (RFC 7692): negotiation, round trips, size limits, interoperability."""

from __future__ import annotations

import os
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moreweb.websocket import (
    BytesMessage,
    CloseReceived,
    Connection,
    ConnectionFailed,
    DeflateOptions,
    Event,
    PerMessageDeflate,
    Ping,
    TextMessage,
    negotiate,
)
from moreweb.websocket.errors import ProtocolError
from moreweb.websocket.frames import OP_BINARY, OP_CONTINUATION, OP_PING, OP_TEXT, encode_frame

KEY = b"\x0a\x0b\x0c\x0d"


def offer(value: str, options: DeflateOptions | None = None) -> bytes | None:
    result = negotiate([value.encode()], options)
    return None if result is None else result[0]


def client_codec(response: bytes) -> PerMessageDeflate:
    """The client's side of a negotiated response: the directions swapped."""
    params: dict[str, str] = {}
    for param in response.decode().split("; ")[1:]:
        name, _, value = param.partition("=")
        params[name] = value
    return PerMessageDeflate(
        compress_bits=int(params.get("client_max_window_bits") or 15),
        decompress_bits=int(params.get("server_max_window_bits") or 15),
        compress_reset="client_no_context_takeover" in params,
        decompress_reset="server_no_context_takeover" in params,
    )


def pair(value: str, options: DeflateOptions | None = None) -> tuple[Connection, Connection]:
    negotiated = negotiate([value.encode()], options)
    assert negotiated is not None
    response, codec = negotiated
    return Connection(deflate=codec), Connection(deflate=client_codec(response), client=True)


def deliver(receiver: Connection, wire: bytes) -> list[Event]:
    receiver.receive_data(wire)
    return list(receiver.events())


# -- negotiation (RFC 7692 5, 7.1) --------------------------------------------------------------


def test_plain_offer_is_accepted() -> None:
    assert offer("permessage-deflate") == b"permessage-deflate"


def test_no_offer_or_other_extensions_only() -> None:
    assert negotiate([]) is None
    assert offer("x-webkit-deflate-frame") is None
    assert offer("foo; bar=1, permessage-deflate") == b"permessage-deflate"


def test_server_no_context_takeover_requested_by_client() -> None:
    # RFC 7692 7.1.1.1: accepting it means including it in the response.
    assert offer("permessage-deflate; server_no_context_takeover") == (
        b"permessage-deflate; server_no_context_takeover"
    )


def test_client_no_context_takeover_offered_is_acknowledged() -> None:
    # RFC 7692 7.1.1.2.
    assert offer("permessage-deflate; client_no_context_takeover") == (
        b"permessage-deflate; client_no_context_takeover"
    )


def test_server_options_add_no_context_takeover_unasked() -> None:
    options = DeflateOptions(server_no_context_takeover=True, client_no_context_takeover=True)
    assert offer("permessage-deflate", options) == (
        b"permessage-deflate; server_no_context_takeover; client_no_context_takeover"
    )


def test_server_max_window_bits_is_echoed_no_larger() -> None:
    # RFC 7692 7.1.2.1: accept with the same or a smaller value.
    assert offer("permessage-deflate; server_max_window_bits=10") == (
        b"permessage-deflate; server_max_window_bits=10"
    )
    options = DeflateOptions(server_max_window_bits=9)
    assert offer("permessage-deflate; server_max_window_bits=12", options) == (
        b"permessage-deflate; server_max_window_bits=9"
    )


def test_server_max_window_bits_8_is_declined() -> None:
    # zlib cannot produce raw deflate with a 256-byte window; the next offer is tried.
    assert offer("permessage-deflate; server_max_window_bits=8") is None
    assert offer("permessage-deflate; server_max_window_bits=8, permessage-deflate") == (
        b"permessage-deflate"
    )


def test_client_max_window_bits_without_value() -> None:
    # RFC 7692 7.1.2.2: the server may then pick the client's window.
    assert offer("permessage-deflate; client_max_window_bits") == b"permessage-deflate"
    options = DeflateOptions(client_max_window_bits=12)
    assert offer("permessage-deflate; client_max_window_bits", options) == (
        b"permessage-deflate; client_max_window_bits=12"
    )


def test_client_max_window_bits_with_value() -> None:
    assert offer("permessage-deflate; client_max_window_bits=11") == (
        b"permessage-deflate; client_max_window_bits=11"
    )
    options = DeflateOptions(client_max_window_bits=10)
    assert offer('permessage-deflate; client_max_window_bits="12"', options) == (
        b"permessage-deflate; client_max_window_bits=10"
    )


def test_client_max_window_bits_never_sent_unoffered() -> None:
    # RFC 7692 7.1.2.2: MUST NOT include it when the offer did not.
    options = DeflateOptions(client_max_window_bits=10)
    assert offer("permessage-deflate", options) == b"permessage-deflate"


@pytest.mark.parametrize(
    "bad",
    [
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=010",
        "permessage-deflate; client_max_window_bits=0",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover=x",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; unknown_param",
        "permessage-deflate; =",
    ],
)
def test_invalid_offers_are_declined(bad: str) -> None:
    # RFC 7692 7: invalid, duplicated or unknown parameters decline the offer.
    assert offer(bad) is None
    assert offer(bad + ", permessage-deflate; client_no_context_takeover") == (
        b"permessage-deflate; client_no_context_takeover"
    )


def test_offers_across_several_header_lines() -> None:
    result = negotiate([b"foo", b"permessage-deflate; server_max_window_bits=11"])
    assert result is not None
    assert result[0] == b"permessage-deflate; server_max_window_bits=11"


def test_options_are_validated() -> None:
    with pytest.raises(ValueError):
        DeflateOptions(server_max_window_bits=8)
    with pytest.raises(ValueError):
        DeflateOptions(client_max_window_bits=16)


# -- round trips --------------------------------------------------------------------------------

OFFERS = [
    "permessage-deflate",
    "permessage-deflate; server_no_context_takeover",
    "permessage-deflate; client_no_context_takeover",
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
    "permessage-deflate; server_max_window_bits=9",
    "permessage-deflate; server_max_window_bits=12; client_max_window_bits=9",
    "permessage-deflate; client_max_window_bits",
]


@pytest.mark.parametrize("value", OFFERS)
def test_round_trip_both_directions(value: str) -> None:
    server, client = pair(value)
    messages = ["hello " * 50, "", "héllo ✓", "hello " * 50]
    blob = os.urandom(3000) + bytes(3000)
    for text in messages:
        wire = client.send_text(text)
        assert wire[0] == 0xC1  # FIN + RSV1 + text (RFC 7692 6)
        assert deliver(server, wire) == [TextMessage(text)]
        assert deliver(client, server.send_text(text)) == [TextMessage(text)]
    assert deliver(server, client.send_bytes(blob)) == [BytesMessage(blob)]
    assert deliver(client, server.send_bytes(blob)) == [BytesMessage(blob)]


def test_context_takeover_shrinks_repeated_messages() -> None:
    # RFC 7692 7.2.3.2: with context takeover a repeat refers back to the previous message.
    server, _ = pair("permessage-deflate")
    first = server.send_text("the same sentence, again and again")
    second = server.send_text("the same sentence, again and again")
    assert len(second) < len(first)
    server, _ = pair("permessage-deflate; server_no_context_takeover")
    first = server.send_text("the same sentence, again and again")
    assert server.send_text("the same sentence, again and again") == first


def test_rfc_7692_example_hello() -> None:
    # RFC 7692 7.2.3.1: "Hello" compressed, one frame.
    server = Connection(deflate=PerMessageDeflate())
    wire = encode_frame(OP_TEXT, bytes.fromhex("f248cdc9c90700"), rsv1=True, mask_key=KEY)
    assert deliver(server, wire) == [TextMessage("Hello")]
    assert server.send_text("Hello") == bytes.fromhex("c107f248cdc9c90700")


def test_rfc_7692_example_fragmented_and_empty_block() -> None:
    # RFC 7692 7.2.3.1 (fragments) and 7.2.3.6 (an empty message is a single 00 byte).
    server = Connection(deflate=PerMessageDeflate())
    wire = encode_frame(OP_TEXT, bytes.fromhex("f248cd"), fin=False, rsv1=True, mask_key=KEY)
    wire += encode_frame(OP_CONTINUATION, bytes.fromhex("c9c90700"), mask_key=KEY)
    wire += encode_frame(OP_BINARY, b"\x00", rsv1=True, mask_key=KEY)
    assert deliver(server, wire) == [TextMessage("Hello"), BytesMessage(b"")]
    assert Connection(deflate=PerMessageDeflate()).send_bytes(b"") == b"\xc2\x01\x00"


def test_uncompressed_messages_are_allowed_when_negotiated() -> None:
    # RFC 7692 6: RSV1 clear means this message is not compressed.
    server = Connection(deflate=PerMessageDeflate())
    assert deliver(server, encode_frame(OP_TEXT, b"plain", mask_key=KEY)) == [TextMessage("plain")]


def test_min_size_sends_small_messages_uncompressed() -> None:
    server = Connection(deflate=PerMessageDeflate(min_size=10))
    assert server.send_text("short") == b"\x81\x05short"
    assert server.send_text("long enough text")[0] == 0xC1


def test_rsv1_on_continuation_fails_1002() -> None:
    # RFC 7692 6.1: only the first frame of a message may have RSV1.
    server = Connection(deflate=PerMessageDeflate())
    wire = encode_frame(OP_TEXT, b"\xf2\x48", fin=False, rsv1=True, mask_key=KEY)
    wire += encode_frame(OP_CONTINUATION, b"\xcd", rsv1=True, mask_key=KEY)
    assert deliver(server, wire) == [ConnectionFailed(1002, "RSV1 set on a continuation frame")]


def test_rsv1_on_control_frame_fails_1002() -> None:
    server = Connection(deflate=PerMessageDeflate())
    [event] = deliver(server, encode_frame(OP_PING, b"", rsv1=True, mask_key=KEY))
    assert type(event) is ConnectionFailed and event.code == 1002


def test_corrupt_compressed_data_fails_1007() -> None:
    server = Connection(deflate=PerMessageDeflate())
    [event] = deliver(server, encode_frame(OP_BINARY, b"\xff\xff\xff", rsv1=True, mask_key=KEY))
    assert type(event) is ConnectionFailed and event.code == 1007


def test_invalid_utf8_inside_compressed_text_fails_1007() -> None:
    compressed = PerMessageDeflate().compress(b"\xff\xfe")
    server = Connection(deflate=PerMessageDeflate())
    [event] = deliver(server, encode_frame(OP_TEXT, compressed, rsv1=True, mask_key=KEY))
    assert type(event) is ConnectionFailed and event.code == 1007


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.one_of(st.text(max_size=60), st.binary(max_size=60)), min_size=1, max_size=5),
    st.sampled_from(OFFERS),
)
def test_compressed_stream_split_anywhere_gives_the_same_messages(
    messages: list[str | bytes], value: str
) -> None:
    # Context takeover makes each message depend on the previous ones: a split must not matter.
    _, client = pair(value)
    wire = b"".join(
        client.send_text(m) + client.send_ping(b"k") if isinstance(m, str) else client.send_bytes(m)
        for m in messages
    )
    expected: list[Event] = []
    for m in messages:
        expected += [TextMessage(m), Ping(b"k")] if isinstance(m, str) else [BytesMessage(m)]
    for cut in range(len(wire) + 1):
        server, _ = pair(value)
        assert deliver(server, wire[:cut]) + deliver(server, wire[cut:]) == expected, cut


# -- size limits on decompressed data --------------------------------------------------------------


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """64 MiB of zeros deflated to about 64 KiB (ratio ~1000:1)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(1 << 20)
    data = b"".join(compressor.compress(chunk) for _ in range(64))
    data += compressor.flush(zlib.Z_SYNC_FLUSH)
    assert data.endswith(b"\x00\x00\xff\xff")
    return data[:-4]


def test_zip_bomb_fails_1009_without_inflating_it(bomb: bytes) -> None:
    # RFC 6455 10.4 with RFC 7692: the limit applies to the decompressed size.
    server = Connection(max_size=1 << 20, deflate=PerMessageDeflate())
    assert len(bomb) < 1 << 20  # the wire size alone passes the limit
    [event] = deliver(server, encode_frame(OP_BINARY, bomb, rsv1=True, mask_key=KEY))
    assert event == ConnectionFailed(1009, "message too big after decompression")
    assert server.data_to_send()[2:4] == b"\x03\xf1"


def test_decompress_never_returns_more_than_the_budget_plus_one(bomb: bytes) -> None:
    # The budget goes to zlib as max_length, so the failure is found after at most budget + 1
    # bytes of output; a recording decompressor shows nothing more was asked of zlib.
    calls: list[tuple[int, int]] = []

    class Recording:
        def __init__(self) -> None:
            self._inner = zlib.decompressobj(-15)
            self.eof = False
            self.unused_data = b""

        def decompress(self, data: bytes, max_length: int = 0) -> bytes:
            out = self._inner.decompress(data, max_length)
            calls.append((max_length, len(out)))
            return out

    codec = PerMessageDeflate()
    codec._decompressor = Recording()  # type: ignore[assignment]
    with pytest.raises(ProtocolError) as info:
        codec.decompress(bomb, True, 1000)
    assert info.value.code == 1009
    assert calls == [(1001, 1001)]


def test_fragmented_zip_bomb_fails_1009(bomb: bytes) -> None:
    server = Connection(max_size=1 << 20, deflate=PerMessageDeflate())
    third = len(bomb) // 3
    wire = encode_frame(OP_BINARY, bomb[:third], fin=False, rsv1=True, mask_key=KEY)
    wire += encode_frame(OP_CONTINUATION, bomb[third:], mask_key=KEY)
    [event] = deliver(server, wire)
    assert type(event) is ConnectionFailed and event.code == 1009


def test_decompressed_size_exactly_at_limit_is_accepted() -> None:
    client = Connection(deflate=PerMessageDeflate(), client=True)
    server = Connection(max_size=5000, deflate=PerMessageDeflate())
    assert deliver(server, client.send_bytes(bytes(5000))) == [BytesMessage(bytes(5000))]
    [event] = deliver(server, client.send_bytes(bytes(5001)))
    assert type(event) is ConnectionFailed and event.code == 1009


def test_compressed_wire_size_is_bounded_too() -> None:
    # Incompressible data: the announced frame length alone exceeds max_size plus slack.
    server = Connection(max_size=1000, deflate=PerMessageDeflate())
    header = encode_frame(OP_BINARY, bytes(5000), rsv1=True, mask_key=KEY)[:8]
    [event] = deliver(server, header)
    assert type(event) is ConnectionFailed and event.code == 1009


# -- interoperability with the websockets library ---------------------------------------------


def test_interop_with_websockets_client() -> None:
    websockets_client = pytest.importorskip("websockets.client")
    deflate_ext = pytest.importorskip("websockets.extensions.permessage_deflate")
    from websockets.uri import parse_uri

    from moreweb.websocket import accept, validate_request

    client = websockets_client.ClientProtocol(
        parse_uri("ws://localhost/"),
        extensions=[deflate_ext.ClientPerMessageDeflateFactory(client_max_window_bits=True)],
        subprotocols=["chat"],
    )
    client.send_request(client.connect())
    [request_bytes] = client.data_to_send()
    head, _, _ = request_bytes.partition(b"\r\n\r\n")
    request_line, *lines = head.split(b"\r\n")
    method, _, version = request_line.split(b" ")
    headers = [(k.strip().lower(), v.strip()) for k, _, v in (ln.partition(b":") for ln in lines)]

    request = validate_request(method, version.removeprefix(b"HTTP/"), headers)
    assert request.subprotocols == ["chat"]
    options = DeflateOptions(client_max_window_bits=12)
    response_headers, codec = accept(request, "chat", deflate=options)
    assert codec is not None
    response = b"HTTP/1.1 101 Switching Protocols\r\n"
    response += b"".join(k + b": " + v + b"\r\n" for k, v in response_headers) + b"\r\n"
    client.receive_data(response)
    client.events_received()
    assert client.subprotocol == "chat"

    server = Connection(deflate=codec)
    for text in ["hello", "hello", "é" * 1000]:
        client.send_text(text.encode())
        assert deliver(server, b"".join(client.data_to_send())) == [TextMessage(text)]
        client.receive_data(server.send_text(text[::-1]))
        [frame] = client.events_received()
        assert frame.data.decode() == text[::-1]
    client.send_close(1000, "bye")
    assert deliver(server, b"".join(client.data_to_send())) == [CloseReceived(1000, "bye")]
    client.receive_data(server.data_to_send())
    assert client.close_rcvd is not None and client.close_rcvd.code == 1000
    client.receive_eof()  # a server closes the TCP connection first (RFC 6455 7.1.1)
    assert client.close_code == 1000
