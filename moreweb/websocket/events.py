"""The events a WebSocket connection reports to the code driving it.

Bytes go in and these come out. Messages are whole (fragments are reassembled), because ASGI
hands applications whole messages. NamedTuples: immutable, cheap to build, compared by value in
tests, dispatched on with `type(event) is TextMessage`.
"""

from __future__ import annotations

from typing import NamedTuple


class TextMessage(NamedTuple):
    """A complete text message, already validated as UTF-8."""

    data: str


class BytesMessage(NamedTuple):
    """A complete binary message."""

    data: bytes


class Ping(NamedTuple):
    """The peer sent a ping; answer it with `Connection.reply_to_ping(event)`."""

    payload: bytes


class Pong(NamedTuple):
    """The peer sent a pong (an answer to our ping, or an unsolicited heartbeat)."""

    payload: bytes


class CloseReceived(NamedTuple):
    """The peer closed; `code` is 1005 when its close frame carried no code.

    If we had not closed yet, the echo close frame is already queued in `data_to_send()`.
    """

    code: int
    reason: str


class ConnectionFailed(NamedTuple):
    """The peer violated the protocol (RFC 6455 7.1.7 "Fail the WebSocket Connection").

    The close frame carrying `code` is queued in `data_to_send()` (unless we had already sent
    one); send it, then close the transport without waiting for the peer.
    """

    code: int
    reason: str


Event = TextMessage | BytesMessage | Ping | Pong | CloseReceived | ConnectionFailed
