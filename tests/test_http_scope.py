"""The ASGI 3 HTTP connection scope, exactly as the ASGI spec (2.4) defines it, seen by a live app.

Each test sends a real request over a real socket and inspects the scope the app received.
"""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest
from http_server_helpers import exchange, request, respond, serve

Scope = dict[str, Any]


def scope_recorder() -> tuple[list[Scope], Any]:
    """An app that keeps every scope it is called with and answers 200 'ok'."""
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        seen.append(scope)
        await respond(send, 200, b"ok")

    return seen, app


def test_scope_has_every_required_key_with_spec_types() -> None:
    seen, app = scope_recorder()
    with serve(app) as server:
        response = httpx.get(server.url + "/items/1?x=1&y=%20", headers={"X-Custom": "v"})
    assert response.status_code == 200
    (scope,) = seen
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "http"
    assert scope["path"] == "/items/1"
    assert scope["raw_path"] == b"/items/1"
    # query_string is the raw bytes after '?', never decoded.
    assert scope["query_string"] == b"x=1&y=%20"
    assert scope["root_path"] == ""
    assert scope["client"] == ("127.0.0.1", scope["client"][1])
    assert isinstance(scope["client"][1], int) and scope["client"][1] > 0
    assert scope["server"] == ("127.0.0.1", server.port)
    assert isinstance(scope["state"], dict)
    assert "http.response.trailers" in scope["extensions"]
    assert "http.response.pathsend" in scope["extensions"]
    for name, value in scope["headers"]:
        assert type(name) is bytes and type(value) is bytes
        assert name == name.lower(), "spec: header names are lowercased"
    assert (b"x-custom", b"v") in [tuple(h) for h in scope["headers"]]


def test_headers_keep_wire_order_and_duplicates() -> None:
    seen, app = scope_recorder()
    with serve(app) as server:
        raw = request("GET", "/", [(b"X-A", b"1"), (b"Accept", b"a"), (b"x-a", b"2")])
        response = exchange(server.port, raw.replace(b"\r\n\r\n", b"\r\nConnection: close"
                                                     b"\r\n\r\n"))
    assert response.startswith(b"HTTP/1.1 200 ")
    headers = [tuple(h) for h in seen[0]["headers"]]
    assert headers == [(b"host", b"test"), (b"x-a", b"1"), (b"accept", b"a"), (b"x-a", b"2"),
                       (b"connection", b"close")]


def test_path_is_percent_decoded_utf8_and_raw_path_is_untouched() -> None:
    seen, app = scope_recorder()
    with serve(app) as server, server.raw() as conn:
        conn.send(request("GET", "/caf%C3%A9/a%2Fb%20c?q=%C3%A9"))
        assert conn.read_response().status == 200
    scope = seen[0]
    assert scope["path"] == "/café/a/b c"
    assert scope["raw_path"] == b"/caf%C3%A9/a%2Fb%20c"
    assert scope["query_string"] == b"q=%C3%A9"


def test_absolute_form_target_gives_only_path_and_query() -> None:
    # RFC 9112 §3.2.2: a server must accept absolute-form; the scope describes the path.
    seen, app = scope_recorder()
    with serve(app) as server, server.raw() as conn:
        conn.send(request("GET", "http://example.com/a/b?c=d"))
        assert conn.read_response().status == 200
    assert seen[0]["path"] == "/a/b"
    assert seen[0]["raw_path"] == b"/a/b"
    assert seen[0]["query_string"] == b"c=d"


def test_methods_are_uppercase_strings_including_extension_methods() -> None:
    seen, app = scope_recorder()
    with serve(app) as server, server.raw() as conn:
        for method in ("POST", "DELETE", "OPTIONS", "PURGE"):
            conn.send(request(method, "/"))
            assert conn.read_response().status == 200
    assert [s["method"] for s in seen] == ["POST", "DELETE", "OPTIONS", "PURGE"]


def test_http_1_0_request_reports_http_version_1_0() -> None:
    seen, app = scope_recorder()
    with serve(app) as server:
        exchange(server.port, request("GET", "/", version="1.0"))
    assert seen[0]["http_version"] == "1.0"


def test_root_path_prefixes_path_and_raw_path_like_uvicorn() -> None:
    # uvicorn semantics (ASGI 2.4 erratum): `path` and `raw_path` include `root_path`.
    seen, app = scope_recorder()
    with serve(app, root_path="/api/") as server:
        assert httpx.get(server.url + "/items%20x").status_code == 200
    scope = seen[0]
    assert scope["root_path"] == "/api"
    assert scope["path"] == "/api/items x"
    assert scope["raw_path"] == b"/api/items%20x"


def test_state_is_a_shallow_copy_of_the_lifespan_state() -> None:
    shared_list: list[str] = []
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            message = await receive()
            assert message["type"] == "lifespan.startup"
            scope["state"]["name"] = "from-startup"
            scope["state"]["shared"] = shared_list
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        seen.append(scope)
        # A request's changes to its copy must not leak into the next request's state...
        scope["state"]["name"] = "changed-by-request"
        scope["state"]["added"] = True
        # ...but the values themselves are shared (shallow copy).
        scope["state"]["shared"].append("x")
        await respond(send, 200)

    with serve(app, lifespan="on") as server, server.raw() as conn:
        for _ in range(2):
            conn.send(request("GET", "/"))
            assert conn.read_response().status == 200
    assert seen[0]["state"] is not seen[1]["state"]
    assert seen[1]["state"]["name"] == "changed-by-request"
    assert shared_list == ["x", "x"]


def test_state_seen_on_arrival_is_lifespan_state() -> None:
    arrived: list[dict[str, Any]] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            scope["state"]["db"] = "connection"
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        arrived.append(dict(scope["state"]))
        scope["state"]["mutated"] = 1
        await respond(send, 200)

    with serve(app, lifespan="on") as server, server.raw() as conn:
        for _ in range(2):
            conn.send(request("GET", "/"))
            assert conn.read_response().status == 200
    assert arrived == [{"db": "connection"}, {"db": "connection"}]


def test_each_request_gets_its_own_scope_and_extensions() -> None:
    seen, app = scope_recorder()
    with serve(app) as server, server.raw() as conn:
        for target in ("/a", "/b"):
            conn.send(request("GET", target))
            assert conn.read_response().status == 200
    first, second = seen
    assert first is not second
    assert first["extensions"] is not second["extensions"]
    assert (first["path"], second["path"]) == ("/a", "/b")
    assert first["client"] == second["client"], "same connection, same client address"


def _ipv6_available() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_available(), reason="no IPv6 loopback here")
def test_ipv6_client_and_server_are_host_port_pairs() -> None:
    seen, app = scope_recorder()
    with serve(app, host="::1") as server, server.raw() as conn:
        conn.send(request("GET", "/"))
        assert conn.read_response().status == 200
        local_port = conn.sock.getsockname()[1]
    scope = seen[0]
    # A 2-tuple (host, port) even though the socket address has flowinfo and scope id.
    assert scope["client"] == ("::1", local_port)
    assert scope["server"] == ("::1", server.port)


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no Unix sockets here")
def test_unix_socket_scope_has_no_client_and_the_path_as_server(tmp_path: Any) -> None:
    # ASGI 2.4: `server` is [path, None] for a Unix socket; `client` is None when unknown.
    seen, app = scope_recorder()
    path = str(tmp_path / "moreweb.sock")
    with serve(app, uds=path) as server, server.raw() as conn:
        conn.send(request("GET", "/unix"))
        assert conn.read_response().body == b"ok"
    scope = seen[0]
    assert scope["path"] == "/unix"
    assert scope["client"] is None
    assert tuple(scope["server"]) == (path, None)


def test_asgi2_app_is_served_through_the_adapter() -> None:
    seen: list[Scope] = []

    class Asgi2App:
        def __init__(self, scope: Scope) -> None:
            seen.append(scope)
            self.scope = scope

        async def __call__(self, receive: Any, send: Any) -> None:
            body = b"asgi2 " + self.scope["path"].encode()
            await respond(send, 200, body)

    with serve(Asgi2App) as server:
        response = httpx.get(server.url + "/two")
    assert response.status_code == 200
    assert response.content == b"asgi2 /two"
    assert seen[0]["type"] == "http"


def test_explicit_asgi2_interface_option() -> None:
    def asgi2(scope: Scope) -> Any:
        async def instance(receive: Any, send: Any) -> None:
            await respond(send, 200, b"explicit")

        return instance

    with serve(asgi2, interface="asgi2") as server:
        assert httpx.get(server.url).content == b"explicit"
