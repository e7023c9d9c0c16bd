"""The sans-IO WebSocket codec (RFC 6455, RFC 7692 permessage-deflate) for moreweb.

Bytes in, events out; calls in, bytes out. Nothing in this package may import asyncio, open a
socket or know about ASGI: the protocol layer drives it. Server role by default.
"""

from .close import is_valid_code
from .connection import DEFAULT_MAX_SIZE, Connection, ConnectionState
from .deflate import DeflateOptions, PerMessageDeflate, negotiate
from .errors import HandshakeError, LocalProtocolError, ProtocolError, WebSocketError
from .events import BytesMessage, CloseReceived, ConnectionFailed, Event, Ping, Pong, TextMessage
from .handshake import (
    HandshakeRequest,
    accept,
    accept_key,
    build_response_headers,
    is_websocket_upgrade,
    parse_subprotocols,
    validate_request,
)

__all__ = [
    "DEFAULT_MAX_SIZE",
    "BytesMessage",
    "CloseReceived",
    "Connection",
    "ConnectionFailed",
    "ConnectionState",
    "DeflateOptions",
    "Event",
    "HandshakeError",
    "HandshakeRequest",
    "LocalProtocolError",
    "PerMessageDeflate",
    "Ping",
    "Pong",
    "ProtocolError",
    "TextMessage",
    "WebSocketError",
    "accept",
    "accept_key",
    "build_response_headers",
    "is_valid_code",
    "is_websocket_upgrade",
    "negotiate",
    "parse_subprotocols",
    "validate_request",
]
