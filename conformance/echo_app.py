"""The ASGI application every server under test runs: it reports back what it received.

The conformance suite judges servers from the outside, so it needs an app whose answer is a
faithful transcript of the request as the server delivered it (method, raw target, version,
headers in order, body, trailers) plus the scope fields the ASGI checks look at. A few paths
under `/_conformance/` make the app misbehave on purpose (stream slowly, raise, wait for a
disconnect) so the ASGI checks can watch how the server copes.

It must never depend on anything outside the standard library (it runs inside every peer
server's process), never reject or normalise what it receives (that would hide the server's
own behaviour), and never keep per-request state beyond the small disconnect log below.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

PREFIX = "/_conformance/"

# Written by the lifespan handler; the runner reads it after stopping the server to learn
# whether `lifespan.shutdown` was delivered. Only set by the suite's own server launcher.
LIFESPAN_LOG_ENV = "CONFORMANCE_LIFESPAN_LOG"

# token -> what happened while that request waited for the client to go away.
_disconnects: dict[str, str] = {}
_lifespan: dict[str, Any] = {"startup": False}


def _latin1(data: bytes) -> str:
    return data.decode("latin-1")


def _log_lifespan(event: str) -> None:
    path = os.environ.get(LIFESPAN_LOG_ENV)
    if path:
        with open(path, "a", encoding="ascii") as log:
            log.write(event + "\n")


def _jsonable(value: Any) -> Any:
    """Scope values are bytes, tuples and nested dicts; JSON needs strings and lists."""
    if isinstance(value, bytes):
        return _latin1(value)
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


def _scope_report(scope: Scope) -> dict[str, Any]:
    state = scope.get("state")
    return {
        "type": scope.get("type"),
        "asgi": _jsonable(scope.get("asgi")),
        "http_version": scope.get("http_version"),
        "method": scope.get("method"),
        "scheme": scope.get("scheme"),
        "path": scope.get("path"),
        "raw_path": _jsonable(scope.get("raw_path")),
        "query_string": _jsonable(scope.get("query_string")),
        "root_path": scope.get("root_path"),
        "client": _jsonable(scope.get("client")),
        "server": _jsonable(scope.get("server")),
        "extensions": sorted((scope.get("extensions") or {}).keys()),
        "state": _jsonable(dict(state)) if isinstance(state, MutableMapping) else None,
        "types": {
            "path": type(scope.get("path")).__name__,
            "raw_path": type(scope.get("raw_path")).__name__,
            "query_string": type(scope.get("query_string")).__name__,
            "headers": [
                [type(name).__name__, type(value).__name__]
                for name, value in scope.get("headers", [])[:1]
            ],
        },
    }


async def _read_body(receive: Receive) -> tuple[bytes, list[Any], list[bool], list[str]]:
    """Drain the request body, keeping the message shape the ASGI checks look at."""
    chunks: list[bytes] = []
    trailers: list[Any] = []
    more_flags: list[bool] = []
    other: list[str] = []
    while True:
        message = await receive()
        kind = message.get("type")
        if kind != "http.request":
            other.append(str(kind))
            break
        chunks.append(bytes(message.get("body", b"")))
        more = bool(message.get("more_body", False))
        more_flags.append(more)
        # Request trailers are not in the ASGI spec; a server that delivers them does so as a
        # header-list under "trailers" on a request message. Report them if present.
        if message.get("trailers"):
            trailers.extend(message["trailers"])
        if not more:
            break
    return b"".join(chunks), trailers, more_flags, other


async def _respond(send: Send, status: int, body: bytes,
                   headers: list[tuple[bytes, bytes]] | None = None) -> None:
    head = [(b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode("ascii"))]
    await send({"type": "http.response.start", "status": status,
                "headers": head + (headers or [])})
    await send({"type": "http.response.body", "body": body})


async def _echo(scope: Scope, receive: Receive, send: Send) -> None:
    body, trailers, more_flags, other = await _read_body(receive)
    raw_path = scope.get("raw_path") or str(scope.get("path", "")).encode("utf-8")
    query = scope.get("query_string", b"")
    target = raw_path + (b"?" + query if query else b"")
    report = {
        "method": scope.get("method"),
        "target": _latin1(target),
        "http_version": scope.get("http_version"),
        "headers": [[_latin1(bytes(n)), _latin1(bytes(v))] for n, v in scope["headers"]],
        "body": _latin1(body),
        "trailers": [[_latin1(bytes(n)), _latin1(bytes(v))] for n, v in trailers],
        "body_messages": more_flags,
        "other_messages": other,
        "scope": _scope_report(scope),
    }
    await _respond(send, 200, json.dumps(report).encode("ascii"))


async def _stream(scope: Scope, receive: Receive, send: Send) -> None:
    """Several body messages with pauses between them: the server must not buffer them."""
    await _read_body(receive)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    for index in range(4):
        await send({"type": "http.response.body", "body": b"part%d;" % index,
                    "more_body": True})
        await asyncio.sleep(0.15)
    await send({"type": "http.response.body", "body": b"end", "more_body": False})


async def _wait_disconnect(token: str, receive: Receive) -> None:
    _disconnects[token] = "waiting"
    await _read_body(receive)
    try:
        message = await asyncio.wait_for(receive(), timeout=5.0)
        _disconnects[token] = str(message.get("type"))
    except asyncio.TimeoutError:
        _disconnects[token] = "timeout"


async def _special(name: str, scope: Scope, receive: Receive, send: Send) -> None:
    if name == "stream":
        await _stream(scope, receive, send)
    elif name == "raise-before-start":
        await _read_body(receive)
        raise RuntimeError("conformance: deliberate failure before the response started")
    elif name == "raise-after-start":
        await _read_body(receive)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"100")]})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise RuntimeError("conformance: deliberate failure in the middle of the body")
    elif name == "no-response":
        await _read_body(receive)
    elif name == "body-before-start":
        await _read_body(receive)
        await send({"type": "http.response.body", "body": b"out of order"})
    elif name == "headers":
        await _read_body(receive)
        await _respond(send, 201, b"{}", [(b"set-cookie", b"a=1"), (b"set-cookie", b"b=2"),
                                          (b"x-latin", b"caf\xe9")])
    elif name == "no-content-length":
        await _read_body(receive)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"abc", "more_body": True})
        await send({"type": "http.response.body", "body": b"def"})
    elif name.startswith("wait-disconnect/"):
        await _wait_disconnect(name.partition("/")[2], receive)
    elif name.startswith("disconnect-log/"):
        await _read_body(receive)
        token = name.partition("/")[2]
        await _respond(send, 200, json.dumps({"event": _disconnects.get(token)}).encode())
    elif name == "lifespan":
        await _read_body(receive)
        await _respond(send, 200, json.dumps(_lifespan).encode())
    else:
        await _echo(scope, receive, send)


async def _lifespan_loop(scope: Scope, receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            _lifespan["startup"] = True
            state = scope.get("state")
            if isinstance(state, MutableMapping):
                state["conformance"] = "from-lifespan"
            _log_lifespan("startup")
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            _log_lifespan("shutdown")
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """ASGI 3 entry point."""
    if scope["type"] == "lifespan":
        await _lifespan_loop(scope, receive, send)
        return
    if scope["type"] != "http":
        return
    path = str(scope.get("path", ""))
    if path.startswith(PREFIX):
        await _special(path[len(PREFIX):], scope, receive, send)
    else:
        await _echo(scope, receive, send)
