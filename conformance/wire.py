"""Raw-socket exchanges: write bytes to a live server, collect its responses, never hang.

Every exchange is bounded by a deadline. Once the expected number of final responses is in,
the exchange either waits for the server to close (when closing is what should happen next)
or watches a short quiet window to prove the connection stays open without further output.
It must never retry, reorder or "fix" the bytes it is given: they are the test.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from conformance.responses import Response, ResponseReader

QUIET = 0.3  # seconds of silence that count as "the server is waiting for more input"
DEADLINE = 3.0  # upper bound for one exchange, start to finish
INTERIM_WAIT = 1.0  # how long a 100-continue client waits before sending the body anyway
CLOSE_GRACE = 1.0  # how long an unannounced close (e.g. after HTTP/1.0) may take


@dataclass
class Transcript:
    responses: list[Response] = field(default_factory=list)
    closed: bool = False
    reset: bool = False
    timed_out: bool = False
    parse_error: str = ""
    incomplete: bool = False  # the peer closed in the middle of a response
    send_error: str = ""
    connect_error: str = ""
    interim_before_body: list[int] = field(default_factory=list)
    trailing: list[int] = field(default_factory=list)  # 1xx seen after the last final

    def summary(self) -> str:
        if self.connect_error:
            return "no connection"
        parts = [compact([str(r.status) for r in self.responses]) or "none"]
        if self.reset:
            parts.append("reset")
        elif self.closed:
            parts.append("closed")
        elif self.timed_out:
            parts.append("timeout")
        else:
            parts.append("open")
        return " ".join(parts)


def compact(words: list[str]) -> str:
    """["200", "200", "400"] -> "200*2,400": long pipelines stay readable."""
    runs: list[tuple[str, int]] = []
    for word in words:
        if runs and runs[-1][0] == word:
            runs[-1] = (word, runs[-1][1] + 1)
        else:
            runs.append((word, 1))
    return ",".join(f"{w}*{n}" if n != 1 else w for w, n in runs)


async def exchange(port: int, parts: tuple[bytes, ...], *, finals: int,
                   close_expected: bool, head_requests: tuple[int, ...] = (),
                   await_interim: bool = False, host: str = "127.0.0.1",
                   deadline: float = DEADLINE, quiet: float = QUIET) -> Transcript:
    """Send `parts` and read until `finals` responses plus the settle rule are satisfied."""
    transcript = Transcript()
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + deadline
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port), timeout=deadline)
    except (OSError, asyncio.TimeoutError) as exc:
        transcript.connect_error = repr(exc)
        return transcript
    parser = ResponseReader(head_requests)
    try:
        await _send_all(reader, writer, parser, parts, transcript, await_interim, stop_at)
        await _read_until_settled(reader, parser, transcript, finals, close_expected,
                                  stop_at, quiet)
    finally:
        writer.transport.abort()
    transcript.responses = parser.responses
    transcript.parse_error = parser.error
    transcript.incomplete = transcript.incomplete or parser.incomplete
    transcript.trailing = list(parser.interim_pending)
    return transcript


async def _send_all(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    parser: ResponseReader, parts: tuple[bytes, ...], transcript: Transcript,
                    await_interim: bool, stop_at: float) -> None:
    loop = asyncio.get_running_loop()
    for index, part in enumerate(parts):
        if index == 1 and await_interim:
            # A client honouring Expect: 100-continue holds the body back until the server
            # asks for it (or until its own patience runs out, RFC 9110 section 10.1.1).
            until = min(stop_at, loop.time() + INTERIM_WAIT)
            while not parser.interim_pending and not parser.responses and not transcript.closed:
                if not await _read_once(reader, parser, transcript, until - loop.time()):
                    break
            transcript.interim_before_body = list(parser.interim_pending)
            if parser.responses or transcript.closed:
                return
        try:
            writer.write(part)
            await asyncio.wait_for(writer.drain(), timeout=max(0.01, stop_at - loop.time()))
        except (OSError, asyncio.TimeoutError) as exc:
            # The server may legitimately close while we are still sending a request it has
            # already rejected; what it answered is still in our receive buffer.
            transcript.send_error = repr(exc)
            return


async def _read_once(reader: asyncio.StreamReader, parser: ResponseReader,
                     transcript: Transcript, timeout: float) -> bool:
    """Read one batch into the parser; False on timeout or EOF."""
    if timeout <= 0:
        return False
    try:
        data = await asyncio.wait_for(reader.read(65536), timeout=timeout)
    except asyncio.TimeoutError:
        return False
    except OSError:
        transcript.reset = transcript.closed = True
        parser.eof()
        return False
    if not data:
        transcript.closed = True
        parser.eof()
        return False
    parser.feed(data)
    return True


async def _read_until_settled(reader: asyncio.StreamReader, parser: ResponseReader,
                              transcript: Transcript, finals: int, close_expected: bool,
                              stop_at: float, quiet: float) -> None:
    loop = asyncio.get_running_loop()
    while not transcript.closed and not parser.error:
        now = loop.time()
        if now >= stop_at:
            transcript.timed_out = True
            return
        count = len(parser.responses)
        if count >= finals:
            last = parser.responses[-1] if parser.responses else None
            announced = last is not None and (last.status >= 400 or last.closes)
            if count > finals or not (close_expected or announced):
                # Nothing more should come: a quiet window proves the server is waiting.
                window = quiet
            elif announced or last is None:
                window = stop_at - now  # the server said it will close: give it time to
            else:
                # Closing is expected after a success that did not announce it (HTTP/1.0):
                # allow a longer window, but do not sit out the whole deadline.
                window = CLOSE_GRACE
            got_data = await _read_once(reader, parser, transcript, min(window, stop_at - now))
            if not got_data and not transcript.closed:
                transcript.timed_out = loop.time() >= stop_at
                return
            continue
        if not await _read_once(reader, parser, transcript, stop_at - now) and (
                not transcript.closed and loop.time() >= stop_at):
            transcript.timed_out = True
            return


def run_exchange(port: int, parts: tuple[bytes, ...], **kwargs: object) -> Transcript:
    """Blocking convenience wrapper, for debugging one case from a REPL."""
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(exchange(port, parts, **kwargs))  # type: ignore[arg-type]
    return Transcript()
