"""What the server does when the app misbehaves or the client is gone (ASGI 2.4, uvicorn's
expectations): a 500 when nothing was sent yet, a closed connection when it was, an exception
in the app for messages out of order, OSError from `send` after a disconnect. The server keeps
serving in every case.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import pytest
from http_server_helpers import read_body, request, respond, serve

Message = dict[str, Any]


async def ok_app(scope: Any, receive: Any, send: Any) -> None:
    await respond(send, 200, b"ok")


def _routes(**handlers: Any) -> Any:
    """One app with several behaviours by path, plus `/ok` to check the server still serves."""
    async def app(scope: Any, receive: Any, send: Any) -> None:
        handler = handlers.get(scope["path"].strip("/"), ok_app)
        await handler(scope, receive, send)

    return app


def test_exception_before_start_gives_500_logged_with_traceback() -> None:
    async def boom(scope: Any, receive: Any, send: Any) -> None:
        raise ValueError("broken handler")

    with serve(_routes(boom=boom)) as server:
        response = httpx.get(server.url + "/boom")
        assert response.status_code == 500
        assert response.text == "Internal Server Error"
        assert response.headers["connection"] == "close"
        assert response.headers["content-type"].startswith("text/plain")
        # Another connection is served normally.
        assert httpx.get(server.url + "/ok").text == "ok"
        assert server.wait_for(lambda: bool(server.errors))
        record = server.errors[0]
    assert "Exception in ASGI application" in record.getMessage()
    assert record.exc_info is not None and isinstance(record.exc_info[1], ValueError)


def test_exception_after_an_await_before_start_gives_500() -> None:
    async def boom(scope: Any, receive: Any, send: Any) -> None:
        await read_body(receive)
        await asyncio.sleep(0.01)
        raise KeyError("late")

    with serve(_routes(boom=boom)) as server:
        assert httpx.post(server.url + "/boom", content=b"x").status_code == 500
        assert httpx.get(server.url + "/ok").status_code == 200


def test_exception_after_start_truncates_and_closes() -> None:
    async def boom(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        await asyncio.sleep(0.01)
        raise RuntimeError("mid-stream failure")

    with serve(_routes(boom=boom)) as server:
        with server.raw() as conn:
            conn.send(request("GET", "/boom"))
            data = conn.read_until_close()
        # The client saw the head and part of a chunked body, but never the last chunk.
        assert data.startswith(b"HTTP/1.1 200 ")
        assert b"partial" in data
        assert not data.endswith(b"0\r\n\r\n")
        assert httpx.get(server.url + "/ok").text == "ok"
        assert server.wait_for(lambda: bool(server.errors))
        assert server.errors[0].exc_info is not None


def test_exception_after_start_with_content_length_is_visibly_short() -> None:
    async def boom(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"100")]})
        await send({"type": "http.response.body", "body": b"x" * 10, "more_body": True})
        raise RuntimeError("gave up")

    with serve(_routes(boom=boom)) as server:
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(server.url + "/boom")
        assert httpx.get(server.url + "/ok").status_code == 200


def test_returning_without_a_response_gives_500() -> None:
    async def silent(scope: Any, receive: Any, send: Any) -> None:
        return None

    with serve(_routes(silent=silent)) as server:
        response = httpx.get(server.url + "/silent")
        assert response.status_code == 500
        assert httpx.get(server.url + "/ok").status_code == 200
        assert server.wait_for(lambda: bool(server.errors))
        assert "without starting response" in server.error_messages()[0]


def test_returning_with_an_unfinished_body_closes_the_connection() -> None:
    async def unfinished(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"half", "more_body": True})

    with serve(_routes(unfinished=unfinished)) as server:
        with server.raw() as conn:
            conn.send(request("GET", "/unfinished"))
            data = conn.read_until_close()
        assert data.startswith(b"HTTP/1.1 200 ")
        assert not data.endswith(b"0\r\n\r\n")
        assert httpx.get(server.url + "/ok").status_code == 200
        assert server.wait_for(lambda: bool(server.errors))
        assert "without completing response" in server.error_messages()[0]


def test_exception_on_a_keep_alive_connection_closes_only_that_connection() -> None:
    async def boom(scope: Any, receive: Any, send: Any) -> None:
        raise ValueError("x")

    with serve(_routes(boom=boom)) as server, server.raw() as conn:
        conn.send(request("GET", "/ok"))
        assert conn.read_response().status == 200
        conn.send(request("GET", "/boom"))
        assert conn.read_response().status == 500
        assert conn.is_closed(2)


# -- message order and types (ASGI 2.4: the server raises in the app) ----------------------------


def _recording_app(*messages: Message) -> tuple[list[BaseException], Any]:
    """An app that sends `messages`, records what send() raised, then answers 299 properly."""
    raised: list[BaseException] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        started = False
        for message in messages:
            try:
                await send(message)
                started = started or message["type"] == "http.response.start"
            except Exception as exc:
                raised.append(exc)
        if not started:
            await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b"recovered"})

    return raised, app


@pytest.mark.parametrize("message", [
    {"type": "http.response.body", "body": b"too early"},
    {"type": "http.response.trailers", "headers": []},
    {"type": "websocket.send", "text": "wrong protocol"},
], ids=["body", "trailers", "websocket"])
def test_anything_before_response_start_raises(message: Message) -> None:
    raised, app = _recording_app(message)
    with serve(app) as server:
        response = httpx.get(server.url)
    assert response.status_code == 299 and response.content == b"recovered"
    assert len(raised) == 1 and isinstance(raised[0], RuntimeError)


def test_second_response_start_raises() -> None:
    start = {"type": "http.response.start", "status": 200, "headers": []}
    raised, app = _recording_app(start, start)
    with serve(app) as server:
        response = httpx.get(server.url)
    assert response.status_code == 200 and response.content == b"recovered"
    assert len(raised) == 1 and isinstance(raised[0], RuntimeError)


def test_trailers_without_announcing_them_raises() -> None:
    start = {"type": "http.response.start", "status": 200, "headers": []}
    trailers = {"type": "http.response.trailers", "headers": [(b"x", b"1")]}
    raised, app = _recording_app(start, trailers)
    with serve(app) as server:
        assert httpx.get(server.url).content == b"recovered"
    assert len(raised) == 1 and isinstance(raised[0], RuntimeError)


def test_non_integer_status_raises_in_the_app_and_gives_500() -> None:
    raised: list[BaseException] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        try:
            await send({"type": "http.response.start", "status": "200", "headers": []})
        except TypeError as exc:
            raised.append(exc)
            raise

    with serve(app) as server:
        assert httpx.get(server.url).status_code == 500
    assert len(raised) == 1


def test_non_bytes_body_raises_in_the_app() -> None:
    raised: list[BaseException] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            await send({"type": "http.response.body", "body": "text, not bytes"})
        except TypeError as exc:
            raised.append(exc)
        await send({"type": "http.response.body", "body": b"bytes"})

    with serve(app) as server:
        assert httpx.get(server.url).content == b"bytes"
    assert len(raised) == 1


def test_send_after_the_response_is_complete_raises() -> None:
    raised: list[BaseException] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await respond(send, 200, b"done")
        try:
            await send({"type": "http.response.body", "body": b"extra"})
        except RuntimeError as exc:
            raised.append(exc)

    with serve(app) as server, server.raw() as conn:
        conn.send(request("GET", "/"))
        assert conn.read_response().body == b"done"
        assert server.wait_for(lambda: bool(raised))
        # No stray bytes were written: the connection carries the next response cleanly.
        conn.send(request("GET", "/"))
        assert conn.read_response().body == b"done"


def test_invalid_response_header_never_reaches_the_wire() -> None:
    # A CR/LF in a field value would split the response (RFC 9110 §5.5).
    async def bad(scope: Any, receive: Any, send: Any) -> None:
        await respond(send, 200, b"x", [(b"x-bad", b"a\r\nset-cookie: evil=1")])

    with serve(_routes(bad=bad)) as server:
        with server.raw() as conn:
            conn.send(request("GET", "/bad"))
            data = conn.read_until_close()
        assert b"evil" not in data
        assert httpx.get(server.url + "/ok").status_code == 200
        assert server.wait_for(lambda: bool(server.errors))


# -- the client goes away --------------------------------------------------------------------------


def test_send_after_client_disconnect_raises_oserror() -> None:
    # ASGI 2.4: send() on a closed connection raises an OSError subclass (apps stop streaming).
    raised: list[BaseException] = []
    streaming = threading.Event()
    sends = 0

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal sends
        await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            for _ in range(500):
                await send({"type": "http.response.body", "body": b"tick", "more_body": True})
                sends += 1
                streaming.set()
                await asyncio.sleep(0.01)
        except OSError as exc:
            raised.append(exc)

    with serve(app) as server:
        with server.raw() as conn:
            conn.send(request("GET", "/"))
            assert streaming.wait(5)
        assert server.wait_for(lambda: bool(raised))
        assert sends < 500
        # Disconnect-driven OSError is the app's normal exit, not a server error.
        assert not [r for r in server.errors if r.exc_info and isinstance(r.exc_info[1], OSError)]


def test_app_returning_after_a_disconnect_is_not_logged_as_error() -> None:
    done = threading.Event()

    async def wait(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        while message["type"] != "http.disconnect":
            message = await asyncio.wait_for(receive(), 5)
        done.set()  # and return without a response: nobody is there to get one

    async def silent(scope: Any, receive: Any, send: Any) -> None:
        return None

    with serve(_routes(wait=wait, silent=silent)) as server:
        with server.raw() as conn:
            conn.send(request("POST", "/wait", [(b"content-length", b"10")]) + b"abc")
        assert done.wait(5)
        # A live client that got no response is worth an error; the gone one was not.
        assert httpx.get(server.url + "/silent").status_code == 500
        assert server.wait_for(lambda: len(server.errors) >= 1)
    assert len(server.errors) == 1


def test_malformed_request_gets_400_and_close_and_server_keeps_serving() -> None:
    with serve(ok_app) as server:
        with server.raw() as conn:
            conn.send(b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n")
            response = conn.read_response()
            assert response.status == 400
            assert conn.is_closed(2)
        assert httpx.get(server.url).text == "ok"


def test_body_longer_than_declared_content_length_never_reaches_the_wire() -> None:
    # Extra bytes after Content-Length would be read as the next response (RFC 9112 §6.3).
    async def liar(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"5")]})
        await send({"type": "http.response.body",
                    "body": b"hello" + b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nevil"})

    with serve(_routes(liar=liar)) as server:
        with server.raw() as conn:
            conn.send(request("GET", "/liar"))
            data = conn.read_until_close()
        assert b"evil" not in data
        assert httpx.get(server.url + "/ok").status_code == 200
        assert server.wait_for(lambda: bool(server.errors))


def test_body_shorter_than_declared_content_length_closes_the_connection() -> None:
    async def short(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"10")]})
        await send({"type": "http.response.body", "body": b"12345"})

    with serve(_routes(short=short)) as server, server.raw() as conn:
        conn.send(request("GET", "/short") + request("GET", "/ok"))
        data = conn.read_until_close()
        # The client can tell the response is incomplete, and nothing follows it.
        assert b"/ok" not in data and not data.endswith(b"ok")


def test_exception_right_after_start_before_anything_was_sent_gives_500() -> None:
    # The start message was accepted but its head not yet written (it waits to share a write
    # with the body): the client can still be told the truth.
    async def boom(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("failed before the body")

    with serve(_routes(boom=boom)) as server:
        response = httpx.get(server.url + "/boom")
        assert response.status_code == 500
        assert response.headers["connection"] == "close"
        assert httpx.get(server.url + "/ok").status_code == 200


def test_connect_is_answered_501_and_never_reaches_the_app() -> None:
    # RFC 9110 §9.3.6: a 2xx to CONNECT would open a tunnel, which ASGI cannot express.
    seen: list[str] = []

    async def app(scope: dict, receive: object, send: object) -> None:  # pragma: no cover
        seen.append(scope["method"])

    with serve(app) as server, server.raw() as conn:
        conn.send(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
        response = conn.read_response()
        assert response.status == 501
        assert conn.is_closed()
    assert seen == []
