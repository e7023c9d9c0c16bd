"""Errors raised by the HTTP/1.1 engine.

Every error carries the status code a server should answer with and a short reason that is safe
to show to the peer (it never echoes the peer's bytes back, so it cannot carry an injection).
"""

from __future__ import annotations


class ProtocolError(Exception):
    """A violation of HTTP/1.1 framing or grammar."""

    def __init__(self, reason: str, status_code: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol: answer with `status_code` and close."""


class LocalProtocolError(ProtocolError):
    """We (or the application driving us) tried to send something invalid."""
