"""The frame reader: buffers a peer's bytes and cuts them into validated frames.

It enforces every rule that a single frame header can break (RFC 6455 5.2, 5.5): reserved bits
and opcodes, masking direction, control frame size and fragmentation, and the size limit the
caller gives it, which it checks against the announced length before the payload arrives, so a
peer can never make us buffer more than that limit. It never looks across frames (message
assembly, UTF-8, closing): that is the connection's job.

Hot path: `next_frame` runs once per frame. Received chunks are kept as they are and joined only
when the frame being waited for is complete, so a large frame arriving in many small reads is
copied once, not once per read.
"""

from __future__ import annotations

from .close import MESSAGE_TOO_BIG, PROTOCOL_ERROR
from .errors import ProtocolError
from .frames import MAX_CONTROL_PAYLOAD, Frame, unmask

_FIN = 0x80
_RSV1 = 0x40
_RSV23 = 0x30
_OPCODE = 0x0F
_MASK = 0x80
_LENGTH = 0x7F


class FrameReader:
    """Frames in, one at a time; raises `ProtocolError` on the first invalid header."""

    __slots__ = ("_buf", "_chunks", "_expect_mask", "_need", "_pending", "_pos", "_rsv1_ok")

    def __init__(self, *, expect_mask: bool = True, rsv1_ok: bool = False) -> None:
        # A server must receive masked frames and a client unmasked ones (RFC 6455 5.1).
        self._expect_mask = expect_mask
        # RSV1 is only meaningful when an extension (permessage-deflate) negotiated it.
        self._rsv1_ok = rsv1_ok
        self._buf = b""
        self._pos = 0
        self._chunks: list[bytes] = []
        self._pending = 0
        # Bytes needed from _pos before parsing can make progress.
        self._need = 2

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as frames."""
        return len(self._buf) - self._pos + self._pending

    def feed(self, data: bytes) -> None:
        if not data:
            return
        if self._pos == len(self._buf) and not self._pending:
            # Common case: everything before was consumed, so keep the chunk without copying it.
            self._buf = data if type(data) is bytes else bytes(data)
            self._pos = 0
        else:
            self._chunks.append(bytes(data))
            self._pending += len(data)

    def clear(self) -> None:
        """Drop everything buffered (after the connection closed, bytes mean nothing)."""
        self._buf = b""
        self._pos = 0
        self._chunks.clear()
        self._pending = 0
        self._need = 2

    def _join(self) -> None:
        self._buf = self._buf[self._pos :] + b"".join(self._chunks)
        self._pos = 0
        self._chunks.clear()
        self._pending = 0

    def next_frame(self, max_length: int, max_compressed_length: int) -> Frame | None:
        """The next complete frame, or None until more bytes are fed.

        `max_length` bounds a data frame's payload; `max_compressed_length` replaces it when the
        frame has RSV1 set (compressed data, whose real limit applies after decompression, so
        the caller gives the wire bytes a little slack). Exceeding either fails with 1009.
        """
        while True:
            if len(self._buf) - self._pos < self._need:
                if len(self._buf) - self._pos + self._pending < self._need:
                    return None
                self._join()
            result = self._parse(max_length, max_compressed_length)
            if not isinstance(result, int):
                return result
            # Incomplete: remember how much the frame needs; if the pending chunks hold it,
            # the next turn joins them once and parses the whole frame.
            self._need = result
            if len(self._buf) - self._pos + self._pending < result:
                return None

    def _parse(self, max_length: int, max_compressed_length: int) -> Frame | int:
        """A frame from _buf at _pos, or the number of bytes it needs from _pos."""
        buf = self._buf
        pos = self._pos
        avail = len(buf) - pos
        first = buf[pos]
        second = buf[pos + 1]
        opcode = first & _OPCODE

        if first & _RSV23 or (first & _RSV1 and not self._rsv1_ok):
            raise ProtocolError(PROTOCOL_ERROR, "reserved bits set without a negotiated extension")
        if second & _MASK:
            if not self._expect_mask:
                raise ProtocolError(PROTOCOL_ERROR, "masked frame from a server")
        elif self._expect_mask:
            raise ProtocolError(PROTOCOL_ERROR, "unmasked frame from a client")

        length = second & _LENGTH
        if opcode & 0x8:
            # Control frames (RFC 6455 5.5): known opcode, never fragmented, at most 125 bytes,
            # never compressed (RFC 7692 6.1). Checked before the payload can be buffered.
            if opcode > 0xA:
                raise ProtocolError(PROTOCOL_ERROR, "reserved control opcode")
            if not first & _FIN:
                raise ProtocolError(PROTOCOL_ERROR, "fragmented control frame")
            if length > MAX_CONTROL_PAYLOAD:
                raise ProtocolError(PROTOCOL_ERROR, "control frame payload over 125 bytes")
            if first & _RSV1:
                raise ProtocolError(PROTOCOL_ERROR, "compressed control frame")
        elif opcode > 0x2:
            raise ProtocolError(PROTOCOL_ERROR, "reserved data opcode")

        header_length = 2
        if length == 126:
            header_length = 4
        elif length == 127:
            header_length = 10
        if second & _MASK:
            header_length += 4
        if avail < header_length:
            return header_length
        if length == 126:
            length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
        elif length == 127:
            length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
            if length >> 63:
                # The most significant bit of a 64-bit length MUST be 0 (RFC 6455 5.2).
                raise ProtocolError(PROTOCOL_ERROR, "64-bit frame length with the top bit set")
            # Non-minimal length encodings are accepted: they cost nothing and hurt nobody.

        if not opcode & 0x8 and length > (max_compressed_length if first & _RSV1 else max_length):
            # Refused on the announced length, before the payload is buffered (RFC 6455 10.4).
            raise ProtocolError(MESSAGE_TOO_BIG, "message too big")

        end = pos + header_length + length
        if len(buf) < end:
            return header_length + length

        start = pos + header_length
        if second & _MASK:
            payload = unmask(memoryview(buf)[start:end], buf[start - 4 : start])
        else:
            payload = buf[start:end]
        if end == len(buf):
            self._buf = b""
            self._pos = 0
        else:
            self._pos = end
        self._need = 2
        return Frame(opcode, bool(first & _FIN), bool(first & _RSV1), payload)
