"""Proxy headers: X-Forwarded-For/-Proto/-Host and RFC 7239 Forwarded, from trusted peers only.

The unit tests drive `ProxyHeadersMiddleware` with hand-made scopes; the end-to-end tests run
`python -m moreweb` and send the headers over TCP and a Unix socket.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from pathlib import Path
from typing import Any

import pytest

from moreweb.asgi.middleware.proxy_headers import (
    ProxyHeadersMiddleware,
    TrustedProxies,
    parse_forwarded,
)
from moreweb.config import Config, ConfigError
from tests.helpers_server import ServerProcess, http_get, write_app


def scope_from(headers: list[tuple[str, str]], client: tuple[str, int] | None = ("127.0.0.1", 5000),
               kind: str = "http", server: Any = ("127.0.0.1", 8000)) -> dict[str, Any]:
    return {
        "type": kind, "scheme": "ws" if kind == "websocket" else "http", "client": client,
        "server": server,
        "headers": [(name.lower().encode(), value.encode()) for name, value in headers],
    }


def seen(headers: list[tuple[str, str]], trusted: str = "127.0.0.1", **scope: Any
         ) -> dict[str, Any]:
    """The scope the app receives behind the middleware."""
    received: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        received.update(scope)

    middleware = ProxyHeadersMiddleware(app, trusted)
    asyncio.run(middleware(scope_from(headers, **scope), None, None))  # type: ignore[arg-type]
    return received


def host_of(scope: dict[str, Any]) -> str | None:
    values = [value.decode() for name, value in scope["headers"] if name == b"host"]
    assert len(values) <= 1
    return values[0] if values else None


# -- who is trusted -----------------------------------------------------------------------------

def test_trusted_entries_accept_addresses_networks_and_literals() -> None:
    trusted = TrustedProxies("127.0.0.1, 10.0.0.0/8 ,2001:db8::/32,unknown,unix:/run/a.sock")
    assert "127.0.0.1" in trusted
    assert "10.20.30.40" in trusted
    assert "11.0.0.1" not in trusted
    assert "2001:db8::1" in trusted
    assert "::ffff:10.1.2.3" in trusted  # an IPv4 peer seen on a dual-stack socket
    assert "unknown" in trusted
    assert "unix:/run/a.sock" in trusted and "unix:/run/b.sock" not in trusted
    assert "not-an-ip" not in trusted
    assert None not in trusted


def test_star_trusts_everyone() -> None:
    trusted = TrustedProxies("*")
    assert "203.0.113.7" in trusted
    assert trusted.peer_is_trusted(scope_from([], client=None, server=("/run/a.sock", None)))


@pytest.mark.parametrize("entry", ["10.0.0.300", "10.0.0.0/33", "fe80::1::2"])
def test_malformed_allow_ips_entry_is_a_config_error(entry: str) -> None:
    with pytest.raises(ConfigError, match="forwarded_allow_ips"):
        Config("app:app", forwarded_allow_ips=f"127.0.0.1,{entry}")


# -- X-Forwarded-For: the rightmost untrusted hop ---------------------------------------------

def test_client_is_the_rightmost_untrusted_hop_not_the_leftmost() -> None:
    # 198.51.100.1 was written by the client itself; 203.0.113.9 by our trusted proxy 10.0.0.2.
    scope = seen([("X-Forwarded-For", "198.51.100.1, 203.0.113.9, 10.0.0.2")],
                 trusted="127.0.0.1,10.0.0.0/8")
    assert scope["client"] == ("203.0.113.9", 0)


def test_all_hops_trusted_means_the_leftmost_is_the_client() -> None:
    scope = seen([("X-Forwarded-For", "10.0.0.9, 10.0.0.2")], trusted="127.0.0.1,10.0.0.0/8")
    assert scope["client"] == ("10.0.0.9", 0)


def test_several_x_forwarded_for_lines_are_one_list() -> None:
    # RFC 9110 section 5.3: repeated list fields combine in order.
    scope = seen([("X-Forwarded-For", "198.51.100.1"), ("X-Forwarded-For", "203.0.113.9")])
    assert scope["client"] == ("203.0.113.9", 0)


def test_untrusted_peer_headers_are_ignored() -> None:
    headers = [("X-Forwarded-For", "203.0.113.9"), ("X-Forwarded-Proto", "https"),
               ("X-Forwarded-Host", "example.com"), ("Host", "internal"),
               ("Forwarded", "for=203.0.113.9;proto=https")]
    scope = seen(headers, client=("192.0.2.50", 4000))
    assert scope["client"] == ("192.0.2.50", 4000)
    assert scope["scheme"] == "http"
    assert host_of(scope) == "internal"


def test_ipv6_hops_with_brackets_and_ports() -> None:
    scope = seen([("X-Forwarded-For", "[2001:db8::7]:4711")], trusted="::1",
                 client=("::1", 5000))
    assert scope["client"] == ("2001:db8::7", 4711)


def test_a_non_address_hop_leaves_the_client_alone() -> None:
    scope = seen([("X-Forwarded-For", "garbage")])
    assert scope["client"] == ("127.0.0.1", 5000)


# -- X-Forwarded-Proto and -Host -----------------------------------------------------------------

def test_forwarded_proto_sets_the_scheme_for_http_and_websocket() -> None:
    assert seen([("X-Forwarded-Proto", "https")])["scheme"] == "https"
    assert seen([("X-Forwarded-Proto", "HTTPS")], kind="websocket")["scheme"] == "wss"
    assert seen([("X-Forwarded-Proto", "wss")])["scheme"] == "https"
    assert seen([("X-Forwarded-Proto", "gopher")])["scheme"] == "http"


def test_proto_follows_its_hop_when_proxies_append() -> None:
    scope = seen([("X-Forwarded-For", "203.0.113.9, 10.0.0.2"),
                  ("X-Forwarded-Proto", "https, http")], trusted="127.0.0.1,10.0.0.0/8")
    assert scope["scheme"] == "https"  # what the client used with our outermost proxy


def test_forwarded_host_replaces_the_host_header() -> None:
    scope = seen([("Host", "backend:8000"), ("X-Forwarded-Host", "example.com:8443")])
    assert host_of(scope) == "example.com:8443"
    assert host_of(seen([("X-Forwarded-Host", "example.com")])) == "example.com"


@pytest.mark.parametrize("value", ["evil.com/path", "a b", "example.com\r\nx: y", "@evil"])
def test_a_host_that_is_not_a_host_is_ignored(value: str) -> None:
    scope = seen([("Host", "backend"), ("X-Forwarded-Host", value)])
    assert host_of(scope) == "backend"


# -- RFC 7239 Forwarded ------------------------------------------------------------------------

def test_parse_forwarded_elements_pairs_and_quotes() -> None:
    # RFC 7239 section 4 examples, with a quoted comma and escaped quote for good measure.
    assert parse_forwarded('for="_gazonk"') == [{"for": "_gazonk"}]
    assert parse_forwarded('For="[2001:db8:cafe::17]:4711"') == [
        {"for": "[2001:db8:cafe::17]:4711"}]
    assert parse_forwarded("for=192.0.2.60;proto=http;by=203.0.113.43") == [
        {"for": "192.0.2.60", "proto": "http", "by": "203.0.113.43"}]
    assert parse_forwarded('for=192.0.2.43, for="a,\\"b"') == [
        {"for": "192.0.2.43"}, {"for": 'a,"b'}]
    assert parse_forwarded("for=1.2.3.4;junk, for=5.6.7.8") == [{}, {"for": "5.6.7.8"}]


def test_forwarded_gives_client_proto_and_host_of_the_first_untrusted_hop() -> None:
    scope = seen([("Forwarded", 'for=198.51.100.1;proto=http, '
                                'for="[2001:db8:cafe::17]:4711";proto=https;host=example.com, '
                                'for=10.0.0.2;proto=http;host=internal')],
                 trusted="127.0.0.1,10.0.0.0/8")
    assert scope["client"] == ("2001:db8:cafe::17", 4711)
    assert scope["scheme"] == "https"
    assert host_of(scope) == "example.com"


def test_forwarded_with_an_obfuscated_client_keeps_the_peer_but_takes_proto() -> None:
    scope = seen([("Forwarded", "for=_hidden;proto=https")])
    assert scope["client"] == ("127.0.0.1", 5000)
    assert scope["scheme"] == "https"


def test_a_forged_element_left_of_the_proxy_is_never_used() -> None:
    scope = seen([("Forwarded", "for=6.6.6.6;proto=https, for=203.0.113.9;proto=http")])
    assert scope["client"] == ("203.0.113.9", 0)
    assert scope["scheme"] == "http"


def test_families_that_agree_are_merged() -> None:
    scope = seen([("Forwarded", "for=203.0.113.9"), ("X-Forwarded-For", "203.0.113.9"),
                  ("X-Forwarded-Proto", "https")])
    assert scope["client"] == ("203.0.113.9", 0)
    assert scope["scheme"] == "https"


def test_families_that_disagree_are_both_ignored(caplog: pytest.LogCaptureFixture) -> None:
    # The proxy manages X-Forwarded-For; the client forged Forwarded (or the reverse).
    logger = logging.getLogger("moreweb.error")
    logger.addHandler(caplog.handler)  # other tests may have stopped propagation to root
    try:
        with caplog.at_level(logging.WARNING, logger="moreweb.error"):
            scope = seen([("Forwarded", "for=6.6.6.6"), ("X-Forwarded-For", "203.0.113.9")])
    finally:
        logger.removeHandler(caplog.handler)
    assert scope["client"] == ("127.0.0.1", 5000)
    assert "disagree" in caplog.text


# -- Unix sockets and other scopes -------------------------------------------------------------

def test_unix_socket_peers_are_trusted_only_when_listed() -> None:
    unix = {"client": None, "server": ("/run/app.sock", None)}
    headers = [("X-Forwarded-For", "203.0.113.9")]
    assert seen(headers, **unix)["client"] is None  # default: 127.0.0.1 only
    assert seen(headers, trusted="unix:", **unix)["client"] == ("203.0.113.9", 0)
    assert seen(headers, trusted="unix:/run/app.sock", **unix)["client"] == ("203.0.113.9", 0)
    assert seen(headers, trusted="unix:/run/other.sock", **unix)["client"] is None


def test_lifespan_scopes_pass_through() -> None:
    received = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        received.append(scope)

    scope = {"type": "lifespan", "asgi": {"version": "3.0"}}
    asyncio.run(ProxyHeadersMiddleware(app)(scope, None, None))  # type: ignore[arg-type]
    assert received == [{"type": "lifespan", "asgi": {"version": "3.0"}}]


def test_config_wraps_the_app_only_when_proxy_headers_is_on() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        pass

    on = Config(app)
    on.load()
    assert isinstance(on.loaded_app, ProxyHeadersMiddleware) and on.loaded_app.app is app
    off = Config(app, proxy_headers=False)
    off.load()
    assert off.loaded_app is app


# -- end to end --------------------------------------------------------------------------------

APP = """
import json

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    host = dict(scope["headers"]).get(b"host", b"").decode()
    body = json.dumps({"client": scope["client"], "scheme": scope["scheme"], "host": host})
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body.encode()})
"""

FORWARDING = (b"X-Forwarded-For: 198.51.100.1, 203.0.113.9\r\nX-Forwarded-Proto: https\r\n"
              b"X-Forwarded-Host: example.com\r\n")


def body_of(response: bytes) -> dict[str, Any]:
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), response
    result: dict[str, Any] = json.loads(body)
    return result


def unix_get(path: str, extra: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(path)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n" + extra + b"Connection: close\r\n\r\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture
def app_dir(tmp_path: Path) -> str:
    return write_app(tmp_path, "proxy_app", APP)


def test_default_trusts_loopback_and_takes_the_rightmost_hop(app_dir: str) -> None:
    with ServerProcess(["proxy_app:app", "--app-dir", app_dir, "--port", "0"]) as server:
        data = body_of(http_get("127.0.0.1", server.port, extra=FORWARDING))
        assert data == {"client": ["203.0.113.9", 0], "scheme": "https", "host": "example.com"}


def test_peer_outside_forwarded_allow_ips_is_not_believed(app_dir: str) -> None:
    with ServerProcess(["proxy_app:app", "--app-dir", app_dir, "--port", "0",
                        "--forwarded-allow-ips", "10.0.0.0/8"]) as server:
        data = body_of(http_get("127.0.0.1", server.port, extra=FORWARDING))
        assert data["client"][0] == "127.0.0.1" and data["client"][1] > 0
        assert data["scheme"] == "http" and data["host"] == "test"


def test_no_proxy_headers_switches_the_middleware_off(app_dir: str) -> None:
    with ServerProcess(["proxy_app:app", "--app-dir", app_dir, "--port", "0",
                        "--no-proxy-headers"]) as server:
        data = body_of(http_get("127.0.0.1", server.port, extra=FORWARDING))
        assert data["client"][0] == "127.0.0.1" and data["scheme"] == "http"


def test_forwarded_allow_ips_from_the_environment(app_dir: str) -> None:
    with ServerProcess(["proxy_app:app", "--app-dir", app_dir, "--port", "0"],
                       env={"FORWARDED_ALLOW_IPS": "192.0.2.1"}) as server:
        data = body_of(http_get("127.0.0.1", server.port, extra=FORWARDING))
        assert data["client"][0] == "127.0.0.1"


def test_unix_socket_peer_trusted_with_unix_entry(app_dir: str, tmp_path: Path) -> None:
    path = str(tmp_path / "app.sock")
    with ServerProcess(["proxy_app:app", "--app-dir", app_dir, "--uds", path,
                        "--forwarded-allow-ips", "unix:"]) as server:
        assert server.where.startswith("unix socket")
        data = body_of(unix_get(path, FORWARDING))
        assert data == {"client": ["203.0.113.9", 0], "scheme": "https", "host": "example.com"}
    with ServerProcess(["proxy_app:app", "--app-dir", app_dir, "--uds", path]):
        data = body_of(unix_get(path, FORWARDING))
        assert data["client"] is None and data["scheme"] == "http"  # default: not trusted


def test_rfc7239_forwarded_end_to_end(app_dir: str) -> None:
    with ServerProcess(["proxy_app:app", "--app-dir", app_dir, "--port", "0"]) as server:
        extra = b'Forwarded: for=198.51.100.1, for="[2001:db8::5]:443";proto=https;host=a.test\r\n'
        data = body_of(http_get("127.0.0.1", server.port, extra=extra))
        assert data == {"client": ["2001:db8::5", 443], "scheme": "https", "host": "a.test"}
