"""Serialize response heads: status line, validated fields, and the framing they imply.

It refuses CR, LF or NUL in any outgoing field (response splitting) and field names that are
not tokens. It chooses the framing (RFC 9112 §6.3) from what the application declared and what
the request allows, adding `content-length`, `transfer-encoding: chunked` or `connection: close`
as needed, so the application never has to.

Hot path: `serialize_response` (one `bytes.join` over the fields, one regex check).
"""

from __future__ import annotations

import re
from http import HTTPStatus

from . import grammar
from .body_writers import (
    CHUNKED,
    CLOSE_DELIMITED,
    NO_BODY,
    BodyWriter,
    ContentLengthWriter,
)
from .errors import LocalProtocolError
from .events import Headers

_STATUS_LINES = {s.value: b"HTTP/1.1 %d %b\r\n" % (s.value, s.phrase.encode("ascii"))
                 for s in HTTPStatus}
# Each field is checked as `name NUL value CRLF`: neither part may hold a NUL, so a line with
# exactly one NUL after a token is exactly one (name, value) pair (see serialize_fields).
_FIELDS_RE = re.compile(rb"(?:" + grammar.TOKEN + rb"\x00[^\x00\r\n]*\r\n)*")
_MAX_CONTENT_LENGTH_DIGITS = 18
_FRAMING_NAMES = frozenset((b"content-length", b"transfer-encoding", b"connection"))
_NO_LENGTH_STATUSES = frozenset((204,))  # and every 1xx (RFC 9110 §8.6)


def status_line(status_code: int, reason: bytes) -> bytes:
    if not 100 <= status_code <= 999:
        raise LocalProtocolError(f"invalid status code {status_code!r}", 500)
    if not reason:
        cached = _STATUS_LINES.get(status_code)
        if cached is not None:
            return cached
    elif b"\r" in reason or b"\n" in reason or b"\x00" in reason:
        raise LocalProtocolError("invalid reason phrase", 500)
    return b"HTTP/1.1 %d %b\r\n" % (status_code, reason)


def serialize_fields(headers: Headers) -> bytes:
    """`name: value\\r\\n` lines, refusing anything that could split the message."""
    if not headers:
        return b""
    try:
        block = b"\r\n".join(map(b"\x00".join, headers)) + b"\r\n"
    except TypeError:
        raise LocalProtocolError("header names and values must be bytes", 500) from None
    # Checking the joined block (one C-speed pass) is only sound if the lines it sees are the
    # fields the application gave: a CRLF inside a name ("x\r\nSet-Cookie") or a value must not
    # yield lines that each look valid. Joining with NUL, which no name or value may contain,
    # makes it so: every line must hold one NUL after a token, and there must be as many NULs
    # as fields, so no CR, LF or NUL can hide anywhere (RFC 9110 §5.5: no response splitting).
    if _FIELDS_RE.fullmatch(block) is None or block.count(b"\x00") != len(headers):
        raise LocalProtocolError("invalid header field name or value (CR, LF or NUL?)", 500)
    return block.replace(b"\x00", b": ")


def serialize_response(
    status_code: int,
    headers: Headers,
    reason: bytes,
    *,
    head_request: bool,
    http11: bool,
    keep_alive: bool,
    default_fields: bytes,
    known_length: int | None = None,
) -> tuple[bytes, BodyWriter, bool]:
    """Return (head bytes, body writer, keep_alive) for a final response.

    `known_length` is the whole body's size when the caller already holds all of it; then a
    missing Content-Length is added instead of switching to chunked framing.
    """
    content_length: bytes | None = None
    chunked = False
    final_coding = b""
    wants_close = False
    has_connection = False
    framing_fields = False
    for name, value in headers:
        lname = name.lower()
        if lname in _FRAMING_NAMES:
            framing_fields = True
            if lname == b"content-length":
                if content_length is not None and content_length != value:
                    raise LocalProtocolError("conflicting Content-Length values", 500)
                content_length = value
            elif lname == b"transfer-encoding":
                chunked = True
                final_coding = value.rpartition(b",")[2].strip(b" \t").lower()
            else:
                has_connection = True
                wants_close = wants_close or b"close" in value.lower()

    extra = b""
    writer: BodyWriter
    if status_code in _NO_LENGTH_STATUSES or status_code < 200:
        if status_code < 200:
            # RFC 9110 §15.2: 1xx responses are interim; they are InformationalResponse events.
            raise LocalProtocolError("a final response cannot have a 1xx status", 500)
        writer = NO_BODY
        if framing_fields:
            headers = _without(headers, (b"content-length", b"transfer-encoding"))
    elif status_code == 304 or head_request:
        # The length fields of HEAD/304 describe the representation, not this message.
        writer = NO_BODY
        if head_request and known_length and content_length is None and not chunked:
            # RFC 9110 §9.3.2: the app produced its GET body whole; tell HEAD how long it is.
            extra = b"content-length: %d\r\n" % known_length
    elif chunked:
        if content_length is not None:
            headers = _without(headers, (b"content-length",))
        if http11:
            if final_coding != b"chunked":
                # RFC 9112 §6.1: with another coding, chunked must come last, or the client
                # cannot find the end of a body that we frame as chunked.
                raise LocalProtocolError("Transfer-Encoding must end with chunked", 500)
            writer = CHUNKED
        else:
            headers = _without(headers, (b"transfer-encoding",))
            writer = CLOSE_DELIMITED
            keep_alive = False
    elif content_length is not None:
        if (not grammar.DIGITS_RE.fullmatch(content_length)
                or len(content_length.lstrip(b"0")) > _MAX_CONTENT_LENGTH_DIGITS):
            raise LocalProtocolError("invalid Content-Length", 500)
        writer = ContentLengthWriter(int(content_length))
    elif known_length is not None:
        extra = b"content-length: %d\r\n" % known_length
        writer = ContentLengthWriter(known_length)
    elif http11:
        extra = b"transfer-encoding: chunked\r\n"
        writer = CHUNKED
    else:
        writer = CLOSE_DELIMITED
        keep_alive = False

    if wants_close:
        keep_alive = False
    elif not keep_alive:
        extra += b"connection: close\r\n"
    elif not http11 and not has_connection:
        extra += b"connection: keep-alive\r\n"
    line = None if reason else _STATUS_LINES.get(status_code)
    head = b"".join((line or status_line(status_code, reason), default_fields,
                     serialize_fields(headers), extra, b"\r\n"))
    return head, writer, keep_alive


def serialize_informational(status_code: int, headers: Headers, reason: bytes) -> bytes:
    if not 100 <= status_code < 200:
        raise LocalProtocolError("informational responses are 1xx", 500)
    return status_line(status_code, reason) + serialize_fields(headers) + b"\r\n"


def _without(headers: Headers, names: tuple[bytes, ...]) -> Headers:
    return [(n, v) for n, v in headers if n.lower() not in names]
