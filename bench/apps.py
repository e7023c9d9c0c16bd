"""The ASGI applications every benchmarked server runs: the very same module objects for all.

- `hello`: raw ASGI, answers "Hello, world!" (the issue's baseline app).
- `echo`: raw ASGI, reads the whole request body and sends it back (the 64 KiB POST scenario).
- `starlette_json`: a Starlette route returning a small JSON document (None if Starlette is
  not installed; the scenario is then skipped).

Each app handles the lifespan protocol, so no server logs a lifespan error or pays for one.
They must never do anything a server could be measured on besides serving HTTP: no logging, no
global state that grows, no sleeps.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

HELLO_BODY = b"Hello, world!"
_HELLO_HEADERS = [(b"content-type", b"text/plain"), (b"content-length", b"13")]
_HELLO_START = {"type": "http.response.start", "status": 200, "headers": _HELLO_HEADERS}
_HELLO_BODY = {"type": "http.response.body", "body": HELLO_BODY}

JSON_DOCUMENT = {"message": "Hello, world!"}


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    """200 text/plain "Hello, world!" for any HTTP request."""
    if scope["type"] == "http":
        # Fresh dicts: a server may legitimately mutate the messages it is given.
        await send(dict(_HELLO_START))
        await send(dict(_HELLO_BODY))
    elif scope["type"] == "lifespan":
        await _lifespan(receive, send)


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """200 application/octet-stream with the request's whole body."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    chunks: list[bytes] = []
    more_body = True
    while more_body:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        chunks.append(message.get("body", b""))
        more_body = message.get("more_body", False)
    body = b"".join(chunks)
    await send({
        "type": "http.response.start",
        "status": 200,
        "headers": [
            (b"content-type", b"application/octet-stream"),
            (b"content-length", str(len(body)).encode("ascii")),
        ],
    })
    await send({"type": "http.response.body", "body": body})


def _make_starlette_json() -> ASGIApp | None:
    try:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import JSONResponse
        from starlette.routing import Route
    except ImportError:
        return None

    async def homepage(request: Request) -> JSONResponse:
        return JSONResponse(JSON_DOCUMENT)

    app: ASGIApp = Starlette(routes=[Route("/", homepage)])
    return app


starlette_json: ASGIApp | None = _make_starlette_json()
