"""A Starlette application end to end on a live moreweb server: what uvicorn users run every day.

Routing, JSON, forms and uploads, streaming, files (via pathsend), background tasks, lifespan
state, middleware and error pages, all through a real socket and a real client.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("starlette")
pytest.importorskip("multipart")

from http_server_helpers import request, serve, wait_threading_event
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route


class Probe:
    """What the app saw, shared with the test thread."""

    def __init__(self) -> None:
        self.background_done = threading.Event()
        self.release_background = threading.Event()
        self.response_received_first: bool | None = None


def build_app(probe: Probe, static_file: Path) -> Starlette:
    async def homepage(request: Request) -> Response:
        return PlainTextResponse("home")

    async def user(request: Request) -> Response:
        return JSONResponse({"id": request.path_params["user_id"],
                             "q": request.query_params.get("q")})

    async def echo_json(request: Request) -> Response:
        data = await request.json()
        return JSONResponse({"received": data, "client": request.client.host
                             if request.client else None})

    async def form(request: Request) -> Response:
        async with request.form() as values:
            result: dict[str, Any] = {}
            for key, value in values.multi_items():
                if isinstance(value, str):
                    result[key] = value
                else:
                    content = await value.read()
                    result[key] = {"filename": value.filename, "size": len(content),
                                   "head": content[:5].decode()}
        return JSONResponse(result)

    async def stream(request: Request) -> Response:
        async def numbers() -> AsyncIterator[bytes]:
            for i in range(5):
                yield f"{i}\n".encode()
                await asyncio.sleep(0.005)

        return StreamingResponse(numbers(), media_type="text/plain")

    async def file(request: Request) -> Response:
        return FileResponse(static_file, filename="data.txt")

    async def background(request: Request) -> Response:
        async def later() -> None:
            # Waits for the test to confirm it already has the response: if the server held
            # the response until background tasks finished, this would time out.
            probe.response_received_first = await wait_threading_event(
                probe.release_background, 5)
            probe.background_done.set()

        return PlainTextResponse("queued", background=BackgroundTask(later))

    async def state(request: Request) -> Response:
        return PlainTextResponse(request.state.greeting)

    async def fail(request: Request) -> Response:
        raise RuntimeError("starlette handler failed")

    async def root_path_info(request: Request) -> Response:
        return JSONResponse({"root_path": request.scope["root_path"],
                             "path": request.scope["path"], "url": str(request.url)})

    class HeaderMiddleware(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: Any) -> Response:
            response: Response = await call_next(request)
            response.headers["x-middleware"] = "yes"
            return response

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        yield {"greeting": "hello from lifespan"}

    return Starlette(
        routes=[
            Route("/", homepage),
            Route("/users/{user_id:int}", user),
            Route("/json", echo_json, methods=["POST"]),
            Route("/form", form, methods=["POST"]),
            Route("/stream", stream),
            Route("/file", file),
            Route("/background", background),
            Route("/state", state),
            Route("/fail", fail),
            Mount("/sub", routes=[Route("/info", root_path_info)]),
        ],
        middleware=[Middleware(HeaderMiddleware)],
        lifespan=lifespan,
    )


@pytest.fixture
def running(tmp_path: Path) -> Any:
    static_file = tmp_path / "data.txt"
    static_file.write_bytes(b"file contents\n" * 5000)
    probe = Probe()
    with serve(build_app(probe, static_file), lifespan="on") as server:
        yield server, probe, static_file


def test_routing_path_params_404_and_405(running: Any) -> None:
    server, _, _ = running
    with httpx.Client(base_url=server.url) as client:
        home = client.get("/")
        assert (home.status_code, home.text) == (200, "home")
        assert home.headers["x-middleware"] == "yes"
        assert client.get("/users/42?q=x").json() == {"id": 42, "q": "x"}
        assert client.get("/users/not-a-number").status_code == 404
        assert client.get("/nowhere").status_code == 404
        assert client.get("/json").status_code == 405


def test_json_round_trip(running: Any) -> None:
    server, _, _ = running
    payload = {"name": "café", "items": list(range(100))}
    response = httpx.post(server.url + "/json", json=payload)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"received": payload, "client": "127.0.0.1"}


def test_urlencoded_form(running: Any) -> None:
    server, _, _ = running
    response = httpx.post(server.url + "/form", data={"a": "1", "b": "two words"})
    assert response.json() == {"a": "1", "b": "two words"}


def test_multipart_upload(running: Any) -> None:
    server, _, _ = running
    upload = b"HELLO" + b"x" * 200_000
    response = httpx.post(server.url + "/form", data={"field": "v"},
                          files={"upload": ("up.bin", upload, "application/octet-stream")})
    assert response.json() == {"field": "v",
                               "upload": {"filename": "up.bin", "size": len(upload),
                                          "head": "HELLO"}}


def test_streaming_response(running: Any) -> None:
    server, _, _ = running
    with httpx.Client() as client, client.stream("GET", server.url + "/stream") as response:
        assert response.headers["transfer-encoding"] == "chunked"
        assert response.headers["x-middleware"] == "yes"
        assert b"".join(response.iter_bytes()) == b"0\n1\n2\n3\n4\n"


def test_file_response(running: Any) -> None:
    server, _, static_file = running
    with httpx.Client(base_url=server.url) as client:
        response = client.get("/file")
        head = client.head("/file")
        partial = client.get("/file", headers={"range": "bytes=0-3"})
    assert response.status_code == 200
    assert response.content == static_file.read_bytes()
    assert response.headers["content-length"] == str(static_file.stat().st_size)
    assert "data.txt" in response.headers["content-disposition"]
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == response.headers["content-length"]
    if partial.status_code == 206:  # Starlette versions with range support
        assert partial.content == b"file"


def test_background_task_runs_after_the_response(running: Any) -> None:
    server, probe, _ = running
    response = httpx.get(server.url + "/background", timeout=3)
    assert response.text == "queued"
    assert not probe.background_done.is_set()
    probe.release_background.set()
    assert probe.background_done.wait(5)
    assert probe.response_received_first is True


def test_keep_alive_connection_is_free_while_a_background_task_runs(running: Any) -> None:
    server, probe, _ = running
    with server.raw() as conn:
        conn.send(request("GET", "/background"))
        assert conn.read_response().body == b"queued"
        # The next request on the same connection is served even though the previous
        # request's app call (its background task) is still running.
        conn.send(request("GET", "/"))
        assert conn.read_response(timeout=3).body == b"home"
    probe.release_background.set()
    assert probe.background_done.wait(5)


def test_lifespan_state_reaches_requests(running: Any) -> None:
    server, _, _ = running
    assert httpx.get(server.url + "/state").text == "hello from lifespan"


def test_handler_exception_gives_500_and_server_goes_on(running: Any) -> None:
    server, _, _ = running
    response = httpx.get(server.url + "/fail")
    assert response.status_code == 500
    assert httpx.get(server.url + "/").text == "home"
    assert server.wait_for(lambda: bool(server.errors))


def test_request_is_disconnected_sees_the_client_leave() -> None:
    # Without BaseHTTPMiddleware: it hides disconnects from handlers (under uvicorn too).
    disconnected = threading.Event()

    async def wait_disconnect(request: Request) -> Response:
        for _ in range(500):
            if await request.is_disconnected():
                disconnected.set()
                break
            await asyncio.sleep(0.01)
        return PlainTextResponse("gone")

    app = Starlette(routes=[Route("/", wait_disconnect)])
    with serve(app) as server:
        with server.raw() as conn:
            conn.send(request("GET", "/"))
            # Give the handler time to start polling, then leave.
            assert not disconnected.wait(0.1)
        assert disconnected.wait(5)


def test_mount_and_root_path(tmp_path: Path) -> None:
    probe = Probe()
    app = build_app(probe, tmp_path / "unused")
    with serve(app, lifespan="on", root_path="/prefix") as server:
        data = httpx.get(server.url + "/sub/info").json()
    assert data["root_path"] == "/prefix/sub"
    assert data["path"] == "/prefix/sub/info"
    assert data["url"].endswith("/prefix/sub/info")
