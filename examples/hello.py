"""The smallest useful ASGI app: answers every HTTP request with "Hello, world!".

Run it with `moreweb examples.hello:app`. It speaks lifespan too (it does nothing with it) so
it starts quietly under `--lifespan on`. It must stay dependency-free: benchmarks use it to
measure the server, not a framework.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Message = MutableMapping[str, Any]

BODY = b"Hello, world!"


async def app(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    await send({
        "type": "http.response.start",
        "status": 200,
        "headers": [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(BODY)).encode("ascii")),
        ],
    })
    await send({"type": "http.response.body", "body": BODY})


if __name__ == "__main__":
    import moreweb

    moreweb.run(app)
