"""Response body writers, one per framing: Content-Length, chunked, close-delimited, none.

A writer turns body pieces into wire bytes and checks that the application keeps the promise
its headers made: more or fewer bytes than Content-Length is an error (the connection must then
close, since the peer's framing is already wrong).
"""

from __future__ import annotations

from .errors import LocalProtocolError
from .events import Headers


class ContentLengthWriter:
    __slots__ = ("remaining",)

    def __init__(self, length: int) -> None:
        self.remaining = length

    def write(self, data: bytes) -> bytes:
        self.remaining -= len(data)
        if self.remaining < 0:
            raise LocalProtocolError("response body longer than its Content-Length", 500)
        return data

    def frame(self, count: int) -> tuple[bytes, bytes]:
        self.remaining -= count
        if self.remaining < 0:
            raise LocalProtocolError("response body longer than its Content-Length", 500)
        return b"", b""

    def finish(self, trailers: Headers) -> bytes:
        if self.remaining:
            raise LocalProtocolError("response body shorter than its Content-Length", 500)
        return b""


class ChunkedWriter:
    __slots__ = ()

    def write(self, data: bytes) -> bytes:
        # An empty chunk would read as the last-chunk marker, so empty writes produce nothing.
        if not data:
            return b""
        return b"%x\r\n%b\r\n" % (len(data), data)

    def frame(self, count: int) -> tuple[bytes, bytes]:
        # As in write(): a zero-size chunk is the last-chunk marker, so frame nothing.
        if not count:
            return b"", b""
        return b"%x\r\n" % count, b"\r\n"

    def finish(self, trailers: Headers) -> bytes:
        if not trailers:
            return b"0\r\n\r\n"
        from .response_head import serialize_fields

        return b"0\r\n" + serialize_fields(trailers) + b"\r\n"


class CloseDelimitedWriter:
    """HTTP/1.0 without a length: the body ends when we close the connection."""

    __slots__ = ()

    def write(self, data: bytes) -> bytes:
        return data

    def frame(self, count: int) -> tuple[bytes, bytes]:
        return b"", b""

    def finish(self, trailers: Headers) -> bytes:
        return b""


class NoBodyWriter:
    """HEAD, 1xx, 204 and 304 responses carry no body (RFC 9110 §6.4.1); bytes are dropped."""

    __slots__ = ()

    def write(self, data: bytes) -> bytes:
        return b""

    def frame(self, count: int) -> None:
        return None

    def finish(self, trailers: Headers) -> bytes:
        return b""


BodyWriter = ContentLengthWriter | ChunkedWriter | CloseDelimitedWriter | NoBodyWriter
CHUNKED = ChunkedWriter()
CLOSE_DELIMITED = CloseDelimitedWriter()
NO_BODY = NoBodyWriter()
