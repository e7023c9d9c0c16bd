"""Request body readers, one per framing (RFC 9112 §6.3): Content-Length and chunked.

A reader consumes bytes from the connection's buffer and returns body pieces; it never reads
past its own message, so a pipelined request behind it stays untouched. There is deliberately
no read-until-close reader: a request without Content-Length or Transfer-Encoding has no body.
"""

from __future__ import annotations

from . import grammar
from .errors import RemoteProtocolError
from .events import Data, EndOfMessage
from .limits import Limits

#: Shared instance for the common case of a message without trailers.
END_OF_MESSAGE = EndOfMessage([])
_MAX_CHUNK_SIZE_DIGITS = 16


class ContentLengthReader:
    __slots__ = ("remaining",)

    def __init__(self, length: int) -> None:
        self.remaining = length

    def read(self, data: bytes, pos: int, limits: Limits
             ) -> tuple[Data | EndOfMessage | None, int]:
        """Return (event or None if more bytes are needed, new position)."""
        if self.remaining == 0:
            return END_OF_MESSAGE, pos
        available = len(data) - pos
        if available <= 0:
            return None, pos
        take = min(available, self.remaining)
        self.remaining -= take
        if pos == 0 and take == len(data):
            return Data(data), len(data)
        return Data(data[pos:pos + take]), pos + take

    def peer_closed(self) -> RemoteProtocolError:
        return RemoteProtocolError("connection closed before the full request body arrived")


# Chunked reader phases.
_SIZE, _DATA, _DATA_CRLF, _TRAILERS, _DONE = range(5)


class ChunkedReader:
    """RFC 9112 §7.1 chunked transfer coding, strict: CRLF only, 1*HEXDIG sizes, bounded lines.

    Consecutive complete chunks already in the buffer are coalesced into one Data event, so a
    client that sends many small chunks costs one event, not one per chunk.
    """

    __slots__ = ("phase", "remaining", "scanned")

    def __init__(self) -> None:
        self.phase = _SIZE
        self.remaining = 0
        #: Bytes of an unfinished trailer section already examined (each is examined once).
        self.scanned = 0

    def read(self, data: bytes, pos: int, limits: Limits
             ) -> tuple[Data | EndOfMessage | None, int]:
        pieces: list[bytes] = []
        end = len(data)
        while True:
            phase = self.phase
            if phase == _DATA:
                if pos >= end:
                    break
                take = min(end - pos, self.remaining)
                pieces.append(data[pos:pos + take])
                pos += take
                self.remaining -= take
                if self.remaining == 0:
                    self.phase = _DATA_CRLF
            elif phase == _DATA_CRLF:
                if end - pos < 2:
                    if pos < end and data[pos] != 0x0D:
                        raise RemoteProtocolError("chunk data not followed by CRLF")
                    break
                if data[pos] != 0x0D or data[pos + 1] != 0x0A:
                    raise RemoteProtocolError("chunk data not followed by CRLF")
                pos += 2
                self.phase = _SIZE
            elif phase == _SIZE:
                if pieces:
                    # Deliver what we have before possibly waiting for the next size line.
                    line_end = data.find(b"\r\n", pos, pos + limits.max_chunk_line)
                    if line_end == -1:
                        break
                new_pos = self._read_size_line(data, pos, limits)
                if new_pos is None:
                    break
                pos = new_pos
            elif phase == _TRAILERS:
                if pieces:
                    break
                return self._read_trailers(data, pos, limits)
            else:  # _DONE
                return END_OF_MESSAGE, pos
        if pieces:
            return Data(pieces[0] if len(pieces) == 1 else b"".join(pieces)), pos
        return None, pos

    def _read_size_line(self, data: bytes, pos: int, limits: Limits) -> int | None:
        line_end = data.find(b"\r\n", pos, pos + limits.max_chunk_line)
        if line_end == -1:
            window = data[pos:pos + limits.max_chunk_line]
            if b"\n" in window:
                raise RemoteProtocolError("bare LF in chunk-size line")
            if len(data) - pos >= limits.max_chunk_line:
                raise RemoteProtocolError("chunk-size line too long")
            return None
        m = grammar.CHUNK_HEADER_RE.match(data, pos, line_end + 2)
        if m is None or m.end() != line_end + 2:
            raise RemoteProtocolError("invalid chunk-size line")
        digits = m.group(1)
        if len(digits.lstrip(b"0")) > _MAX_CHUNK_SIZE_DIGITS:
            raise RemoteProtocolError("chunk size too large")
        size = int(digits, 16)
        if size == 0:
            self.phase = _TRAILERS
        else:
            self.remaining = size
            self.phase = _DATA
        return line_end + 2

    def _read_trailers(self, data: bytes, pos: int, limits: Limits
                       ) -> tuple[EndOfMessage | None, int]:
        """RFC 9112 §7.1.2: trailer-section = *( field-line CRLF ), then CRLF."""
        if data.startswith(b"\r\n", pos):
            self.phase = _DONE
            return END_OF_MESSAGE, pos + 2
        # Resume where the last call stopped (less the 3 bytes a terminator may straddle), so
        # a trailer section trickled in byte by byte costs linear time, not quadratic.
        scanned = self.scanned
        end = data.find(b"\r\n\r\n", pos + scanned - 3 if scanned > 3 else pos)
        if end == -1:
            if len(data) - pos > limits.max_head_size:
                raise RemoteProtocolError("trailer section too large", 431)
            new = pos + scanned
            if scanned and data[new - 1] == 0x0D:
                new -= 1  # a CR that ended the examined bytes, with the LF that may follow
            if data.count(b"\n", new) != data.count(b"\r\n", new):
                raise RemoteProtocolError("bare LF in trailer section")
            self.scanned = len(data) - pos
            return None, pos
        if end + 4 - pos > limits.max_head_size:
            raise RemoteProtocolError("trailer section too large", 431)
        trailers = grammar.field_lines(data, pos, end + 2)
        if trailers is None:
            raise RemoteProtocolError("invalid trailer field")
        if len(trailers) > limits.max_header_count:
            raise RemoteProtocolError("too many trailer fields", 431)
        self.phase = _DONE
        return EndOfMessage(trailers), end + 4

    def peer_closed(self) -> RemoteProtocolError:
        return RemoteProtocolError("connection closed in the middle of a chunked body")


BodyReader = ContentLengthReader | ChunkedReader
