"""Errors raised by the WebSocket codec.

Three kinds, because each one asks its caller for a different reaction: the peer broke RFC 6455
(fail the connection with a close code), our own side asked for something the protocol forbids
(a bug in the server or the application: raise it to them), or an opening handshake was refused
(answer with an HTTP status instead of upgrading). Reasons are short fixed texts written here;
they never quote the peer's bytes, so they are safe to put in a close frame or a response body.
"""

from __future__ import annotations

Headers = list[tuple[bytes, bytes]]


class WebSocketError(Exception):
    """Base class of every error this package raises."""


class ProtocolError(WebSocketError):
    """The peer violated the protocol; the connection must fail with `code` (RFC 6455 7.1.7)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


class LocalProtocolError(WebSocketError):
    """Our side tried to send something RFC 6455 forbids (data after close, a reserved code)."""


class HandshakeError(WebSocketError):
    """The opening handshake is refused: answer `status_code` with `headers` and `reason`."""

    def __init__(self, reason: str, status_code: int = 400, headers: Headers | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code
        self.headers: Headers = headers if headers is not None else []
