"""Frame layout (RFC 6455 5.2): opcodes, masking and the frame writer.

This module only knows how a frame is laid out. It never validates a peer's frame (see
`reader.py`) and never tracks messages or closing (see `connection.py`).

Hot path: `unmask` runs on every byte a client sends and `encode_frame` on every message we send;
both avoid Python-level loops over bytes (guarded by the benchmarks in bench/).
"""

from __future__ import annotations

import struct
from typing import NamedTuple

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

#: Control frames carry at most 125 bytes of payload (RFC 6455 5.5).
MAX_CONTROL_PAYLOAD = 125

FIN = 0x80
RSV1 = 0x40
MASK_BIT = 0x80

_BLOCK = 1 << 16

_pack_short = struct.Struct("!BB").pack
_pack_medium = struct.Struct("!BBH").pack
_pack_long = struct.Struct("!BBQ").pack

# Headers of the frames a server sends most: a whole, unmasked, uncompressed text or binary
# message shorter than 126 bytes. Looking one up is cheaper than packing it.
_SMALL_HEADERS = {
    opcode: tuple(bytes((FIN | opcode, n)) for n in range(126)) for opcode in (OP_TEXT, OP_BINARY)
}


class Frame(NamedTuple):
    """One frame as read from the wire, already unmasked."""

    opcode: int
    fin: bool
    rsv1: bool
    payload: bytes


def unmask(data: bytes | bytearray | memoryview, key: bytes) -> bytes:
    """XOR `data` with the 4-byte masking `key` repeated (RFC 6455 5.3); masking is symmetric.

    The payload is treated as big integers so the XOR runs in C: a per-byte Python loop would be
    two orders of magnitude slower. Large payloads go in 64 KiB blocks, which stay in the CPU
    cache and measure about three times faster than one integer the size of the message.
    """
    length = len(data)
    if length <= _BLOCK:
        if length == 0:
            return b""
        keys = (key * ((length >> 2) + 1))[:length]
        return (int.from_bytes(data, "big") ^ int.from_bytes(keys, "big")).to_bytes(length, "big")
    view = memoryview(data)
    block_key = _block_key(key)
    full = length - length % _BLOCK
    parts = [
        (int.from_bytes(view[start : start + _BLOCK], "big") ^ block_key).to_bytes(_BLOCK, "big")
        for start in range(0, full, _BLOCK)
    ]
    if full < length:
        # Blocks are a multiple of 4 bytes long, so the key lines up again at `full`.
        parts.append(unmask(view[full:], key))
    return b"".join(parts)


def _block_key(key: bytes) -> int:
    return int.from_bytes(key * (_BLOCK >> 2), "big")


def encode_frame(
    opcode: int,
    payload: bytes | bytearray | memoryview,
    *,
    fin: bool = True,
    rsv1: bool = False,
    mask_key: bytes | None = None,
) -> bytes:
    """Serialize one frame; a `mask_key` (4 bytes) masks it, as a client must."""
    length = len(payload)
    first = opcode | (FIN if fin else 0) | (RSV1 if rsv1 else 0)
    if mask_key is None:
        if length < 126:
            if first == FIN | OP_TEXT or first == FIN | OP_BINARY:
                return _SMALL_HEADERS[opcode][length] + payload
            return _pack_short(first, length) + payload
        if length < 0x10000:
            return _pack_medium(first, 126, length) + payload
        return _pack_long(first, 127, length) + payload
    if length < 126:
        header = _pack_short(first, MASK_BIT | length)
    elif length < 0x10000:
        header = _pack_medium(first, MASK_BIT | 126, length)
    else:
        header = _pack_long(first, MASK_BIT | 127, length)
    return header + mask_key + unmask(payload, mask_key)
