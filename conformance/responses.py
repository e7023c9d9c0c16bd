"""A small, forgiving HTTP/1.1 response reader for the suite's raw-socket client.

Servers under test may answer several pipelined requests at once, send 1xx interim responses,
frame bodies by Content-Length, chunked coding or connection close, and answer HEAD without a
body. This reader turns the byte stream into a list of responses so the judge can count and
inspect them. It is deliberately tolerant (bare LF, odd reason phrases): its job is to report
what the server said, never to police the server's response syntax beyond what framing needs.
It must never block or do I/O: it is fed bytes and told about EOF.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Response:
    status: int
    reason: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    interim: list[int] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        """The first value of `name` (case-insensitive), or None."""
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    @property
    def closes(self) -> bool:
        value = self.header("connection") or ""
        return "close" in [token.strip().lower() for token in value.split(",")]


class ResponseReader:
    """Feed bytes with `feed`, call `eof` when the peer closed; read `responses`/`error`."""

    def __init__(self, head_requests: tuple[int, ...] = ()) -> None:
        self.responses: list[Response] = []
        self.interim_pending: list[int] = []
        self.error = ""  # set when the stream cannot be parsed; reading then stops
        self.incomplete = False  # EOF arrived in the middle of a response
        self._buffer = b""
        self._head_requests = set(head_requests)
        self._current: Response | None = None
        self._remaining = 0  # bytes left in a Content-Length body / current chunk
        self._mode = "head"  # head | length | chunk-size | chunk-data | chunk-crlf | trailers
        # | until-close

    def feed(self, data: bytes) -> None:
        if self.error:
            return
        self._buffer += data
        while not self.error and self._step():
            pass

    def eof(self) -> None:
        if self._mode == "until-close" and self._current is not None:
            self._current.body += self._buffer
            self._finish()
        elif self._mode != "head" or self._buffer.strip():
            self.incomplete = True

    def _line(self) -> bytes | None:
        end = self._buffer.find(b"\n")
        if end < 0:
            return None
        line = self._buffer[:end].rstrip(b"\r")
        self._buffer = self._buffer[end + 1:]
        return line

    def _step(self) -> bool:
        if self._mode == "head":
            return self._read_head()
        if self._mode == "length":
            take = self._buffer[:self._remaining]
            self._buffer = self._buffer[len(take):]
            assert self._current is not None
            self._current.body += take
            self._remaining -= len(take)
            if self._remaining == 0:
                self._finish()
                return True
            return False
        if self._mode == "until-close":
            assert self._current is not None
            self._current.body += self._buffer
            self._buffer = b""
            return False
        return self._read_chunked()

    def _read_head(self) -> bool:
        end = self._buffer.find(b"\r\n\r\n")
        alt = self._buffer.find(b"\n\n")
        if end < 0 and alt < 0:
            return False
        if end < 0 or (0 <= alt < end):
            head, self._buffer = self._buffer[:alt], self._buffer[alt + 2:]
        else:
            head, self._buffer = self._buffer[:end], self._buffer[end + 4:]
        lines = head.replace(b"\r\n", b"\n").split(b"\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
            self.error = f"unparseable status line {lines[0][:60]!r}"
            return False
        headers = []
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon:
                self.error = f"unparseable response header {line[:60]!r}"
                return False
            headers.append((name.strip().decode("latin-1").lower(),
                            value.strip().decode("latin-1")))
        response = Response(int(parts[1]), parts[2].decode("latin-1") if len(parts) > 2 else "",
                            parts[0].decode("latin-1"), headers)
        if 100 <= response.status < 200:
            self.interim_pending.append(response.status)
            return True
        response.interim, self.interim_pending = self.interim_pending, []
        self._current = response
        is_head = len(self.responses) in self._head_requests
        length = response.header("content-length")
        coding = (response.header("transfer-encoding") or "").lower()
        if is_head and response.status >= 400:
            # A server that could not parse the request cannot know it was a HEAD and may
            # send a body; the connection closes after an error, so read until close.
            self._mode = "until-close"
        elif is_head or response.status in (204, 304):
            self._finish()
        elif "chunked" in coding:
            self._mode = "chunk-size"
        elif length is not None:
            if not length.strip().isdigit():
                self.error = f"bad response content-length {length!r}"
                return False
            self._remaining = int(length)
            self._mode = "length"
            if self._remaining == 0:
                self._finish()
        else:
            self._mode = "until-close"
        return True

    def _read_chunked(self) -> bool:
        assert self._current is not None
        if self._mode == "chunk-size":
            line = self._line()
            if line is None:
                return False
            size = line.split(b";", 1)[0].strip()
            try:
                self._remaining = int(size, 16)
            except ValueError:
                self.error = f"bad response chunk size {line[:40]!r}"
                return False
            self._mode = "chunk-data" if self._remaining else "trailers"
            return True
        if self._mode == "chunk-data":
            take = self._buffer[:self._remaining]
            self._buffer = self._buffer[len(take):]
            self._current.body += take
            self._remaining -= len(take)
            if self._remaining:
                return False
            self._mode = "chunk-crlf"
            return True
        line = self._line()  # chunk-crlf or trailers
        if line is None:
            return False
        if self._mode == "chunk-crlf":
            self._mode = "chunk-size"
        elif line == b"":
            self._finish()
        return True

    def _finish(self) -> None:
        assert self._current is not None
        self.responses.append(self._current)
        self._current = None
        self._mode = "head"
