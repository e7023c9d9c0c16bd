"""Parse and validate one request head (request line + header section) into a Request event.

It decides, from the head alone, everything the connection needs for the rest of the
message: how the body is framed (RFC 9112 §6.3), keep-alive, Expect: 100-continue and protocol
switch proposals. It never looks past the head and never guesses: any ambiguity in framing is
a request-smuggling vector, so it is rejected.

Hot path: `parse_request_head` (see `bench/engine.py`). The slow `_diagnose` path runs only
for input already known to be invalid, to name the exact rule it breaks.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from . import grammar
from .body_readers import BodyReader, ChunkedReader, ContentLengthReader
from .errors import RemoteProtocolError
from .events import Headers, Request
from .limits import Limits

_HEAD_END_LENIENT_RE = re.compile(rb"\r?\n\r?\n")
# Field names whose presence changes how the message is framed or handled.
_SPECIAL = frozenset((b"content-length", b"transfer-encoding", b"host", b"connection",
                      b"expect", b"upgrade"))
_VERSIONS = {b"0": b"1.0"}  # HTTP/1.x minor versions above 1 are served as 1.1 (RFC 9110 §2.5)
_MAX_CONTENT_LENGTH_DIGITS = 18  # fits in a signed 64-bit integer


class ParsedHead(NamedTuple):
    request: Request
    end: int                    # offset just past the head's blank line
    body: BodyReader | None     # None: the request has no body
    keep_alive: bool
    expect_continue: bool
    upgrade: bool               # the client proposes an Upgrade (RFC 9110 §7.8)
    upgrade_field: bool = False  # an Upgrade field is present, proposal or not


def _error(reason: str, status: int = 400) -> RemoteProtocolError:
    return RemoteProtocolError(reason, status)


def find_head_end(data: bytes, start: int, limits: Limits, scanned: int = 0
                  ) -> tuple[int, int]:
    """Return (offset of the blank line ending the head, offset just past it), or (-1, -1).

    `scanned` bytes from `start` were already searched in vain: the search resumes just before
    them (a terminator is at most 4 bytes long), so a head trickled in byte by byte is searched
    once in all rather than once per byte.
    """
    if scanned > 3:
        start += scanned - 3
    if limits.lenient_lf:
        m = _HEAD_END_LENIENT_RE.search(data, start)
        if m is None:
            return -1, -1
        # The match begins at the terminator of the last line; keep that terminator.
        begin = m.start()
        return (begin + 2 if data[begin] == 0x0D else begin + 1), m.end()
    end = data.find(b"\r\n\r\n", start)
    if end == -1:
        return -1, -1
    return end + 2, end + 4


def check_incomplete_head(data: bytes, start: int, limits: Limits, scanned: int = 0,
                          line_checked: bool = False) -> bool:
    """Reject an unfinished head early when it already breaks a rule that more bytes can't fix.

    This is what makes slow or endless heads fail fast instead of waiting for a terminator.
    Only bytes after the `scanned` ones that earlier calls examined are examined (and the
    request line only once: `line_checked`), so a head trickled in byte by byte costs linear
    time, not quadratic: a slow client must not buy seconds of CPU with 64 KiB of head.
    Returns the new `line_checked`.
    """
    pending = len(data) - start
    if pending > limits.max_head_size:
        if data.find(b"\n", start, start + limits.max_head_size) == -1:
            raise _error("request line too long", 414)
        raise _error("request header section too large", 431)
    new = start + scanned
    # A CR that ended the examined bytes is examined again, with the LF that may follow it.
    if scanned and data[new - 1] == 0x0D:
        new -= 1
    crlf = data.count(b"\r\n", new)
    if not limits.lenient_lf and data.count(b"\n", new) != crlf:
        raise _error("bare LF line terminator")
    # A CR not followed by LF is never valid; only a CR that ends the buffer may still be.
    if data.count(b"\r", new) - (data[-1] == 0x0D) != crlf:
        raise _error("bare CR in request head")
    if line_checked:
        return True
    # A complete request line that is already invalid (an HTTP/0.9 `GET /`, junk, a JSON or
    # Flash policy probe) is answered now: waiting for a blank line that never comes would
    # leave the client hanging until the head timeout.
    line_end = data.find(b"\n", new)
    if line_end == -1:
        return False
    line = data[start:line_end + 1]
    if limits.lenient_lf:
        line = _normalize_line_endings(line)
    m = grammar.REQUEST_LINE_RE.fullmatch(line)
    if m is None:
        raise _diagnose(line)
    if m.group(3) != b"1":
        raise _error("HTTP version not supported", 505)
    return True


def parse_request_head(data: bytes, start: int, head_end: int, after: int, limits: Limits
                       ) -> ParsedHead:
    """Parse data[start:head_end] (which ends with the last line's CRLF) into a request."""
    if after - start > limits.max_head_size:
        line_end = data.find(b"\n", start, after)
        if line_end - start > limits.max_head_size:
            raise _error("request line too long", 414)
        raise _error("request header section too large", 431)
    if limits.lenient_lf:
        data = _normalize_line_endings(data[start:head_end])
        start, head_end = 0, len(data)

    m = grammar.REQUEST_LINE_RE.match(data, start, head_end)
    if m is None:
        raise _diagnose(data[start:head_end])
    method, target, major, minor = m.groups()
    if major != b"1":
        raise _error("HTTP version not supported", 505)
    version = _VERSIONS.get(minor, b"1.1")

    fields_start = m.end()
    headers = grammar.field_lines(data, fields_start, head_end)
    if headers is None:
        raise _diagnose(data[start:head_end])
    if len(headers) > limits.max_header_count:
        raise _error("too many header fields", 431)

    _check_target(method, target)
    return _interpret(Request(method, target, version, headers), after)


def _check_target(method: bytes, target: bytes) -> None:
    """RFC 9112 §3.2: which request-target forms each method may use."""
    first = target[0]
    if method == b"CONNECT":
        if not grammar.AUTHORITY_FORM_RE.fullmatch(target):
            raise _error("CONNECT requires an authority-form target (host:port)")
    elif first == 0x2F:  # "/": origin-form
        return
    elif target == b"*":
        if method != b"OPTIONS":
            raise _error("asterisk-form target is only valid for OPTIONS")
    else:
        m = grammar.ABSOLUTE_FORM_RE.match(target)
        if m is None:
            raise _error("invalid request-target form")
        # RFC 9110 §4.2.1/§4.2.2: an http(s) URI with an empty host is invalid; reject it.
        scheme, _, authority = m.group().partition(b"://")
        host = authority.rpartition(b"@")[2]
        if scheme.lower() in (b"http", b"https") and (not host or host.startswith(b":")):
            raise _error("http URI with an empty host")


def _interpret(request: Request, end: int) -> ParsedHead:
    """Derive framing, keep-alive and expectations from the header fields."""
    http11 = request.http_version == b"1.1"
    host_count = 0
    content_lengths: list[bytes] = []
    codings: list[bytes] = []
    has_te = False
    connection_tokens: list[bytes] = []
    expect_continue = False
    upgrade = False
    specials = [field for field in request.headers if field[0] in _SPECIAL]
    if len(specials) <= 2:
        # Hot path: most requests carry a Host, perhaps one Connection, and nothing that
        # changes their framing or expectations.
        keep_alive = _host_and_connection_only(specials, http11)
        if keep_alive is not None:
            return ParsedHead(request, end, None, keep_alive, False, False)
    for name, value in specials:
        if name == b"host":
            host_count += 1
            if not grammar.HOST_RE.fullmatch(value):
                raise _error("invalid Host header")
        elif name == b"content-length":
            lengths = _split_list(value)
            if not lengths:
                raise _error("invalid Content-Length")
            content_lengths.extend(lengths)
        elif name == b"transfer-encoding":
            has_te = True
            codings.extend(_split_list(value.lower()))
        elif name == b"connection":
            connection_tokens.extend(_split_list(value.lower()))
        elif name == b"expect":
            expect_continue = value.lower() == b"100-continue"
        else:  # upgrade
            upgrade = True

    # RFC 9112 §3.2: exactly one Host field in an HTTP/1.1 request.
    # RFC 9112 §3.2: exactly one Host in an HTTP/1.1 request, and never more than one in any
    # request (two Hosts let a proxy and the application route on different ones).
    if host_count != 1 and (http11 or host_count):
        raise _error("missing Host header" if host_count == 0 else "multiple Host headers")

    body: BodyReader | None = None
    if has_te:
        # RFC 9112 §6.1: HTTP/1.0 framing with Transfer-Encoding is faulty.
        if not http11:
            raise _error("Transfer-Encoding in an HTTP/1.0 request")
        # RFC 9112 §6.1/§6.3: CL with TE is how smuggling starts; reject, don't pick one.
        if content_lengths:
            raise _error("both Content-Length and Transfer-Encoding")
        if not codings or codings[-1] != b"chunked":
            raise _error("chunked is not the final transfer coding")
        if codings.count(b"chunked") > 1:
            raise _error("chunked applied more than once")
        if len(codings) > 1:
            raise _error("unsupported transfer coding", 501)
        body = ChunkedReader()
    elif content_lengths:
        size = -1
        for length in content_lengths:
            if not grammar.DIGITS_RE.fullmatch(length):
                raise _error("invalid Content-Length")
            # Every value is bounded before int(): past 4300 digits int() raises ValueError,
            # and leading zeros alone must not make a valid length fail.
            significant = length.lstrip(b"0")
            if len(significant) > _MAX_CONTENT_LENGTH_DIGITS:
                raise _error("Content-Length too large")
            number = int(significant) if significant else 0
            if size not in (-1, number):
                raise _error("conflicting Content-Length values")
            size = number
        if size:
            body = ContentLengthReader(size)

    if http11:
        keep_alive = b"close" not in connection_tokens
    else:
        keep_alive = b"keep-alive" in connection_tokens and b"close" not in connection_tokens
    proposal = upgrade and http11 and b"upgrade" in connection_tokens
    return ParsedHead(request, end, body, keep_alive, expect_continue and http11, proposal,
                      upgrade)


def _host_and_connection_only(specials: Headers, http11: bool) -> bool | None:
    """Keep-alive for a request whose special fields are one valid Host and at most one
    single-token Connection; None when it is anything else (the full rules then apply)."""
    host = connection = None
    for name, value in specials:
        if name == b"host" and host is None:
            host = value
        elif name == b"connection" and connection is None:
            connection = value.lower()
        else:
            return None
    if host is None or (connection is not None and b"," in connection):
        return None
    if grammar.HOST_RE.fullmatch(host) is None:
        raise _error("invalid Host header")
    if connection is None:
        return http11
    return connection != b"close" if http11 else connection == b"keep-alive"


def _split_list(value: bytes) -> list[bytes]:
    """RFC 9110 §5.6.1: a comma-separated list; empty elements are ignored."""
    if b"," not in value:
        return [value] if value else []
    return [item for item in (part.strip(b" \t") for part in value.split(b",")) if item]


def _normalize_line_endings(head: bytes) -> bytes:
    """lenient_lf: turn bare LF into CRLF; a CR that is not before an LF stays, and fails."""
    return head.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _diagnose(head: bytes) -> RemoteProtocolError:
    """Explain why a head failed the fast grammar check (slow path, invalid input only)."""
    lines = head.split(b"\r\n")
    if lines and lines[-1] == b"":
        lines.pop()
    request_line = lines[0] if lines else b""
    without_crlf = head.replace(b"\r\n", b"")
    if b"\r" in without_crlf:
        return _error("bare CR in request head")
    if b"\n" in without_crlf:
        return _error("bare LF line terminator")
    parts = request_line.split(b" ")
    if len(parts) != 3:
        if len(parts) == 2:
            return _error("request line without an HTTP version")
        return _error("malformed request line")
    method, target, version = parts
    if not re.fullmatch(grammar.TOKEN, method):
        return _error("method is not a token")
    if not target or not re.fullmatch(grammar.TARGET_CHAR + rb"+", target):
        return _error("invalid character in request-target")
    vm = re.fullmatch(rb"HTTP/([0-9])\.([0-9])", version)
    if vm is None:
        return _error("malformed HTTP version")
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t"):
            return _error("obsolete line folding or leading whitespace in header section")
        name, colon, value = line.partition(b":")
        if not colon:
            return _error("header line without a colon")
        if not name:
            return _error("empty header field name")
        if name[-1:] in (b" ", b"\t"):
            return _error("whitespace between header field name and colon")
        if not re.fullmatch(grammar.TOKEN, name):
            return _error("invalid character in header field name")
        if not re.fullmatch(rb"[ \t]*" + grammar.FIELD_VALUE + rb"[ \t]*", value):
            return _error("invalid character in header field value")
    return _error("malformed request head")
