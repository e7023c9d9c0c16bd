"""Responses on the wire: framing chosen from what the app sent, HEAD/204/304, HTTP/1.0,
streaming, trailers, keep-alive and the default Date/Server fields.

RFC 9112 §6.3 (message body length), RFC 9110 §6.4.1 (HEAD, 204, 304 carry no content),
§8.6 (Content-Length), §6.5 (trailers); ASGI 2.4 `http.response.*` and the trailers extension.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from typing import Any

import httpx
from http_server_helpers import exchange, request, respond, serve

Headers = list[tuple[bytes, bytes]]


async def streaming_app(scope: Any, receive: Any, send: Any) -> None:
    """Three body messages; no Content-Length, so the server must chunk (HTTP/1.1)."""
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    for part in (b"one,", b"two,", b"three"):
        await send({"type": "http.response.body", "body": part, "more_body": True})
        await asyncio.sleep(0.01)
    await send({"type": "http.response.body", "body": b"", "more_body": False})


def test_single_body_message_gets_an_exact_content_length() -> None:
    with serve(_single_body_app) as server, server.raw() as conn:
        conn.send(request("GET", "/"))
        response = conn.read_response()
    assert response.header(b"content-length") == b"5"
    assert response.header(b"transfer-encoding") is None
    assert response.body == b"whole"


async def _single_body_app(scope: Any, receive: Any, send: Any) -> None:
    await respond(send, 200, b"whole")


def test_streaming_response_is_chunked_and_arrives_in_order() -> None:
    with serve(streaming_app) as server, server.raw() as conn:
        conn.send(request("GET", "/"))
        response = conn.read_response()
    assert response.chunked
    assert response.header(b"content-length") is None
    assert response.body == b"one,two,three"


def test_streaming_response_through_httpx_iterates_parts() -> None:
    with serve(streaming_app) as server, httpx.Client() as client, \
            client.stream("GET", server.url) as response:
        assert response.headers["transfer-encoding"] == "chunked"
        assert b"".join(response.iter_bytes()) == b"one,two,three"


def test_streaming_with_declared_content_length_is_not_chunked() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"6")]})
        await send({"type": "http.response.body", "body": b"abc", "more_body": True})
        await send({"type": "http.response.body", "body": b"def"})

    with serve(app) as server, server.raw() as conn:
        conn.send(request("GET", "/"))
        response = conn.read_response()
        assert not response.chunked
        assert response.body == b"abcdef"
        conn.send(request("GET", "/"))  # still keep-alive
        assert conn.read_response().body == b"abcdef"


def test_headers_may_be_any_iterable_of_pairs() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 201,
                    "headers": ((b"x-a", b"1"), [b"x-b", b"2"])})
        await send({"type": "http.response.body", "body": b"ok"})

    with serve(app) as server:
        response = httpx.get(server.url)
    assert response.status_code == 201
    assert (response.headers["x-a"], response.headers["x-b"]) == ("1", "2")


def test_response_without_body_message_fields_default() -> None:
    # `body` defaults to b"" and `more_body` to False (ASGI 2.4).
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body"})

    with serve(app) as server, server.raw() as conn:
        conn.send(request("GET", "/"))
        response = conn.read_response()
    assert response.status == 200
    assert response.header(b"content-length") == b"0"
    assert response.body == b""


# -- HEAD, 204, 304 -------------------------------------------------------------------------------


async def representation_app(scope: Any, receive: Any, send: Any) -> None:
    """What a framework does: the same headers for GET and HEAD, and the body regardless."""
    body = b"x" * 1234
    await respond(send, 200, body, [(b"content-length", str(len(body)).encode()),
                                    (b"etag", b'"v1"')])


def test_head_drops_the_body_and_keeps_the_get_content_length() -> None:
    with serve(representation_app) as server, server.raw() as conn:
        conn.send(request("HEAD", "/"))
        head = conn.read_response(head_request=True)
        conn.send(request("GET", "/"))  # the same connection: no stray body bytes in between
        get = conn.read_response()
    assert head.status == 200
    assert head.header(b"content-length") == b"1234"
    assert head.header(b"etag") == b'"v1"'
    assert get.header(b"content-length") == b"1234"
    assert get.body == b"x" * 1234


def test_head_of_a_streaming_response_sends_no_chunks() -> None:
    with serve(streaming_app) as server, server.raw() as conn:
        conn.send(request("HEAD", "/") + request("GET", "/"))
        head = conn.read_response(head_request=True)
        get = conn.read_response()  # would fail to parse if chunk bytes followed the HEAD
    assert head.status == 200
    assert get.body == b"one,two,three"


def test_head_through_httpx() -> None:
    with serve(representation_app) as server:
        response = httpx.head(server.url)
    assert response.status_code == 200
    assert response.headers["content-length"] == "1234"
    assert response.content == b""


def test_204_has_no_body_and_no_content_length() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        # Even an app that declares a length and sends bytes must not break the framing.
        await respond(send, 204, b"oops", [(b"content-length", b"4"), (b"x-kept", b"1")])

    with serve(app) as server, server.raw() as conn:
        conn.send(request("DELETE", "/") + request("GET", "/"))
        first = conn.read_response()
        second = conn.read_response()
    assert first.status == 204
    assert first.header(b"content-length") is None
    assert first.header(b"transfer-encoding") is None
    assert first.header(b"x-kept") == b"1"
    assert second.status == 204, "the next response follows directly: no body bytes leaked"


def test_204_from_a_streaming_app_is_not_chunked() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b"", "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    with serve(app) as server, server.raw() as conn:
        conn.send(request("GET", "/") + request("GET", "/"))
        first = conn.read_response()
        assert conn.read_response().status == 204
    assert first.header(b"transfer-encoding") is None


def test_304_keeps_its_headers_and_sends_no_body() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await respond(send, 304, b"", [(b"etag", b'"v1"'), (b"content-length", b"1234"),
                                       (b"cache-control", b"max-age=60")])

    with serve(app) as server, server.raw() as conn:
        conn.send(request("GET", "/", [(b"if-none-match", b'"v1"')]) + request("GET", "/"))
        first = conn.read_response()
        second = conn.read_response()
    assert first.status == 304
    # RFC 9110 §15.4.5: the fields a 200 would have had, including Content-Length.
    assert first.header(b"etag") == b'"v1"'
    assert first.header(b"cache-control") == b"max-age=60"
    assert first.header(b"content-length") == b"1234"
    assert second.status == 304


# -- HTTP/1.0 -------------------------------------------------------------------------------------


def test_http_1_0_gets_content_length_and_close() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await respond(send, 200, b"old client")

    with serve(app) as server:
        data = exchange(server.port, request("GET", "/", version="1.0"))
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"content-length: 10" in head.lower()
    assert body == b"old client"  # and exchange() returned because the server closed


def test_http_1_0_streaming_response_is_close_delimited() -> None:
    # RFC 9112 §6.3: an HTTP/1.0 client cannot read chunked; the body ends at close.
    with serve(streaming_app) as server:
        data = exchange(server.port, request("GET", "/", version="1.0"))
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"transfer-encoding" not in head.lower()
    assert b"content-length" not in head.lower()
    assert body == b"one,two,three"


def test_http_1_0_keep_alive_is_honoured_with_a_length() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await respond(send, 200, b"again")

    with serve(app) as server, server.raw() as conn:
        for _ in range(2):
            conn.send(request("GET", "/", [(b"connection", b"keep-alive")], version="1.0"))
            response = conn.read_response()
            assert response.body == b"again"
            assert response.header(b"connection") == b"keep-alive"


# -- keep-alive and Connection: close -------------------------------------------------------------


def test_keep_alive_reuses_one_connection() -> None:
    clients: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        clients.append(scope["client"])
        await respond(send, 200, b"ok")

    with serve(app) as server, httpx.Client() as client:
        for _ in range(5):
            assert client.get(server.url).status_code == 200
    assert len(set(clients)) == 1


def test_connection_close_request_is_answered_then_closed() -> None:
    with serve(_single_body_app) as server, server.raw() as conn:
        conn.send(request("GET", "/", [(b"connection", b"close")]))
        response = conn.read_response()
        assert response.header(b"connection") == b"close"
        assert conn.is_closed(2)


def test_app_connection_close_header_closes_after_the_response() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await respond(send, 200, b"bye", [(b"connection", b"close")])

    with serve(app) as server, server.raw() as conn:
        conn.send(request("GET", "/"))
        assert conn.read_response().body == b"bye"
        assert conn.is_closed(2)


# -- trailers (ASGI http.response.trailers extension) ----------------------------------------------


async def trailers_app(scope: Any, receive: Any, send: Any) -> None:
    assert "http.response.trailers" in scope["extensions"]
    await send({"type": "http.response.start", "status": 200, "trailers": True,
                "headers": [(b"trailer", b"x-checksum")]})
    await send({"type": "http.response.body", "body": b"part1", "more_body": True})
    await send({"type": "http.response.body", "body": b"part2", "more_body": False})
    await send({"type": "http.response.trailers", "headers": [(b"x-checksum", b"abc")],
                "more_trailers": True})
    await send({"type": "http.response.trailers", "headers": [(b"x-extra", b"1")]})


def test_trailers_become_chunked_trailer_fields() -> None:
    with serve(trailers_app) as server, server.raw() as conn:
        conn.send(request("GET", "/", [(b"te", b"trailers")]))
        response = conn.read_response()
        assert response.chunked
        assert response.body == b"part1part2"
        # Both trailers messages contribute (more_trailers=True does not drop fields).
        assert response.trailers == [(b"x-checksum", b"abc"), (b"x-extra", b"1")]
        conn.send(request("GET", "/", [(b"te", b"trailers")]))  # connection still usable
        assert conn.read_response().body == b"part1part2"


def test_body_message_after_trailers_started_is_refused() -> None:
    errors: list[BaseException] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "trailers": True})
        await send({"type": "http.response.body", "body": b"data"})
        await send({"type": "http.response.trailers", "headers": [], "more_trailers": True})
        try:
            await send({"type": "http.response.body", "body": b"late"})
        except RuntimeError as exc:
            errors.append(exc)
        await send({"type": "http.response.trailers", "headers": [(b"x-t", b"1")]})

    with serve(app) as server, server.raw() as conn:
        conn.send(request("GET", "/"))
        response = conn.read_response()
    assert response.body == b"data"
    assert response.trailers == [(b"x-t", b"1")]
    assert len(errors) == 1


def test_trailers_before_the_last_body_message_are_refused() -> None:
    errors: list[BaseException] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "trailers": True})
        await send({"type": "http.response.body", "body": b"data", "more_body": True})
        try:
            await send({"type": "http.response.trailers", "headers": [(b"x-early", b"1")]})
        except RuntimeError as exc:
            errors.append(exc)
        await send({"type": "http.response.body", "body": b"more"})
        await send({"type": "http.response.trailers", "headers": [(b"x-t", b"1")]})

    with serve(app) as server, server.raw() as conn:
        conn.send(request("GET", "/"))
        response = conn.read_response()
    assert response.body == b"datamore"
    assert response.trailers == [(b"x-t", b"1")]
    assert len(errors) == 1


def test_trailers_are_not_sent_to_an_http_1_0_client() -> None:
    # HTTP/1.0 has no chunked framing, hence nowhere to put trailer fields.
    with serve(trailers_app) as server:
        data = exchange(server.port, request("GET", "/", version="1.0"))
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert body == b"part1part2"


def test_response_completes_only_with_the_final_trailers_message() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "trailers": True})
        await send({"type": "http.response.body", "body": b"data"})
        await asyncio.sleep(0.2)
        await send({"type": "http.response.trailers", "headers": [(b"x-t", b"late")]})

    with serve(app) as server, server.raw() as conn:
        started = time.monotonic()
        conn.send(request("GET", "/"))
        response = conn.read_response()
    assert time.monotonic() - started >= 0.15
    assert response.trailers == [(b"x-t", b"late")]


# -- default fields -------------------------------------------------------------------------------


def test_default_server_and_date_headers() -> None:
    with serve(_single_body_app) as server, server.raw() as conn:
        conn.send(request("GET", "/"))
        response = conn.read_response()
    assert response.header(b"server") == b"moreweb"
    date = response.header(b"date")
    assert date is not None
    parsed = email.utils.parsedate_to_datetime(date.decode())
    assert abs(parsed.timestamp() - time.time()) < 5
    assert date.endswith(b" GMT")


def test_date_and_server_headers_can_be_switched_off() -> None:
    with serve(_single_body_app, server_header=False, date_header=False) as server:
        response = httpx.get(server.url)
    assert "server" not in response.headers
    assert "date" not in response.headers


def test_app_server_header_does_not_duplicate_when_default_is_off() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await respond(send, 200, b"", [(b"server", b"my-app")])

    with serve(app, server_header=False) as server, server.raw() as conn:
        conn.send(request("GET", "/"))
        assert conn.read_response().header_all(b"server") == [b"my-app"]


def test_extra_headers_option_adds_fields_to_every_response() -> None:
    with serve(_single_body_app, headers=["X-Frame-Options: DENY", ("X-Team", "web")]) as server:
        response = httpx.get(server.url)
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-team"] == "web"


def test_cached_date_header_is_refreshed() -> None:
    # The Date value is formatted once a second by the server's tick, not per request; the
    # cache must still move on with the clock (RFC 9110 §6.6.1: the time the message was sent).
    with serve(_single_body_app) as server, server.raw() as conn:
        conn.send(request("GET", "/"))
        first = conn.read_response().header(b"date")
        time.sleep(1.3)
        conn.send(request("GET", "/"))
        second = conn.read_response().header(b"date")
    assert first is not None and second is not None
    assert first != second
    later = email.utils.parsedate_to_datetime(second.decode()).timestamp()
    assert abs(later - time.time()) < 3


# -- HEAD length and --header overrides --


def test_head_with_app_sent_body_gets_the_get_content_length() -> None:
    # RFC 9110 §9.3.2/§8.6: a HEAD response may carry the Content-Length a GET would have.
    # The app sends its GET body in one message and no Content-Length of its own; the server
    # knows the length, drops the bytes, and can still say how long the GET body is.
    with serve(_single_body_app) as server, server.raw() as conn:
        conn.send(request("HEAD", "/") + request("GET", "/"))
        head = conn.read_response(head_request=True)
        get = conn.read_response()
    assert get.header(b"content-length") == b"5"
    assert head.header(b"content-length") == b"5"


def test_header_option_server_replaces_the_default_server_header() -> None:
    with serve(_single_body_app, headers=["Server: custom"]) as server, server.raw() as conn:
        conn.send(request("GET", "/"))
        assert conn.read_response().header_all(b"server") == [b"custom"]
