"""ASGI behaviour as an application sees it, checked through a real HTTP client (httpx).

The raw cases prove what the server accepts on the wire; these prove what it hands the app and
how it copes with the app: scope fields, body delivery, streaming without buffering, client
disconnects, lifespan, and apps that fail. httpx is a test dependency, never a runtime one:
without it these checks are reported as skipped. Nothing here may start or stop a server.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from conformance.model import Result

CATEGORY = "asgi"
TIMEOUT = 6.0


class CheckFailed(Exception):
    def __init__(self, detail: str, seen: str = "") -> None:
        super().__init__(detail)
        self.detail = detail
        self.seen = seen


def httpx_available() -> bool:
    return importlib.util.find_spec("httpx") is not None


def _expect(condition: bool, detail: str, seen: object = "") -> None:
    if not condition:
        raise CheckFailed(detail, str(seen))


Check = Callable[[Any, int], Awaitable[str]]
CHECKS: dict[str, tuple[str, Check]] = {}


def check(name: str, spec: str) -> Callable[[Check], Check]:
    def register(function: Check) -> Check:
        CHECKS[name] = (spec, function)
        return function
    return register


async def _report(client: Any, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
    response = await client.request(method, url, **kwargs)
    _expect(response.status_code == 200, f"status {response.status_code}", response.status_code)
    report: dict[str, Any] = response.json()
    return report


@check("scope-fields", "ASGI HTTP scope")
async def _scope_fields(client: Any, port: int) -> str:
    report = await _report(client, "GET", "/p%20q/%2F?x=1&y=%20", headers={"X-Check": "v"})
    scope = report["scope"]
    wanted = {
        "type": "http", "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": "/p q//", "raw_path": "/p%20q/%2F", "query_string": "x=1&y=%20",
        "root_path": "",
    }
    for key, value in wanted.items():
        _expect(scope.get(key) == value, f"scope[{key!r}] is {scope.get(key)!r}, "
                f"expected {value!r}", scope.get(key))
    _expect(str(scope["asgi"].get("version")) == "3.0",
            f"scope['asgi'] is {scope['asgi']!r}, expected version 3.0")
    _expect(scope["types"] == {"path": "str", "raw_path": "bytes", "query_string": "bytes",
                               "headers": [["bytes", "bytes"]]},
            f"scope value types are {scope['types']}")
    _expect(scope["server"] == ["127.0.0.1", port], f"scope['server'] is {scope['server']}")
    client_addr = scope["client"]
    _expect(isinstance(client_addr, list) and client_addr[0] == "127.0.0.1"
            and isinstance(client_addr[1], int), f"scope['client'] is {client_addr}")
    return "ok"


@check("headers-lowercase-in-order", "ASGI HTTP scope: headers")
async def _headers(client: Any, port: int) -> str:
    report = await _report(client, "GET", "/", headers=[("X-First", "1"), ("X-Second", "2"),
                                                        ("X-First", "3")])
    names = [name for name, _ in report["headers"]]
    _expect(all(name == name.lower() for name in names), f"header names not lowercased: {names}")
    ours = [pair for pair in report["headers"] if pair[0].startswith("x-")]
    _expect(ours == [["x-first", "1"], ["x-second", "2"], ["x-first", "3"]],
            f"repeated headers not kept in order: {ours}")
    return "ok"


@check("body-content-length", "ASGI http.request: body, more_body")
async def _body_length(client: Any, port: int) -> str:
    body = hashlib.sha256(b"seed").digest() * 8192  # 256 KiB, not compressible to nothing
    report = await _report(client, "POST", "/upload", content=body)
    got = report["body"].encode("latin-1")
    _expect(got == body, f"body of {len(got)} bytes, expected {len(body)} intact")
    flags = report["body_messages"]
    _expect(flags[-1] is False and all(flags[:-1]), f"more_body flags {flags}")
    return f"{len(flags)} messages"


@check("body-chunked-upload", "ASGI http.request with Transfer-Encoding: chunked")
async def _body_chunked(client: Any, port: int) -> str:
    parts = [b"alpha-", b"beta-" * 1000, b"gamma"]

    async def stream() -> AsyncIterator[bytes]:
        for part in parts:
            yield part
            await asyncio.sleep(0.02)

    report = await _report(client, "POST", "/upload", content=stream())
    _expect(report["body"].encode("latin-1") == b"".join(parts), "chunked body not intact")
    _expect(["transfer-encoding", "chunked"] in report["headers"],
            "request was not sent chunked (client side)")
    return "ok"


@check("body-empty", "ASGI http.request: a request without body still gets one message")
async def _body_empty(client: Any, port: int) -> str:
    report = await _report(client, "GET", "/")
    _expect(report["body"] == "" and report["body_messages"] == [False],
            f"body messages {report['body_messages']}")
    return "ok"


@check("streaming-response", "ASGI http.response.body more_body: sent as produced")
async def _streaming(client: Any, port: int) -> str:
    arrivals: list[float] = []
    chunks: list[bytes] = []
    start = time.monotonic()
    async with client.stream("GET", "/_conformance/stream") as response:
        _expect(response.status_code == 200, f"status {response.status_code}")
        async for chunk in response.aiter_raw():
            arrivals.append(time.monotonic() - start)
            chunks.append(chunk)
        coding = response.headers.get("transfer-encoding", "")
    _expect(b"".join(chunks) == b"part0;part1;part2;part3;end", f"body {b''.join(chunks)!r}")
    _expect(coding == "chunked", f"transfer-encoding {coding!r}, expected chunked")
    _expect(arrivals[-1] - arrivals[0] > 0.3,
            f"all data arrived within {arrivals[-1] - arrivals[0]:.2f}s: buffered, not streamed")
    return f"{len(chunks)} reads over {arrivals[-1] - arrivals[0]:.2f}s"


@check("response-headers", "ASGI http.response.start: headers kept, repeated, latin-1")
async def _response_headers(client: Any, port: int) -> str:
    response = await client.get("/_conformance/headers")
    _expect(response.status_code == 201, f"status {response.status_code}", response.status_code)
    cookies = response.headers.get_list("set-cookie")
    _expect(cookies == ["a=1", "b=2"], f"set-cookie values {cookies}")
    raw = [(name.lower(), value) for name, value in response.headers.raw]
    _expect((b"x-latin", b"caf\xe9") in raw, "x-latin value not sent byte for byte")
    return "ok"


@check("head-without-body", "RFC 9110 9.3.2 through ASGI")
async def _head(client: Any, port: int) -> str:
    response = await client.head("/")
    _expect(response.status_code == 200 and response.content == b"",
            f"HEAD got {response.status_code} with {len(response.content)} body bytes")
    again = await client.get("/")  # the same pooled connection must still be in sync
    _expect(again.status_code == 200 and again.json()["method"] == "GET", "GET after HEAD")
    return "ok"


@check("keep-alive-reuse", "RFC 9112 9.3 through ASGI")
async def _keep_alive(client: Any, port: int) -> str:
    first = await _report(client, "GET", "/a")
    second = await _report(client, "GET", "/b")
    ports = (first["scope"]["client"][1], second["scope"]["client"][1])
    _expect(ports[0] == ports[1], f"two connections used: client ports {ports}")
    return "ok"


@check("app-raises-before-start", "ASGI: server answers 500 when the app fails early")
async def _raise_before(client: Any, port: int) -> str:
    response = await client.get("/_conformance/raise-before-start")
    _expect(response.status_code == 500, f"status {response.status_code}", response.status_code)
    return "500"


@check("app-returns-without-response", "ASGI: server answers 500 when the app sends nothing")
async def _no_response(client: Any, port: int) -> str:
    response = await client.get("/_conformance/no-response")
    _expect(response.status_code == 500, f"status {response.status_code}", response.status_code)
    return "500"


@check("app-sends-body-first", "ASGI: out-of-order messages are an app error, answered 500")
async def _body_first(client: Any, port: int) -> str:
    response = await client.get("/_conformance/body-before-start")
    _expect(response.status_code == 500, f"status {response.status_code}", response.status_code)
    return "500"


@check("app-raises-mid-body", "ASGI: a response cut short must not look complete")
async def _raise_mid_body(client: Any, port: int) -> str:
    import httpx

    try:
        response = await client.get("/_conformance/raise-after-start")
    except httpx.HTTPError as exc:
        return type(exc).__name__
    _expect(len(response.content) != 100, "a truncated body was presented as complete")
    return "short body"


@check("client-disconnect", "ASGI http.disconnect after the client goes away")
async def _disconnect(client: Any, port: int) -> str:
    token = f"t{time.monotonic_ns()}"
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /_conformance/wait-disconnect/{token} HTTP/1.1\r\n"
                 "Host: a.example\r\n\r\n".encode())
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.close()
    event = None
    for _ in range(30):
        await asyncio.sleep(0.1)
        event = (await client.get(f"/_conformance/disconnect-log/{token}")).json()["event"]
        if event not in (None, "waiting"):
            break
    _expect(event == "http.disconnect", f"the app saw {event!r}", event)
    return "http.disconnect"


@check("lifespan-startup", "ASGI lifespan: startup completes before serving")
async def _lifespan(client: Any, port: int) -> str:
    response = await client.get("/_conformance/lifespan")
    _expect(response.json().get("startup") is True, "lifespan.startup was not delivered")
    return "ok"


@check("lifespan-state", "ASGI lifespan state: copied into each request scope")
async def _lifespan_state(client: Any, port: int) -> str:
    state = (await _report(client, "GET", "/"))["scope"]["state"]
    _expect(isinstance(state, dict) and state.get("conformance") == "from-lifespan",
            f"scope['state'] is {state!r}")
    return "ok"


async def run_checks(port: int) -> list[Result]:
    """Run every check against the server on `port` (sequentially: they share one client)."""
    if not httpx_available():
        return [Result(f"{CATEGORY}/{name}", CATEGORY, False, "skipped",
                       "httpx is not installed", spec) for name, (spec, _) in CHECKS.items()]
    import httpx

    results = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=TIMEOUT) as client:
        for name, (spec, function) in CHECKS.items():
            case_id = f"{CATEGORY}/{name}"
            try:
                seen = await asyncio.wait_for(function(client, port), TIMEOUT)
                results.append(Result(case_id, CATEGORY, True, seen, "", spec))
            except CheckFailed as exc:
                seen = exc.seen or (exc.detail if len(exc.detail) <= 40
                                    else exc.detail[:37] + "...")
                results.append(Result(case_id, CATEGORY, False, seen, exc.detail, spec))
            except (asyncio.TimeoutError, httpx.HTTPError, OSError, ValueError,
                    KeyError, TypeError, json.JSONDecodeError) as exc:
                results.append(Result(case_id, CATEGORY, False, "error",
                                      f"{type(exc).__name__}: {exc}", spec))
    return results


SHUTDOWN_ID = f"{CATEGORY}/lifespan-shutdown"


def lifespan_shutdown_result(events: list[str]) -> Result:
    """Judged after the server stopped: startup then shutdown must both have been delivered."""
    passed = events == ["startup", "shutdown"]
    return Result(SHUTDOWN_ID, CATEGORY, passed, ",".join(events) or "none",
                  "" if passed else f"lifespan events {events}, expected startup,shutdown",
                  "ASGI lifespan: shutdown delivered on graceful stop")


def check_ids() -> list[str]:
    return [f"{CATEGORY}/{name}" for name in CHECKS] + [SHUTDOWN_ID]
