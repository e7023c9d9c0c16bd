"""Property tests (hypothesis) for the engine as a whole.

1. Any valid request stream (pipelined requests, every framing, extensions, trailers, optional
   whitespace, leading empty lines) yields exactly the events a model predicts, and the same
   events however the bytes are split across `receive_data` calls (RFC 9112 puts no meaning in
   TCP segment boundaries). Body pieces are compared merged: how a body is cut into Data events
   is not part of the protocol.
2. The same stream with bare-LF heads under `lenient_lf` yields the same events.
3. A corrupted stream is judged the same whole or split: accepted with the same events, or
   rejected (never an exception other than the engine's protocol error).
4. Round trip through the sending side: every response the engine writes is read back by an
   independent HTTP/1.1 client implementation (h11, a test-only peer) as the same status, fields,
   body and trailers, with the same keep-alive decision.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest
from http11_driver import Outcome, feed, split_at
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moreweb.http11 import (
    Connection,
    ConnectionClosed,
    Data,
    EndOfMessage,
    Event,
    Headers,
    Limits,
    LocalProtocolError,
    Request,
    Response,
)

# A deeper run: MOREWEB_HYPOTHESIS_EXAMPLES=5000 pytest tests/http11/test_http11_properties.py
SETTINGS = settings(max_examples=int(os.environ.get("MOREWEB_HYPOTHESIS_EXAMPLES", "150")),
                    deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Target characters: visible ASCII except `"`, `#`, `<`, `>` (see grammar.TARGET_CHAR).
TARGET_CHARS = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"#<>')
SPECIAL = {b"host", b"content-length", b"transfer-encoding", b"connection", b"expect", b"upgrade"}

tokens = st.text(TCHARS, min_size=1, max_size=12).map(str.encode)
vchar = st.one_of(st.integers(0x21, 0x7E), st.integers(0x80, 0xFF))
field_values = st.one_of(
    st.just(b""),
    st.builds(lambda first, mid, last: bytes([first]) + mid + bytes([last]),
              vchar, st.lists(st.one_of(vchar, st.sampled_from([0x20, 0x09])), max_size=15)
              .map(bytes), vchar),
    vchar.map(lambda c: bytes([c])),
)
ows = st.sampled_from([b"", b" ", b"\t", b"  ", b" \t"])
field_names = tokens.filter(lambda n: n.lower() not in SPECIAL)


@dataclass
class Field:
    name: bytes       # as on the wire (any case)
    value: bytes      # without OWS
    lead: bytes
    trail: bytes

    def wire(self) -> bytes:
        return self.name + b":" + self.lead + self.value + self.trail

    def event(self) -> tuple[bytes, bytes]:
        return self.name.lower(), self.value


fields = st.builds(Field, field_names, field_values, ows, ows)


@dataclass
class Chunk:
    data: bytes
    ext: bytes


chunk_exts = st.sampled_from([b"", b";a", b";a=b", b' ; n = "q \\" v"', b";x=1;y"])


@dataclass
class Message:
    method: bytes
    target: bytes
    minor: int         # 0 or 1 (2-9 read as 1.1)
    fields: list[Field]
    framing: str       # "none", "length", "chunked"
    body: bytes
    chunks: list[Chunk]
    last_ext: bytes
    trailers: list[Field]
    leading_empty_lines: int
    host_at: int

    def head_lines(self, last: bool) -> list[bytes]:
        lines = [f.wire() for f in self.fields]
        if self.minor != 0:
            lines.insert(min(self.host_at, len(lines)), b"Host: example.com")
        if self.framing == "length":
            lines.append(b"Content-Length: %d" % len(self.body))
        elif self.framing == "chunked":
            lines.append(b"Transfer-Encoding: chunked")
        if self.minor == 0 and not last:
            lines.append(b"Connection: keep-alive")
        return lines

    def wire(self, last: bool, eol: bytes = b"\r\n") -> bytes:
        version = b"HTTP/1.%d" % self.minor
        head = eol * self.leading_empty_lines
        head += self.method + b" " + self.target + b" " + version + eol
        head += b"".join(line + eol for line in self.head_lines(last)) + eol
        if self.framing == "length":
            return head + self.body
        if self.framing == "chunked":
            # Chunked framing is always CRLF: lenient_lf never covers it.
            body = b"".join(b"%x%b\r\n%b\r\n" % (len(c.data), c.ext, c.data) for c in self.chunks)
            body += b"0" + self.last_ext + b"\r\n"
            body += b"".join(t.wire() + b"\r\n" for t in self.trailers) + b"\r\n"
            return head + body
        return head

    def events(self, last: bool) -> list[Event]:
        headers: Headers = []
        for line in self.head_lines(last):
            name, _, value = line.partition(b":")
            headers.append((name.lower(), value.strip(b" \t")))
        version = b"1.0" if self.minor == 0 else b"1.1"
        out: list[Event] = [Request(self.method, self.target, version, headers)]
        body = self.body if self.framing == "length" else b"".join(c.data for c in self.chunks)
        if body and self.framing != "none":
            out.append(Data(body))
        trailers = [t.event() for t in self.trailers] if self.framing == "chunked" else []
        out.append(EndOfMessage(trailers))
        return out


@st.composite
def messages(draw: st.DrawFn) -> Message:
    minor = draw(st.sampled_from([0, 1, 1, 1, 2]))
    framing = draw(st.sampled_from(["none", "length", "chunked"] if minor else ["none", "length"]))
    return Message(
        method=draw(st.one_of(st.sampled_from([b"GET", b"POST", b"PUT", b"DELETE"]), tokens)
                    .filter(lambda m: m != b"CONNECT")),
        target=b"/" + draw(st.text(TARGET_CHARS, max_size=20)).encode(),
        minor=minor,
        fields=draw(st.lists(fields, max_size=6)),
        framing=framing,
        body=draw(st.binary(max_size=40)),
        chunks=draw(st.lists(st.builds(Chunk, st.binary(min_size=1, max_size=20), chunk_exts),
                             max_size=4)),
        last_ext=draw(chunk_exts),
        trailers=draw(st.lists(fields, max_size=3)) if framing == "chunked" else [],
        leading_empty_lines=draw(st.sampled_from([0, 0, 0, 1, 2])),
        host_at=draw(st.integers(0, 6)),
    )


def stream_of(msgs: list[Message], eol: bytes = b"\r\n") -> bytes:
    return b"".join(m.wire(i == len(msgs) - 1, eol) for i, m in enumerate(msgs))


def expected_events(msgs: list[Message]) -> list[Event]:
    out: list[Event] = []
    for i, m in enumerate(msgs):
        out += m.events(i == len(msgs) - 1)
    return [*out, ConnectionClosed()]


def same_outcome(a: Outcome, b: Outcome) -> bool:
    return a.events == b.events and (a.error is None) == (b.error is None)


@SETTINGS
@given(st.lists(messages(), min_size=1, max_size=4), st.data())
def test_valid_streams_parse_as_modelled_however_split(msgs: list[Message], data: st.DataObject
                                                       ) -> None:
    stream = stream_of(msgs)
    expected = expected_events(msgs)
    whole = feed(stream)
    assert whole.error is None, (whole.error.status_code, whole.error.reason)
    assert whole.events == expected
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=12))
    pieces = split_at(stream, cuts)
    split = feed(pieces)
    assert split.error is None, (pieces, split.error.status_code, split.error.reason)
    assert split.events == expected
    bytewise = feed([stream[i:i + 1] for i in range(len(stream))])
    assert bytewise.error is None and bytewise.events == expected


@SETTINGS
@given(st.lists(messages(), min_size=1, max_size=3), st.data())
def test_bare_lf_streams_parse_the_same_under_lenient_lf(msgs: list[Message],
                                                         data: st.DataObject) -> None:
    lenient = Limits(lenient_lf=True)
    stream = stream_of(msgs, b"\n")
    expected = expected_events(msgs)
    assert feed(stream, lenient).events == expected
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=12))
    assert feed(split_at(stream, cuts), lenient).events == expected
    mixed = stream_of(msgs, data.draw(st.sampled_from([b"\r\n", b"\n"])))
    assert feed(mixed, lenient).events == expected


NASTY = [b"\r", b"\n", b"\x00", b" ", b"\t", b":", b"0", b"f", b"\r\n", b";", b"\"", b"\xff",
         b"\r\n\r\n", b"Transfer-Encoding: chunked\r\n", b"Content-Length: 3\r\n", b"HTTP/1.1"]


@SETTINGS
@given(st.lists(messages(), min_size=1, max_size=3), st.data(), st.booleans())
def test_corrupted_streams_are_judged_the_same_whole_or_split(
        msgs: list[Message], data: st.DataObject, lenient_lf: bool) -> None:
    limits = Limits(lenient_lf=lenient_lf, max_head_size=400, max_chunk_line=40,
                    max_header_count=8)
    stream = bytearray(stream_of(msgs))
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(stream)))
        action = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        if action == "insert":
            stream[at:at] = data.draw(st.sampled_from(NASTY))
        elif action == "delete":
            del stream[at:at + data.draw(st.integers(1, 3))]
        else:
            stream[at:at + 1] = bytes([data.draw(st.integers(0, 255))])
    raw = bytes(stream)
    whole = feed(raw, limits)
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=12))
    split = feed(split_at(raw, cuts), limits)
    assert (whole.error is None) == (split.error is None), (
        whole.error and whole.error.reason, split.error and split.error.reason)
    if whole.error is None:
        assert whole.events == split.events
    else:
        # Same requests seen before the error (bodies may have been cut at different points).
        assert whole.requests == split.requests
        assert whole.error.status_code in (400, 414, 431, 501, 505)


# -- round trip through the sending side ----------------------------------------------------------

h11 = pytest.importorskip("h11", reason="h11 (a test-only peer) is not installed")

FRAMING_NAMES = {b"content-length", b"transfer-encoding", b"connection"}
response_fields = st.lists(
    st.tuples(field_names.filter(lambda n: n.lower() not in FRAMING_NAMES),
              field_values.filter(lambda v: v == v.strip(b" \t"))),
    max_size=5)


@SETTINGS
@given(
    method=st.sampled_from([b"GET", b"HEAD", b"POST"]),
    minor=st.sampled_from([0, 1]),
    keep_alive_10=st.booleans(),
    status=st.sampled_from([200, 201, 204, 206, 301, 304, 404, 418, 500, 599]),
    reason=st.sampled_from([b"", b"Custom Reason"]),
    fields=response_fields,
    pieces=st.lists(st.binary(max_size=30), max_size=5),
    declare_length=st.booleans(),
    whole=st.booleans(),
    trailers=st.lists(st.tuples(field_names, st.just(b"t")), max_size=2),
)
def test_responses_round_trip_through_an_independent_client(
        method: bytes, minor: int, keep_alive_10: bool, status: int, reason: bytes,
        fields: Headers, pieces: list[bytes], declare_length: bool, whole: bool,
        trailers: Headers) -> None:
    head = method + b" / HTTP/1.%d\r\nHost: a\r\n" % minor
    if minor == 0 and keep_alive_10:
        head += b"Connection: keep-alive\r\n"
    conn = Connection()
    conn.receive_data(head + b"\r\n")
    conn.next_event(), conn.next_event()

    body = b"".join(pieces)
    headers = list(fields)
    if declare_length:
        headers.append((b"Content-Length", b"%d" % len(body)))
    response = Response(status, headers, reason)
    if whole:
        wire = conn.send_response(response, body)
        trailers = []
    else:
        wire = conn.send(response)
        for piece in pieces:
            wire += conn.send(Data(piece))
        wire += conn.send(EndOfMessage(trailers))

    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method=method, target=b"/", headers=[(b"host", b"a")]))
    client.send(h11.EndOfMessage())
    client.receive_data(wire)
    if not conn.keep_alive:
        client.receive_data(b"")  # the server closes: that may be what ends the body

    got_body = b""
    got_trailers: list[tuple[bytes, bytes]] = []
    resp = None
    while True:
        ev = client.next_event()
        if type(ev) is h11.Response:
            resp = ev
        elif type(ev) is h11.Data:
            got_body += ev.data
        elif type(ev) is h11.EndOfMessage:
            got_trailers = list(ev.headers)
            break
        else:
            raise AssertionError(f"unexpected {ev!r}")
    assert resp is not None and resp.status_code == status
    assert resp.reason == (reason or h11_reason(wire))
    sent_fields = [(n.lower(), v) for n, v in fields]
    assert [(n, v) for n, v in resp.headers if n not in FRAMING_NAMES] == sent_fields
    has_body = method != b"HEAD" and status not in (204, 304)
    assert got_body == (body if has_body else b"")
    chunked = any(n == b"transfer-encoding" for n, _ in resp.headers)
    assert got_trailers == ([(n.lower(), v) for n, v in trailers] if chunked else [])
    assert client.their_state is (h11.DONE if conn.keep_alive else h11.MUST_CLOSE)
    assert client.next_event() in (h11.PAUSED, h11.NEED_DATA, h11.ConnectionClosed())


def h11_reason(wire: bytes) -> bytes:
    return wire.split(b"\r\n", 1)[0].split(b" ", 2)[2]


def test_connection_closed_is_not_sendable_mid_body() -> None:
    # Anchor for the round trip: the engine refuses to end a response by closing early
    # when it promised a length (the client would read a truncated body as complete).
    conn = Connection()
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    conn.next_event(), conn.next_event()
    conn.send(Response(200, [(b"content-length", b"5")]))
    with pytest.raises(LocalProtocolError):
        conn.send(ConnectionClosed())
