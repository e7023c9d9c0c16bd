"""The events that cross the HTTP/1.1 engine's boundary.

Bytes go in and these come out (requests, body data, end of message); these go in and bytes come
out (responses). They are NamedTuples: immutable, cheap to build on the hot path, and compared by
value in tests. Header lists are owned by the event: nobody mutates them after construction.
"""

from __future__ import annotations

from typing import NamedTuple

Headers = list[tuple[bytes, bytes]]


class Request(NamedTuple):
    """A request head. `headers` keeps wire order and duplicates, names lowercased."""

    method: bytes
    target: bytes
    http_version: bytes  # b"1.0" or b"1.1"
    headers: Headers


class Data(NamedTuple):
    """A piece of a message body, after framing has been removed."""

    data: bytes


class EndOfMessage(NamedTuple):
    """The end of a message body; `headers` holds chunked trailer fields, if any."""

    headers: Headers = []


class ConnectionClosed(NamedTuple):
    """The peer closed its side of the connection."""


class InformationalResponse(NamedTuple):
    """A 1xx response head (100 Continue, 101 Switching Protocols)."""

    status_code: int
    headers: Headers = []
    reason: bytes = b""


class Response(NamedTuple):
    """A final (2xx-5xx) response head."""

    status_code: int
    headers: Headers = []
    reason: bytes = b""


Event = Request | Data | EndOfMessage | ConnectionClosed | InformationalResponse | Response


class _Sentinel:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


#: next_event(): more bytes are needed before another event can be produced.
NEED_DATA = _Sentinel("NEED_DATA")
#: next_event(): the peer's next message must wait until the current cycle ends.
PAUSED = _Sentinel("PAUSED")
