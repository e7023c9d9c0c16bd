"""Drive a server-side `moreweb.http11.Connection` the way a real server would, for tests.

It feeds bytes (whole or in pieces), pulls events until the engine needs data, answers every
complete request with a small response so pipelined requests get their turn, and records what
came out: the events (consecutive Data merged, since how a body is cut into pieces is not part
of the protocol) and the protocol error that stopped the connection, if any.

It is not a test module (pytest does not collect it); the tests import it by name, which works
because pytest puts this folder on sys.path for the test modules beside it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import pairwise

import pytest

from moreweb.http11 import (
    DONE,
    MIGHT_SWITCH_PROTOCOL,
    MUST_CLOSE,
    NEED_DATA,
    PAUSED,
    SEND_RESPONSE,
    Connection,
    ConnectionClosed,
    Data,
    EndOfMessage,
    Event,
    Limits,
    RemoteProtocolError,
    Request,
    Response,
)

#: Any HTTP/1.1 request head that the engine must accept, for tests that only need a request.
GET = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"


@dataclass
class Outcome:
    events: list[Event] = field(default_factory=list)
    error: RemoteProtocolError | None = None
    conn: Connection | None = None

    @property
    def requests(self) -> list[Request]:
        return [e for e in self.events if type(e) is Request]

    @property
    def status(self) -> int | None:
        return None if self.error is None else self.error.status_code


def _append(events: list[Event], event: Event) -> None:
    if type(event) is Data and events and type(events[-1]) is Data:
        events[-1] = Data(events[-1].data + event.data)  # type: ignore[union-attr]
    else:
        events.append(event)


def _answer(conn: Connection) -> None:
    """Answer a finished request and start the next cycle when the connection allows it."""
    if conn.our_state is SEND_RESPONSE and conn.their_state in (
            DONE, MUST_CLOSE, MIGHT_SWITCH_PROTOCOL):
        # 405 declines a CONNECT; any final response declines an Upgrade proposal.
        conn.send_response(Response(200 if conn.their_state is not MIGHT_SWITCH_PROTOCOL
                                    else 405), b"ok")
    if conn.our_state is DONE and conn.their_state is DONE:
        conn.start_next_cycle()


def pump(conn: Connection, out: Outcome) -> bool:
    """Pull events until the engine needs data; return False once the connection is over."""
    while True:
        try:
            event = conn.next_event()
        except RemoteProtocolError as exc:
            out.error = exc
            return False
        if event is NEED_DATA:
            return True
        if event is PAUSED:
            before = (conn.their_state, conn.our_state)
            _answer(conn)
            if (conn.their_state, conn.our_state) == before:
                return True  # nothing we can do: the next bytes wait (or belong elsewhere)
            continue
        _append(out.events, event)  # type: ignore[arg-type]
        if type(event) is ConnectionClosed:
            return False
        if type(event) is EndOfMessage:
            _answer(conn)


def feed(chunks: bytes | Iterable[bytes], limits: Limits | None = None, *,
         close: bool = True) -> Outcome:
    """Feed `chunks` (one bytes object = fed whole), then EOF unless `close` is False."""
    conn = Connection(limits)
    out = Outcome(conn=conn)
    pieces = [chunks] if isinstance(chunks, bytes) else list(chunks)
    if close:
        pieces.append(b"")
    for piece in pieces:
        if not piece and not close:
            continue
        conn.receive_data(piece)
        if not pump(conn, out):
            break
    return out


def split_at(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    """Cut `data` at the given offsets (any order, duplicates and out-of-range ignored)."""
    points = sorted({c for c in cuts if 0 < c < len(data)})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in pairwise(bounds) if b > a]


def one_request(data: bytes, limits: Limits | None = None) -> Request:
    """Parse `data` and return its first request, failing loudly if the engine rejected it."""
    out = feed(data, limits)
    if out.error is not None:
        raise AssertionError(f"rejected: {out.error.status_code} {out.error.reason}")
    return out.requests[0]


def rejects(data: bytes, limits: Limits | None = None) -> RemoteProtocolError:
    """Parse `data` and return the protocol error it must have caused."""
    out = feed(data, limits)
    if out.error is None:
        raise AssertionError(f"accepted: {out.events!r}")
    return out.error


#: Where tests leave lines for the terminal summary (printed by this folder's conftest.py).
SUMMARY_KEY = pytest.StashKey[list[str]]()
