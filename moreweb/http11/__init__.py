"""moreweb's sans-IO HTTP/1.1 engine (RFC 9110 / RFC 9112, server side).

Bytes in, events out; events in, bytes out. Nothing in this package may import asyncio,
socket or anything ASGI: it is the strict core that every protocol is built on.
"""

from .connection import Connection
from .errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from .events import (
    NEED_DATA,
    PAUSED,
    ConnectionClosed,
    Data,
    EndOfMessage,
    Event,
    Headers,
    InformationalResponse,
    Request,
    Response,
)
from .limits import Limits
from .states import (
    CLOSED,
    DONE,
    ERROR,
    IDLE,
    MIGHT_SWITCH_PROTOCOL,
    MUST_CLOSE,
    SEND_BODY,
    SEND_RESPONSE,
    SWITCHED_PROTOCOL,
    State,
)

__all__ = [
    "CLOSED",
    "DONE",
    "ERROR",
    "IDLE",
    "MIGHT_SWITCH_PROTOCOL",
    "MUST_CLOSE",
    "NEED_DATA",
    "PAUSED",
    "SEND_BODY",
    "SEND_RESPONSE",
    "SWITCHED_PROTOCOL",
    "Connection",
    "ConnectionClosed",
    "Data",
    "EndOfMessage",
    "Event",
    "Headers",
    "InformationalResponse",
    "Limits",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "Request",
    "Response",
    "State",
]
