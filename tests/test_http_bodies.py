"""Request bodies through ASGI `receive()`: framing, pieces, disconnects and 100-continue.

ASGI 2.4 (HTTP `receive`): `http.request` messages carry `body` and `more_body`; once the
response is complete or the client is gone, `receive()` gives `http.disconnect`.
RFC 9110 §10.1.1: `100 Continue` is an invitation the server sends only when it wants the body.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
from http_server_helpers import (
    echo_app,
    read_body,
    request,
    respond,
    serve,
)

Message = dict[str, Any]
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def test_request_without_body_gives_one_empty_final_message() -> None:
    messages: list[Message] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        messages.append(await receive())
        await respond(send, 200)

    with serve(app) as server:
        assert httpx.get(server.url).status_code == 200
    assert messages == [{"type": "http.request", "body": b"", "more_body": False}]


def test_content_length_body_is_delivered_whole() -> None:
    payload = bytes(range(256)) * 1000
    with serve(echo_app) as server:
        response = httpx.post(server.url + "/echo", content=payload)
    assert response.status_code == 200
    assert response.content == payload


def test_body_arriving_in_pieces_is_several_messages_with_more_body() -> None:
    messages: list[Message] = []
    got_first = threading.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            messages.append(message)
            got_first.set()
            if not message["more_body"]:
                break
        await respond(send, 200, b"".join(m["body"] for m in messages))

    with serve(app) as server, server.raw() as conn:
        conn.send(request("POST", "/", [(b"content-length", b"10")]) + b"hello")
        assert got_first.wait(5)
        conn.send(b"world")
        response = conn.read_response()
    assert response.body == b"helloworld"
    assert len(messages) >= 2
    assert all(m["type"] == "http.request" for m in messages)
    assert messages[0] == {"type": "http.request", "body": b"hello", "more_body": True}
    assert [m["more_body"] for m in messages[1:-1]] == [True] * (len(messages) - 2)
    assert messages[-1]["more_body"] is False


def test_chunked_request_body_is_decoded_and_extensions_and_trailers_dropped() -> None:
    # RFC 9112 §7.1: chunk extensions and trailer fields are framing, not content.
    with serve(echo_app) as server, server.raw() as conn:
        conn.send(request("POST", "/", [(b"transfer-encoding", b"chunked")])
                  + b"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: t\r\n\r\n")
        response = conn.read_response()
    assert response.status == 200
    assert response.body == b"hello world"


def test_httpx_streamed_upload_is_chunked_and_reassembled() -> None:
    parts = [b"a" * 1000, b"b" * 70000, b"c"]

    def generate() -> Any:
        yield from parts

    with serve(echo_app) as server:
        response = httpx.post(server.url, content=generate())
    assert response.content == b"".join(parts)


def test_receive_after_response_gives_http_disconnect_immediately() -> None:
    after: list[Message] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await read_body(receive)
        await respond(send, 200, b"done")
        after.append(await asyncio.wait_for(receive(), 2))

    with serve(app) as server:
        assert httpx.post(server.url, content=b"x").content == b"done"
        assert server.wait_for(lambda: bool(after))
    assert after == [{"type": "http.disconnect"}]


def test_client_closing_mid_body_delivers_http_disconnect() -> None:
    messages: list[Message] = []
    got_first = threading.Event()
    finished = threading.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        try:
            while True:
                message = await asyncio.wait_for(receive(), 3)
                messages.append(message)
                got_first.set()
                if message["type"] == "http.disconnect":
                    return
        finally:
            finished.set()

    with serve(app) as server:
        with server.raw() as conn:
            conn.send(request("POST", "/", [(b"content-length", b"100000")]) + b"x" * 10)
            assert got_first.wait(5)
        assert finished.wait(5)
    assert messages[0] == {"type": "http.request", "body": b"x" * 10, "more_body": True}
    assert messages[-1] == {"type": "http.disconnect"}


def test_long_poll_receive_after_body_waits_for_the_disconnect() -> None:
    # A second receive() after the whole body has been read must wait (not spin on empty
    # http.request messages) until the client goes away.
    results: list[tuple[Message, float]] = []
    body_read = threading.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await read_body(receive)
        body_read.set()
        started = time.monotonic()
        message = await asyncio.wait_for(receive(), 5)
        results.append((message, time.monotonic() - started))

    with serve(app) as server:
        with server.raw() as conn:
            conn.send(request("POST", "/", body=b"abc"))
            assert body_read.wait(5)
            time.sleep(0.2)
        assert server.wait_for(lambda: bool(results))
    message, waited = results[0]
    assert message == {"type": "http.disconnect"}
    assert waited >= 0.15


def test_unread_body_is_discarded_and_keep_alive_continues() -> None:
    bodies: list[bytes] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["path"] == "/ignore":
            await respond(send, 200, b"ignored")  # never reads the body
            return
        bodies.append(await read_body(receive))
        await respond(send, 200, b"read")

    with serve(app) as server, server.raw() as conn:
        conn.send(request("POST", "/ignore", [(b"content-length", b"200000")]))
        first = conn.read_response()
        assert first.body == b"ignored"
        # The body arrives after the response; the server must skip it, not parse it.
        conn.send(b"G" * 200000)
        conn.send(request("POST", "/read", body=b"next"))
        second = conn.read_response()
    assert second.status == 200 and second.body == b"read"
    assert bodies == [b"next"]


def test_body_bytes_are_not_mistaken_for_a_pipelined_request() -> None:
    with serve(echo_app) as server, server.raw() as conn:
        smuggled = request("GET", "/smuggled")
        conn.send(request("POST", "/", body=smuggled))
        response = conn.read_response()
        assert response.body == smuggled
        assert response.header(b"x-target") == b"/"
        conn.send(request("GET", "/real"))
        assert conn.read_response().header(b"x-target") == b"/real"


# -- 100-continue (RFC 9110 §10.1.1) --------------------------------------------------------------


def test_100_continue_is_sent_only_when_the_app_asks_for_the_body() -> None:
    app_reading = threading.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(0.3)  # the app decides before reading
        app_reading.set()
        body = await read_body(receive)
        await respond(send, 200, body)

    with serve(app) as server, server.raw() as conn:
        conn.send(request("POST", "/", [(b"expect", b"100-continue"),
                                        (b"content-length", b"4")]))
        # Nothing may arrive before the app awaits receive().
        conn.sock.settimeout(0.15)
        try:
            early = conn.sock.recv(100)
        except TimeoutError:
            early = b""
        assert early == b""
        assert conn.read_exactly(len(CONTINUE)) == CONTINUE
        assert app_reading.is_set()
        conn.send(b"body")
        response = conn.read_response()
    assert response.status == 200 and response.body == b"body"


def test_no_100_continue_when_the_app_answers_without_reading() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await respond(send, 417, b"no thanks")

    with serve(app) as server, server.raw() as conn:
        conn.send(request("POST", "/", [(b"expect", b"100-continue"),
                                        (b"content-length", b"1000")]))
        response = conn.read_response()
        assert response.status == 417 and response.body == b"no thanks"
        # The client still holds its body back, so the connection cannot be reused.
        assert conn.is_closed(2)


def test_no_100_continue_when_the_body_came_with_the_head() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(0.05)
        await respond(send, 200, await read_body(receive))

    with serve(app) as server, server.raw() as conn:
        conn.send(request("POST", "/", [(b"expect", b"100-continue")], body=b"eager"))
        raw = conn.read_exactly(12)
        assert raw == b"HTTP/1.1 200"
        conn.unread(raw)
        assert conn.read_response().body == b"eager"


def test_reading_the_body_after_the_response_head_sends_no_100_continue() -> None:
    # A 1xx cannot follow the final response head; the client may send its body anyway
    # (RFC 9110 §10.1.1), and the app reads it as usual.
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await asyncio.sleep(0.05)  # the head goes out now
        body = await read_body(receive)
        await send({"type": "http.response.body", "body": body})

    with serve(app) as server, server.raw() as conn:
        conn.send(request("POST", "/", [(b"expect", b"100-continue"),
                                        (b"content-length", b"3")]))
        time.sleep(0.2)
        conn.send(b"abc")
        response = conn.read_response()
        assert server.errors == []
    assert response.status == 200
    assert response.body == b"abc"


def test_http_1_0_expect_100_continue_is_ignored() -> None:
    # RFC 9110 §10.1.1: a 100-continue expectation in an HTTP/1.0 request MUST be ignored.
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(0.05)
        await respond(send, 200, await read_body(receive))

    with serve(app) as server, server.raw() as conn:
        conn.send(request("POST", "/", [(b"expect", b"100-continue"),
                                        (b"content-length", b"3")], version="1.0"))
        time.sleep(0.2)
        conn.send(b"abc")
        data = conn.read_until_close()
    assert b"100 Continue" not in data
    assert data.startswith(b"HTTP/1.1 200 ")
    assert data.endswith(b"\r\n\r\nabc")


def test_server_keeps_serving_after_a_request_with_a_wrong_body_length() -> None:
    with serve(echo_app) as server:
        with server.raw() as conn:
            conn.send(request("POST", "/", [(b"content-length", b"10")]) + b"short")
        assert httpx.post(server.url, content=b"ok").content == b"ok"


def test_full_duplex_app_answers_each_piece_while_the_body_still_arrives() -> None:
    async def upper(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        while True:
            message = await receive()
            await send({"type": "http.response.body", "body": message["body"].upper(),
                        "more_body": message["more_body"]})
            if not message["more_body"]:
                return

    with serve(upper) as server, server.raw() as conn:
        conn.send(request("POST", "/", [(b"transfer-encoding", b"chunked")]))
        assert conn.read_head(time.monotonic() + 5).status == 200
        for word in (b"abc", b"def"):
            conn.send(b"%x\r\n%b\r\n" % (len(word), word))
            # The echo of this piece comes back before the client sends the next one.
            assert conn.read_line(time.monotonic() + 5) == b"3"
            assert conn.read_line(time.monotonic() + 5) == word.upper()
        conn.send(b"0\r\n\r\n")
        assert conn.read_exactly(5) == b"0\r\n\r\n"


def test_early_response_to_a_big_upload_keeps_the_connection_usable() -> None:
    # The app refuses before reading; the client keeps sending. The server must drain the
    # rest of the body (not stall with reading paused) and serve the next request.
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await respond(send, 413 if scope["path"] == "/upload" else 200, scope["path"].encode())

    with serve(app) as server, server.raw(timeout=10) as conn:
        upload = request("POST", "/upload", body=b"x" * (4 * 1024 * 1024))
        sender = threading.Thread(target=conn.send, args=(upload + request("GET", "/next"),))
        sender.start()
        try:
            first = conn.read_response()
            second = conn.read_response()
        finally:
            sender.join(10)
    assert (first.status, first.body) == (413, b"/upload")
    assert (second.status, second.body) == (200, b"/next")


def test_messages_rewritten_in_place_by_the_app_do_not_leak_into_later_requests() -> None:
    # Body-rewriting middleware (decompression, decryption) often does message["body"] = ...
    seen: list[Message] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        seen.append(dict(message))
        message["body"] = b"rewritten"
        await respond(send, 200)
        gone = await receive()
        seen.append(dict(gone))
        gone["type"] = "tampered"

    with serve(app) as server, server.raw() as conn:
        for _ in range(3):
            conn.send(request("GET", "/"))
            assert conn.read_response().status == 200
        assert server.wait_for(lambda: len(seen) == 6)
    assert seen == [{"type": "http.request", "body": b"", "more_body": False},
                    {"type": "http.disconnect"}] * 3
