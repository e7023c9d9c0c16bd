"""Micro-benchmark: moreweb's HTTP/1.1 engine against h11 and httptools, in one process.

Run `python -m bench.engine`. It parses a typical browser GET, a small Content-Length POST and a
small chunked POST, and serializes a small response, and prints operations per second for each
engine plus the ratios moreweb/h11 and moreweb/httptools (the issue's target: moreweb >= 5x h11).

Why it is built this way:
- Every engine does equivalent work. moreweb and h11 run the same server-side cycle on one
  kept-alive connection: receive_data, next_event until NEED_DATA/PAUSED (collecting body
  pieces), send Response + Data + EndOfMessage (a fresh Response event each time, as a server
  builds one per request), start_next_cycle. httptools has no serializer, so it only parses,
  with callbacks that collect the URL, the headers (names lowercased, as the other two do) and
  the body, and it builds the same request tuple the others produce.
- Each phase is timed separately inside one loop (perf_counter around the parse and around the
  serialization) so "parse" and "serialize" rows come from the very same cycles; the cost of the
  clock calls is the same for every engine and small next to one parse.
- Before any timing, each engine's output is checked (method, target, headers, body, status
  line): a benchmark that measures an error path is worse than none.
- Best of N repeats of a fixed iteration count calibrated to last about `--duration` seconds:
  the best run is the one least disturbed by the other processes on this shared machine.

It must never be imported by moreweb, never run in CI as a timed test, and never make h11 or
httptools a dependency: each missing engine is reported and skipped.
"""

from __future__ import annotations

import argparse
import importlib
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter
from typing import Any

# --- The payloads (the same bytes for every engine) -------------------------------------------

GET_BROWSER = (
    b"GET /articles/2024/fast-servers?page=2&sort=recent HTTP/1.1\r\n"
    b"Host: www.example.com\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
    b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    b"Accept-Language: en-US,en;q=0.5\r\n"
    b"Accept-Encoding: gzip, deflate, br, zstd\r\n"
    b"Referer: https://www.example.com/articles/2024\r\n"
    b"Cookie: session=9f8e7d6c5b4a39281706f5e4d3c2b1a0; theme=dark\r\n"
    b"Connection: keep-alive\r\n"
    b"Upgrade-Insecure-Requests: 1\r\n"
    b"Sec-Fetch-Mode: navigate\r\n"
    b"\r\n"
)

_POST_BODY = b'{"name": "moreweb", "kind": "asgi-server", "tags": ["http", "fast"], "n": 12345}'
_POST_BODY = _POST_BODY + b" " * (100 - len(_POST_BODY))  # exactly 100 bytes

POST_CONTENT_LENGTH = (
    b"POST /api/items HTTP/1.1\r\n"
    b"Host: api.example.com\r\n"
    b"User-Agent: python-httpx/0.27.0\r\n"
    b"Accept: */*\r\n"
    b"Content-Type: application/json\r\n"
    b"Content-Length: 100\r\n"
    b"\r\n" + _POST_BODY
)

POST_CHUNKED = (
    b"POST /api/items HTTP/1.1\r\n"
    b"Host: api.example.com\r\n"
    b"User-Agent: python-httpx/0.27.0\r\n"
    b"Accept: */*\r\n"
    b"Content-Type: application/json\r\n"
    b"Transfer-Encoding: chunked\r\n"
    b"\r\n"
    b"40\r\n" + _POST_BODY[:64] + b"\r\n"
    b"24\r\n" + _POST_BODY[64:] + b"\r\n"
    b"0\r\n\r\n"
)

RESPONSE_BODY = b"Hello, world!"
RESPONSE_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-type", b"text/plain; charset=utf-8"),
    (b"content-length", b"13"),
    (b"date", b"Mon, 24 Nov 2025 10:00:00 GMT"),
    (b"server", b"bench"),
]


@dataclass(frozen=True)
class Case:
    """One request the engines parse, with what a correct parse must yield."""

    key: str
    label: str
    payload: bytes
    method: bytes
    target: bytes
    header_count: int
    body: bytes


CASES = [
    Case("get", "GET, browser-like", GET_BROWSER, b"GET",
         b"/articles/2024/fast-servers?page=2&sort=recent", 10, b""),
    Case("post-cl", "POST, Content-Length", POST_CONTENT_LENGTH, b"POST", b"/api/items", 5,
         _POST_BODY),
    Case("post-chunked", "POST, chunked", POST_CHUNKED, b"POST", b"/api/items", 5, _POST_BODY),
]


@dataclass
class Timing:
    """Seconds spent in each phase over `n` cycles; `respond` is None for parse-only engines."""

    n: int
    parse: float
    respond: float | None
    total: float


@dataclass
class Parsed:
    """What one cycle produced, for the correctness check before timing."""

    method: bytes
    target: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    response: bytes | None


class Engine:
    """One engine under test: a correctness probe and a timed loop over the same work."""

    name = ""
    version = ""
    serializes = True

    def probe(self, payload: bytes) -> Parsed:
        raise NotImplementedError

    def run(self, payload: bytes, n: int) -> Timing:
        raise NotImplementedError


# --- moreweb ------------------------------------------------------------------------------------


class MorewebEngine(Engine):
    name = "moreweb"
    _API = ("Connection", "Limits", "Request", "Data", "EndOfMessage", "Response",
            "NEED_DATA", "PAUSED")

    def __init__(self) -> None:
        import moreweb
        from moreweb import http11

        self.version = moreweb.__version__
        self.h = http11
        missing = [name for name in self._API if not hasattr(http11, name)]
        if missing:
            raise ImportError(f"moreweb.http11 has no {', '.join(missing)} yet")

    def _connection(self) -> Any:
        h = self.h
        return h.Connection(h.Limits(max_head_size=65536, max_header_count=100))

    def probe(self, payload: bytes) -> Parsed:
        h = self.h
        conn = self._connection()
        conn.receive_data(payload)
        request = None
        body: list[bytes] = []
        while True:
            ev = conn.next_event()
            if ev is h.NEED_DATA or ev is h.PAUSED:
                break
            if isinstance(ev, h.Request):
                request = ev
            elif isinstance(ev, h.Data):
                body.append(bytes(ev.data))
        if request is None:
            raise AssertionError("moreweb produced no Request event")
        out = conn.send(h.Response(200, list(RESPONSE_HEADERS)))
        out += conn.send(h.Data(RESPONSE_BODY))
        out += conn.send(h.EndOfMessage())
        conn.start_next_cycle()
        return Parsed(request.method, request.target, list(request.headers), b"".join(body), out)

    def run(self, payload: bytes, n: int) -> Timing:
        h = self.h
        conn = self._connection()
        receive_data, next_event, send = conn.receive_data, conn.next_event, conn.send
        start_next_cycle = conn.start_next_cycle
        need_data, paused = h.NEED_DATA, h.PAUSED
        response_cls, data_cls, eom_cls = h.Response, h.Data, h.EndOfMessage
        headers, body_bytes = RESPONSE_HEADERS, RESPONSE_BODY
        clock = perf_counter
        parse_t = respond_t = 0.0
        begin = clock()
        for _ in range(n):
            t0 = clock()
            receive_data(payload)
            body = []
            while True:
                ev = next_event()
                if ev is need_data or ev is paused:
                    break
                if type(ev) is data_cls:
                    body.append(ev.data)
            t1 = clock()
            out = send(response_cls(200, headers))
            out += send(data_cls(body_bytes))
            out += send(eom_cls())
            t2 = clock()
            start_next_cycle()
            parse_t += t1 - t0
            respond_t += t2 - t1
        return Timing(n, parse_t, respond_t, clock() - begin)


# --- h11 ----------------------------------------------------------------------------------------


class H11Engine(Engine):
    name = "h11"

    def __init__(self) -> None:
        self.h11: Any = importlib.import_module("h11")
        self.version = self.h11.__version__

    def probe(self, payload: bytes) -> Parsed:
        h11 = self.h11
        conn = h11.Connection(h11.SERVER)
        conn.receive_data(payload)
        request = None
        body: list[bytes] = []
        while True:
            ev = conn.next_event()
            if ev is h11.NEED_DATA or ev is h11.PAUSED:
                break
            if isinstance(ev, h11.Request):
                request = ev
            elif isinstance(ev, h11.Data):
                body.append(bytes(ev.data))
        if request is None:
            raise AssertionError("h11 produced no Request event")
        out = conn.send(h11.Response(status_code=200, headers=list(RESPONSE_HEADERS)))
        out += conn.send(h11.Data(data=RESPONSE_BODY))
        out += conn.send(h11.EndOfMessage())
        conn.start_next_cycle()
        headers = [(bytes(k), bytes(v)) for k, v in request.headers]
        return Parsed(request.method, request.target, headers, b"".join(body), out)

    def run(self, payload: bytes, n: int) -> Timing:
        h11 = self.h11
        conn = h11.Connection(h11.SERVER)
        receive_data, next_event, send = conn.receive_data, conn.next_event, conn.send
        start_next_cycle = conn.start_next_cycle
        need_data, paused = h11.NEED_DATA, h11.PAUSED
        response_cls, data_cls, eom_cls = h11.Response, h11.Data, h11.EndOfMessage
        headers, body_bytes = RESPONSE_HEADERS, RESPONSE_BODY
        clock = perf_counter
        parse_t = respond_t = 0.0
        begin = clock()
        for _ in range(n):
            t0 = clock()
            receive_data(payload)
            body = []
            while True:
                ev = next_event()
                if ev is need_data or ev is paused:
                    break
                if type(ev) is data_cls:
                    body.append(ev.data)
            t1 = clock()
            out = send(response_cls(status_code=200, headers=headers))
            out += send(data_cls(data=body_bytes))
            out += send(eom_cls())
            t2 = clock()
            start_next_cycle()
            parse_t += t1 - t0
            respond_t += t2 - t1
        return Timing(n, parse_t, respond_t, clock() - begin)


# --- httptools ----------------------------------------------------------------------------------


class _Collector:
    """httptools callbacks that build what the other engines' events carry."""

    __slots__ = ("body", "complete", "headers", "parser", "request", "url")

    def __init__(self) -> None:
        self.parser: Any = None
        self.reset()

    def reset(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.request: tuple[bytes, bytes, str, list[tuple[bytes, bytes]]] | None = None
        self.complete = False

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        parser = self.parser
        self.request = (parser.get_method(), self.url, parser.get_http_version(), self.headers)

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.complete = True


class HttptoolsEngine(Engine):
    name = "httptools"
    serializes = False

    def __init__(self) -> None:
        self.httptools: Any = importlib.import_module("httptools")
        self.version = self.httptools.__version__

    def _parser(self) -> tuple[_Collector, Any]:
        collector = _Collector()
        parser = self.httptools.HttpRequestParser(collector)
        collector.parser = parser
        return collector, parser

    def probe(self, payload: bytes) -> Parsed:
        collector, parser = self._parser()
        parser.feed_data(payload)
        if collector.request is None or not collector.complete:
            raise AssertionError("httptools did not complete the message")
        method, url, _version, headers = collector.request
        return Parsed(method, url, headers, b"".join(collector.body), None)

    def run(self, payload: bytes, n: int) -> Timing:
        collector, parser = self._parser()
        feed_data, reset = parser.feed_data, collector.reset
        clock = perf_counter
        parse_t = 0.0
        begin = clock()
        for _ in range(n):
            t0 = clock()
            reset()
            feed_data(payload)
            t1 = clock()
            parse_t += t1 - t0
        return Timing(n, parse_t, None, clock() - begin)


ENGINES: dict[str, Callable[[], Engine]] = {
    "moreweb": MorewebEngine,
    "h11": H11Engine,
    "httptools": HttptoolsEngine,
}


# --- measuring ----------------------------------------------------------------------------------


def check(engine: Engine, case: Case) -> None:
    """Raise AssertionError unless `engine` parses `case` and answers correctly."""
    got = engine.probe(case.payload)
    problems = []
    if got.method != case.method:
        problems.append(f"method {got.method!r}")
    if got.target != case.target:
        problems.append(f"target {got.target!r}")
    if len(got.headers) != case.header_count:
        problems.append(f"{len(got.headers)} headers, expected {case.header_count}")
    if any(name != name.lower() for name, _ in got.headers):
        problems.append("header names not lowercased")
    if got.body != case.body:
        problems.append(f"body {got.body[:40]!r}...")
    if engine.serializes:
        out = got.response or b""
        if not (out.startswith(b"HTTP/1.1 200") and out.endswith(b"\r\n\r\n" + RESPONSE_BODY)):
            problems.append(f"response {out[:60]!r}...")
    if problems:
        raise AssertionError(f"{engine.name} on {case.key}: " + "; ".join(problems))


@dataclass
class Best:
    """Best operations per second per phase over all repeats (None: phase not done)."""

    parse: float
    respond: float | None
    cycle: float | None


def measure(engine: Engine, case: Case, duration: float, repeats: int) -> Best:
    """Calibrate an iteration count lasting about `duration`, then keep the best of `repeats`."""
    n = 200
    while True:
        timing = engine.run(case.payload, n)
        if timing.total >= duration / 4 or n >= 10_000_000:
            break
        n *= 4
    n = max(1, int(n * duration / max(timing.total, 1e-9)))
    best_parse = best_respond = best_total = float("inf")
    for _ in range(repeats):
        timing = engine.run(case.payload, n)
        best_parse = min(best_parse, timing.parse)
        best_total = min(best_total, timing.total)
        if timing.respond is not None:
            best_respond = min(best_respond, timing.respond)
    respond = n / best_respond if engine.serializes else None
    cycle = n / best_total if engine.serializes else None
    return Best(n / best_parse, respond, cycle)


def load_engines(names: list[str]) -> tuple[list[Engine], list[str]]:
    """Instantiate the engines that import; return them and one note per skipped engine."""
    engines: list[Engine] = []
    notes: list[str] = []
    for name in names:
        try:
            engines.append(ENGINES[name]())
        except Exception as exc:  # an absent or half-written engine is a note, not a crash
            hint = "not a dependency; pip install it to compare" if name != "moreweb" else ""
            notes.append(f"{name}: skipped ({type(exc).__name__}: {exc}) {hint}".rstrip())
    return engines, notes


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}/s"


def _ratio(mine: float | None, theirs: float | None) -> str:
    if mine is None or theirs is None or theirs <= 0:
        return "n/a"
    return f"{mine / theirs:.2f}x"


def render(engines: list[Engine], results: dict[tuple[str, str], Best]) -> tuple[str, list[str]]:
    """The Markdown table, and one line per target verdict."""
    names = [e.name for e in engines]
    rows: list[tuple[str, dict[str, float | None]]] = []
    for case in CASES:
        rows.append((
            f"parse {case.label} ({len(case.payload)} B)",
            {n: results[(n, case.key)].parse for n in names if (n, case.key) in results},
        ))
    rows.append((
        f"serialize response (4 headers, {len(RESPONSE_BODY)} B body)",
        {n: results[(n, "get")].respond for n in names if (n, "get") in results},
    ))
    for case in CASES:
        rows.append((
            f"full cycle {case.label}",
            {n: results[(n, case.key)].cycle for n in names if (n, case.key) in results},
        ))
    peers = [n for n in names if n != "moreweb"]
    header = ["operation", *[f"{e.name} {e.version}" for e in engines]]
    if "moreweb" in names:
        header += [f"moreweb/{p}" for p in peers]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, values in rows:
        cells = [label, *[_rate(values.get(n)) for n in names]]
        if "moreweb" in names:
            cells += [_ratio(values.get("moreweb"), values.get(p)) for p in peers]
        lines.append("| " + " | ".join(cells) + " |")
    verdicts = []
    if "moreweb" in names and "h11" in names:
        for label, values in rows:
            mine, theirs = values.get("moreweb"), values.get("h11")
            if mine is None or theirs is None:
                continue
            ratio = mine / theirs
            verdict = "PASS" if ratio >= 5.0 else "FAIL"
            verdicts.append(f"{verdict}  {label}: moreweb/h11 = {ratio:.2f}x (target >= 5x)")
    return "\n".join(lines), verdicts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.engine",
        description="HTTP/1.1 engine micro-benchmark: moreweb vs h11 vs httptools.",
    )
    parser.add_argument("--duration", type=float, default=0.5,
                        help="seconds per timed repeat (default 0.5)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="timed repeats per case; the best one counts (default 5)")
    parser.add_argument("--engines", default="moreweb,h11,httptools",
                        help="comma-separated subset of moreweb,h11,httptools")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.engines.split(",") if n.strip()]
    unknown = [n for n in names if n not in ENGINES]
    if unknown:
        parser.error(f"unknown engine(s): {', '.join(unknown)}")

    engines, notes = load_engines(names)
    print(f"Python {platform.python_version()} on {platform.machine()}, "
          f"best of {args.repeats} x ~{args.duration:g} s per row")
    for note in notes:
        print("  " + note)
    if any(e.name == "httptools" for e in engines):
        print("  httptools: parser only (it has no serializer): serialize/cycle rows are n/a")
    sys.stdout.flush()

    results: dict[tuple[str, str], Best] = {}
    usable: list[Engine] = []
    for engine in engines:
        try:
            for case in CASES:
                check(engine, case)
        except Exception as exc:
            print(f"  {engine.name}: skipped, wrong output: {type(exc).__name__}: {exc}")
            continue
        usable.append(engine)
        for case in CASES:
            results[(engine.name, case.key)] = measure(engine, case, args.duration, args.repeats)
            print(f"  measured {engine.name}: {case.label}", file=sys.stderr, flush=True)
    if not usable:
        print("no engine could be measured")
        return 1
    table, verdicts = render(usable, results)
    print()
    print(table)
    if verdicts:
        print()
        print("\n".join(verdicts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
