"""The server side of the opening handshake (RFC 6455 4.2), as pure functions over headers.

Takes what the HTTP/1.1 engine parsed (method, version, headers as lowercased-name/value byte
pairs) and says whether it is a valid WebSocket upgrade, what it asks for (subprotocols,
extensions) and which headers the 101 response carries. It never writes a response and never
reads a socket: the HTTP layer does that with the values computed here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable
from typing import NamedTuple

from .deflate import DeflateOptions, PerMessageDeflate, negotiate
from .errors import HandshakeError, Headers, LocalProtocolError

#: The GUID every server appends to the client's key (RFC 6455 1.3).
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

#: The only version of the protocol RFC 6455 defines.
SUPPORTED_VERSION = b"13"

# Headers the 101 response owns; an application may not set them through extra headers. ASGI
# also says subprotocols go through `subprotocol`, never through headers.
_RESERVED_RESPONSE_HEADERS = frozenset(
    {
        b"upgrade",
        b"connection",
        b"sec-websocket-accept",
        b"sec-websocket-protocol",
        b"sec-websocket-extensions",
    }
)


class HandshakeRequest(NamedTuple):
    """What a valid upgrade request asks for."""

    #: The Sec-WebSocket-Key value, as sent (whitespace trimmed).
    key: bytes
    #: Requested subprotocols, in the client's order of preference.
    subprotocols: list[str]
    #: Raw Sec-WebSocket-Extensions values, for `negotiate()`.
    extensions: list[bytes]


def _tokens(headers: Headers, name: bytes) -> list[bytes]:
    """All comma-separated elements of every `name` header, trimmed, lowercased, non-empty."""
    tokens: list[bytes] = []
    for key, value in headers:
        if key == name:
            tokens.extend(t for t in (part.strip().lower() for part in value.split(b",")) if t)
    return tokens


def _values(headers: Headers, name: bytes) -> list[bytes]:
    return [value for key, value in headers if key == name]


def is_websocket_upgrade(headers: Headers) -> bool:
    """Whether a request asks to upgrade to WebSocket, so the HTTP layer routes it here.

    Only looks at Upgrade; `validate_request` then enforces the rest, so a half-formed upgrade
    gets a 400 explaining what is wrong rather than being served as plain HTTP.
    """
    return b"websocket" in _tokens(headers, b"upgrade")


def validate_request(method: bytes, http_version: bytes, headers: Headers) -> HandshakeRequest:
    """Check a client's opening handshake (RFC 6455 4.2.1); raises HandshakeError when invalid.

    Errors are 400 with a reason, except an unsupported Sec-WebSocket-Version, which is 426 with
    `Sec-WebSocket-Version: 13` so the client can retry with a version we speak (4.2.2).
    """
    if method != b"GET":
        raise HandshakeError("WebSocket handshake must use GET")
    try:
        major, minor = (int(part) for part in http_version.split(b"."))
    except ValueError:
        raise HandshakeError("WebSocket handshake must use HTTP/1.1 or later")
    if (major, minor) < (1, 1):
        raise HandshakeError("WebSocket handshake must use HTTP/1.1 or later")
    if b"websocket" not in _tokens(headers, b"upgrade"):
        raise HandshakeError("missing 'Upgrade: websocket' header")
    if b"upgrade" not in _tokens(headers, b"connection"):
        raise HandshakeError("missing 'upgrade' token in the Connection header")

    keys = _values(headers, b"sec-websocket-key")
    if len(keys) != 1:
        raise HandshakeError("expected exactly one Sec-WebSocket-Key header")
    key = keys[0].strip()
    try:
        nonce = base64.b64decode(key, validate=True)
    except binascii.Error:
        nonce = b""
    if len(nonce) != 16:
        # The key is a base64-encoded 16-byte random nonce (RFC 6455 4.1).
        raise HandshakeError("Sec-WebSocket-Key is not a base64-encoded 16-byte value")

    versions = _values(headers, b"sec-websocket-version")
    if len(versions) != 1 or versions[0].strip() != SUPPORTED_VERSION:
        raise HandshakeError(
            "unsupported WebSocket version",
            status_code=426,
            headers=[(b"sec-websocket-version", SUPPORTED_VERSION)],
        )

    return HandshakeRequest(
        key=key,
        subprotocols=parse_subprotocols(headers),
        extensions=_values(headers, b"sec-websocket-extensions"),
    )


def parse_subprotocols(headers: Headers) -> list[str]:
    """Requested subprotocols in order (RFC 6455 4.1 item 10), for the ASGI scope."""
    protocols: list[str] = []
    for key, value in headers:
        if key == b"sec-websocket-protocol":
            for part in value.decode("latin-1").split(","):
                part = part.strip()
                if part:
                    protocols.append(part)
    return protocols


def accept_key(key: bytes) -> bytes:
    """Sec-WebSocket-Accept: base64(SHA-1(key + GUID)) (RFC 6455 4.2.2 item 5.4)."""
    return base64.b64encode(hashlib.sha1(key + _GUID).digest())


def build_response_headers(
    request: HandshakeRequest,
    subprotocol: str | None = None,
    extensions: bytes | None = None,
    extra_headers: Iterable[tuple[bytes, bytes]] = (),
) -> Headers:
    """Headers of the 101 Switching Protocols response (RFC 6455 4.2.2 item 5).

    `subprotocol` must be one the client offered (a server may only pick among them);
    `extensions` is the value `negotiate()` returned; `extra_headers` come from the application
    and may not override the handshake's own headers. Raises LocalProtocolError otherwise.
    """
    headers: Headers = [
        (b"upgrade", b"websocket"),
        (b"connection", b"Upgrade"),
        (b"sec-websocket-accept", accept_key(request.key)),
    ]
    if subprotocol is not None:
        if subprotocol not in request.subprotocols:
            raise LocalProtocolError(f"subprotocol {subprotocol!r} was not offered by the client")
        headers.append((b"sec-websocket-protocol", subprotocol.encode("latin-1")))
    if extensions is not None:
        headers.append((b"sec-websocket-extensions", extensions))
    for name, value in extra_headers:
        name = name.lower()
        if name in _RESERVED_RESPONSE_HEADERS:
            raise LocalProtocolError(f"header {name!r} is set by the WebSocket handshake")
        headers.append((name, value))
    return headers


def accept(
    request: HandshakeRequest,
    subprotocol: str | None = None,
    extra_headers: Iterable[tuple[bytes, bytes]] = (),
    deflate: DeflateOptions | None = None,
) -> tuple[Headers, PerMessageDeflate | None]:
    """One call for the server: the 101 headers and the codec for `Connection(deflate=...)`.

    `deflate=None` disables permessage-deflate; pass `DeflateOptions()` to enable it.
    """
    extension: bytes | None = None
    codec: PerMessageDeflate | None = None
    if deflate is not None and request.extensions:
        negotiated = negotiate(request.extensions, deflate)
        if negotiated is not None:
            extension, codec = negotiated
    return build_response_headers(request, subprotocol, extension, extra_headers), codec
