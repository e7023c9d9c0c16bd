"""A small Starlette app exercising the common paths: routes, JSON, a form, streaming.

Run it with `moreweb examples.starlette_app:app`. Useful for manual testing and as a
realistic app in integration tests; it must never need anything beyond Starlette and
python-multipart (the test extras).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[dict[str, object]]:
    # Yielded state reaches every request as request.state (a copy per request).
    yield {"greeting": "Hello"}


async def homepage(request: Request) -> Response:
    return PlainTextResponse(f"{request.state.greeting}, world!")


async def hello(request: Request) -> Response:
    name = request.path_params["name"]
    return JSONResponse({"message": f"{request.state.greeting}, {name}!"})


async def echo_json(request: Request) -> Response:
    try:
        payload = await request.json()
    except ValueError:
        return JSONResponse({"error": "body is not JSON"}, status_code=400)
    return JSONResponse({"received": payload})


async def form(request: Request) -> Response:
    async with request.form() as data:
        fields = {key: str(value) for key, value in data.items() if isinstance(value, str)}
        files = {
            key: {"filename": value.filename, "size": len(await value.read())}
            for key, value in data.items()
            if not isinstance(value, str)
        }
    return JSONResponse({"fields": fields, "files": files})


async def stream(request: Request) -> Response:
    count = min(int(request.query_params.get("count", "5")), 100)

    async def numbers() -> AsyncIterator[bytes]:
        for i in range(count):
            yield f"{i}\n".encode()
            await asyncio.sleep(0)

    return StreamingResponse(numbers(), media_type="text/plain")


app = Starlette(
    routes=[
        Route("/", homepage),
        Route("/hello/{name}", hello),
        Route("/json", echo_json, methods=["POST"]),
        Route("/form", form, methods=["POST"]),
        Route("/stream", stream),
    ],
    lifespan=lifespan,
)
