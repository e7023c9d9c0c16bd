"""Limits that protect the server: `--limit-concurrency` (503 past the limit, uvicorn's option),
request-head size and field count (431, RFC 6585 §5). Each limit is checked at the edge: one
under it is served, one over it is refused, and the server serves normally afterwards.
"""

from __future__ import annotations

import threading
from typing import Any

import httpx
from http_server_helpers import (
    read_body,
    request,
    respond,
    serve,
    wait_threading_event,
)


def _blocking_app() -> tuple[threading.Event, list[str], Any]:
    """`/hold` waits until the test sets the event; everything else answers at once."""
    release = threading.Event()
    holding: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await read_body(receive)
        if scope["path"] == "/hold":
            holding.append("x")
            await wait_threading_event(release, 10)
        await respond(send, 200, scope["path"].encode())

    return release, holding, app


def test_limit_concurrency_answers_503_past_the_limit() -> None:
    release, holding, app = _blocking_app()
    with serve(app, limit_concurrency=2) as server:
        first, second = server.raw(), server.raw()
        try:
            first.send(request("GET", "/hold"))
            second.send(request("GET", "/hold"))
            assert server.wait_for(lambda: len(holding) == 2)
            with server.raw() as third:
                third.send(request("GET", "/over"))
                response = third.read_response()
                assert response.status == 503
                assert response.body == b"Service Unavailable"
                assert response.header(b"connection") == b"close"
                assert third.is_closed(2)
            release.set()
            assert first.read_response().body == b"/hold"
            assert second.read_response().body == b"/hold"
        finally:
            first.close()
            second.close()
        assert server.wait_for(lambda: server.connection_count() == 0, 2)
        assert httpx.get(server.url + "/after").text == "/after"


def test_limit_concurrency_serves_up_to_the_limit() -> None:
    # The limit is the number allowed, not one less (uvicorn's `>=` off-by-one refused the
    # last one: limit_concurrency=1 rejected every request).
    release, holding, app = _blocking_app()
    with serve(app, limit_concurrency=1) as server:
        assert httpx.get(server.url + "/one").text == "/one"
        with server.raw() as conn:
            conn.send(request("GET", "/hold"))
            assert server.wait_for(lambda: len(holding) == 1)
            with server.raw() as other:
                other.send(request("GET", "/two"))
                assert other.read_response().status == 503
            release.set()
            assert conn.read_response().status == 200


def test_request_head_larger_than_the_limit_gets_431() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await respond(send, 200, b"ok")

    with serve(app, limit_request_head_size=2048) as server:
        with server.raw() as conn:
            conn.send(request("GET", "/", [(b"x-small", b"a" * 1500)]))
            assert conn.read_response().status == 200
        with server.raw() as conn:
            conn.send(request("GET", "/", [(b"x-big", b"a" * 3000)]))
            response = conn.read_response()
            assert response.status == 431
            assert conn.is_closed(2)
        assert httpx.get(server.url).status_code == 200


def test_head_that_never_ends_is_refused_once_it_passes_the_limit() -> None:
    # No need to wait for the end of a head to know it is too big.
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await respond(send, 200, b"ok")

    with serve(app, limit_request_head_size=1024) as server, server.raw() as conn:
        conn.send(b"GET / HTTP/1.1\r\nHost: test\r\nX-Endless: " + b"a" * 4000)
        assert conn.read_response().status == 431


def test_too_many_header_fields_gets_431() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await respond(send, 200, b"ok")

    fields = [(f"x-{i}".encode(), b"v") for i in range(10)]
    with serve(app, limit_request_fields=11) as server:  # 10 fields plus Host
        with server.raw() as conn:
            conn.send(request("GET", "/", fields))
            assert conn.read_response().status == 200
        with server.raw() as conn:
            conn.send(request("GET", "/", [*fields, (b"x-one-more", b"v")]))
            assert conn.read_response().status == 431
        assert httpx.get(server.url).status_code == 200
