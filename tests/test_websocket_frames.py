"""Frame layout and frame-level validation (RFC 6455 5.2-5.5), at the reader's level.

Client frames here are built by a deliberately naive reference (byte-by-byte masking, manual
header packing) so the codec's fast paths are checked against something independent.
"""

from __future__ import annotations

import os
import struct

import pytest

from moreweb.websocket.errors import ProtocolError
from moreweb.websocket.frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    Frame,
    encode_frame,
    unmask,
)
from moreweb.websocket.reader import FrameReader

KEY = b"\x37\xfa\x21\x3d"  # RFC 6455 5.7's example masking key
BIG = 1 << 40


def reference_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    key: bytes | None = KEY,
    length: int | None = None,
) -> bytes:
    """A frame built the slow, obvious way; `length` overrides the announced length."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | rsv | opcode])
    mask_bit = 0x80 if key is not None else 0
    if n < 126:
        head += bytes([mask_bit | n])
    elif n < 65536:
        head += bytes([mask_bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", n)
    if key is None:
        return head + payload
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def read_all(data: bytes, *, expect_mask: bool = True, rsv1_ok: bool = False) -> list[Frame]:
    reader = FrameReader(expect_mask=expect_mask, rsv1_ok=rsv1_ok)
    reader.feed(data)
    frames = []
    while (frame := reader.next_frame(BIG, BIG)) is not None:
        frames.append(frame)
    return frames


def protocol_error(data: bytes, *, limit: int = BIG, **kwargs: bool) -> ProtocolError:
    reader = FrameReader(**kwargs)
    reader.feed(data)
    with pytest.raises(ProtocolError) as info:
        reader.next_frame(limit, limit)
    return info.value


# -- masking ------------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [0, 1, 3, 4, 5, 125, 126, 1000, 65536, 65537, 131075])
def test_unmask_matches_bytewise_xor_and_round_trips(length: int) -> None:
    # RFC 6455 5.3: octet i of the payload is XORed with octet i mod 4 of the key.
    data = os.urandom(length)
    key = os.urandom(4)
    masked = unmask(data, key)
    assert masked == bytes(b ^ key[i % 4] for i, b in enumerate(data))
    assert unmask(masked, key) == data


def test_unmask_keeps_leading_zero_bytes() -> None:
    # Big-integer XOR must not drop leading zero octets of the result.
    key = b"\x01\x02\x03\x04"
    assert unmask(key * 3, key) == bytes(12)


def test_rfc_example_masked_hello() -> None:
    # RFC 6455 5.7: a single-frame masked text message "Hello".
    wire = bytes.fromhex("818537fa213d7f9f4d5158")
    assert read_all(wire) == [Frame(OP_TEXT, True, False, b"Hello")]
    assert encode_frame(OP_TEXT, b"Hello", mask_key=KEY) == wire


# -- writing ------------------------------------------------------------------------------------


def test_rfc_examples_unmasked() -> None:
    # RFC 6455 5.7: the server-side (unmasked) examples, byte for byte.
    assert encode_frame(OP_TEXT, b"Hello") == bytes.fromhex("810548656c6c6f")
    assert encode_frame(OP_TEXT, b"Hel", fin=False) == bytes.fromhex("010348656c")
    assert encode_frame(OP_CONTINUATION, b"lo") == bytes.fromhex("80026c6f")
    assert encode_frame(OP_PING, b"Hello") == bytes.fromhex("890548656c6c6f")
    assert encode_frame(OP_BINARY, bytes(256))[:4] == bytes.fromhex("827e0100")
    assert encode_frame(OP_BINARY, bytes(65536))[:10] == bytes.fromhex("827f0000000000010000")


@pytest.mark.parametrize(
    ("length", "header_length"), [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10), (70000, 10)]
)
def test_length_encodings_7_16_64_bits(length: int, header_length: int) -> None:
    # RFC 6455 5.2: 7-bit lengths up to 125, 126 + 16-bit, 127 + 64-bit.
    payload = os.urandom(length)
    for opcode in (OP_TEXT, OP_BINARY, OP_CONTINUATION):
        wire = encode_frame(opcode, payload)
        assert len(wire) == header_length + length
        reader = FrameReader(expect_mask=False)
        reader.feed(wire)
        assert reader.next_frame(BIG, BIG) == Frame(opcode, True, False, payload)
    masked = encode_frame(OP_BINARY, payload, mask_key=KEY)
    assert masked == reference_frame(OP_BINARY, payload)
    assert read_all(masked) == [Frame(OP_BINARY, True, False, payload)]


def test_rsv1_and_fin_bits_are_written() -> None:
    assert encode_frame(OP_TEXT, b"", rsv1=True)[0] == 0xC1
    assert encode_frame(OP_BINARY, b"", fin=False)[0] == 0x02


def test_memoryview_payload_is_accepted() -> None:
    assert encode_frame(OP_BINARY, memoryview(b"abc")) == b"\x82\x03abc"


# -- reading ------------------------------------------------------------------------------------


def test_64_bit_length_frame_fed_in_small_chunks() -> None:
    # RFC 6455 5.2: a 64-bit length frame, arriving the way a socket delivers it.
    payload = os.urandom(70001)
    wire = reference_frame(OP_BINARY, payload)
    reader = FrameReader()
    got = None
    for start in range(0, len(wire), 4096):
        assert got is None
        reader.feed(wire[start : start + 4096])
        got = reader.next_frame(BIG, BIG)
    assert got == Frame(OP_BINARY, True, False, payload)
    assert reader.buffered == 0


def test_every_split_of_a_header_waits_for_more() -> None:
    wire = reference_frame(OP_TEXT, b"x" * 300) + reference_frame(OP_PING, b"p")
    for cut in range(len(wire) + 1):
        reader = FrameReader()
        reader.feed(wire[:cut])
        frames = []
        while (frame := reader.next_frame(BIG, BIG)) is not None:
            frames.append(frame)
        reader.feed(wire[cut:])
        while (frame := reader.next_frame(BIG, BIG)) is not None:
            frames.append(frame)
        assert frames == [
            Frame(OP_TEXT, True, False, b"x" * 300),
            Frame(OP_PING, True, False, b"p"),
        ], cut


def test_unmasked_client_frame_fails_1002() -> None:
    # RFC 6455 5.1: a server MUST close on an unmasked client frame.
    exc = protocol_error(reference_frame(OP_TEXT, b"hi", key=None))
    assert exc.code == 1002


def test_masked_server_frame_fails_1002() -> None:
    # RFC 6455 5.1: a client MUST close on a masked server frame.
    exc = protocol_error(reference_frame(OP_TEXT, b"hi"), expect_mask=False)
    assert exc.code == 1002


@pytest.mark.parametrize("rsv", [0x40, 0x20, 0x10, 0x70])
def test_reserved_bits_without_extension_fail_1002(rsv: int) -> None:
    # RFC 6455 5.2: RSV1-3 MUST be 0 unless an extension defines them.
    assert protocol_error(reference_frame(OP_TEXT, b"a", rsv=rsv)).code == 1002


@pytest.mark.parametrize("rsv", [0x20, 0x10])
def test_rsv2_rsv3_fail_even_with_deflate(rsv: int) -> None:
    # RFC 7692 6: permessage-deflate only defines RSV1.
    assert protocol_error(reference_frame(OP_TEXT, b"a", rsv=rsv), rsv1_ok=True).code == 1002


def test_rsv1_allowed_with_deflate() -> None:
    frames = read_all(reference_frame(OP_TEXT, b"a", rsv=0x40), rsv1_ok=True)
    assert frames == [Frame(OP_TEXT, True, True, b"a")]


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_reserved_opcodes_fail_1002(opcode: int) -> None:
    # RFC 6455 5.2: opcodes 3-7 and B-F are reserved.
    assert protocol_error(reference_frame(opcode, b"")).code == 1002


@pytest.mark.parametrize("opcode", [OP_CLOSE, OP_PING, OP_PONG])
def test_control_frame_over_125_bytes_fails_1002(opcode: int) -> None:
    # RFC 6455 5.5: control frames MUST have a payload of 125 bytes or less.
    exc = protocol_error(reference_frame(opcode, b"x" * 126))
    assert exc.code == 1002
    # Refused from the header alone, before the payload arrives.
    exc = protocol_error(reference_frame(opcode, b"x" * 126)[:8])
    assert exc.code == 1002


def test_control_frame_of_125_bytes_is_fine() -> None:
    assert read_all(reference_frame(OP_PING, b"x" * 125)) == [
        Frame(OP_PING, True, False, b"x" * 125)
    ]


@pytest.mark.parametrize("opcode", [OP_CLOSE, OP_PING, OP_PONG])
def test_fragmented_control_frame_fails_1002(opcode: int) -> None:
    # RFC 6455 5.5: control frames MUST NOT be fragmented.
    assert protocol_error(reference_frame(opcode, b"", fin=False)).code == 1002


def test_compressed_control_frame_fails_1002() -> None:
    # RFC 7692 6.1: RSV1 is never set on control frames.
    exc = protocol_error(reference_frame(OP_PING, b"", rsv=0x40), rsv1_ok=True)
    assert exc.code == 1002


def test_64_bit_length_with_top_bit_fails_1002() -> None:
    # RFC 6455 5.2: the most significant bit of a 64-bit length MUST be 0.
    wire = bytes([0x82, 0xFF]) + struct.pack("!Q", 1 << 63) + KEY
    assert protocol_error(wire).code == 1002


def test_announced_length_over_limit_fails_1009_before_payload() -> None:
    # RFC 6455 10.4: the limit is enforced from the header, so the payload is never buffered.
    header = reference_frame(OP_BINARY, length=10_000_000)[:14]
    assert protocol_error(header, limit=1_000_000).code == 1009


def test_limit_is_inclusive() -> None:
    reader = FrameReader()
    reader.feed(reference_frame(OP_BINARY, b"x" * 100))
    assert reader.next_frame(100, 100) == Frame(OP_BINARY, True, False, b"x" * 100)


def test_compressed_frames_use_their_own_limit() -> None:
    reader = FrameReader(rsv1_ok=True)
    reader.feed(reference_frame(OP_BINARY, b"x" * 100, rsv=0x40))
    assert reader.next_frame(10, 100) == Frame(OP_BINARY, True, True, b"x" * 100)
    reader.feed(reference_frame(OP_BINARY, b"x" * 100, rsv=0x40))
    with pytest.raises(ProtocolError) as info:
        reader.next_frame(1000, 99)
    assert info.value.code == 1009


def test_control_frames_ignore_the_data_limit() -> None:
    reader = FrameReader()
    reader.feed(reference_frame(OP_PING, b"x" * 50))
    assert reader.next_frame(0, 0) == Frame(OP_PING, True, False, b"x" * 50)


def test_clear_drops_buffered_bytes() -> None:
    reader = FrameReader()
    reader.feed(reference_frame(OP_TEXT, b"abc")[:4])
    reader.feed(b"more")
    assert reader.buffered == 8
    reader.clear()
    assert reader.buffered == 0
    reader.feed(reference_frame(OP_TEXT, b"ok"))
    assert reader.next_frame(BIG, BIG) == Frame(OP_TEXT, True, False, b"ok")
