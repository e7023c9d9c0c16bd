"""moreweb behind a real nginx, configured with the snippet from docs/deployment.md.

The test starts its own nginx (no daemon, no master process, everything under a temporary
prefix) with the documented `upstream`/`map`/`server` blocks, pointing at moreweb over
loopback TCP or over a Unix socket. Clients connect from 127.0.0.2, so that the address nginx
reports is distinguishable from nginx's own 127.0.0.1. Skipped, with the reason, when nginx
is not installed (Debian: `apt-get install nginx-light`).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.helpers_server import ServerProcess, write_app

NGINX = shutil.which("nginx") or next(
    (path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.path.exists(path)),
    None)
pytestmark = pytest.mark.skipif(
    NGINX is None, reason="nginx is not installed (Debian/Ubuntu: apt-get install nginx-light)")

DOCS = Path(__file__).resolve().parent.parent / "docs" / "deployment.md"
CLIENT_ADDRESS = "127.0.0.2"  # loopback, but not the address nginx connects to moreweb from

APP = """
import asyncio
import json

async def app(scope, receive, send):
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        message = await receive()
        await send({"type": "websocket.send", "text": json.dumps(
            {"echo": message.get("text"), "scheme": scope["scheme"],
             "client": scope["client"]})})
        await send({"type": "websocket.close"})
        return
    if scope["type"] != "http":
        return
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"first;", "more_body": True})
        await asyncio.sleep(0.6)
        await send({"type": "http.response.body", "body": b"second;", "more_body": True})
        await send({"type": "http.response.body", "body": b"end"})
        return
    headers = dict(scope["headers"])
    body = json.dumps({
        "client": scope["client"], "scheme": scope["scheme"],
        "host": headers.get(b"host", b"").decode(),
        "connection": headers.get(b"connection", b"").decode(),
    }).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})
"""


def doc_snippet(name: str) -> str:
    """The fenced block that follows `<!-- test: NAME -->` in docs/deployment.md."""
    text = DOCS.read_text()
    marker = text.index(f"<!-- test: {name} -->")
    start = text.index("\n", text.index("```", marker)) + 1
    return text[start:text.index("```", start)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def nginx(prefix: Path, upstream: str, tls: tuple[Path, Path] | None = None
          ) -> Iterator[int]:
    """Run nginx with the documented site, its upstream pointed at `upstream`."""
    site = doc_snippet("nginx")
    assert "server unix:/run/moreweb/moreweb.sock;" in site and "listen 80;" in site
    port = free_port()
    listen = f"listen 127.0.0.1:{port};"
    if tls is not None:
        listen = (f"listen 127.0.0.1:{port} ssl; ssl_certificate {tls[0]}; "
                  f"ssl_certificate_key {tls[1]};")
    site = site.replace("server unix:/run/moreweb/moreweb.sock;", f"server {upstream};")
    site = site.replace("listen 80;", listen)
    temp = {name: prefix / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    conf = prefix / "nginx.conf"
    conf.write_text(f"""
daemon off;
master_process off;
worker_processes 1;
pid {prefix / "nginx.pid"};
error_log stderr warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {temp["body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
{site}
}}
""")
    assert NGINX is not None
    proc = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(conf), "-e", "stderr"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"nginx exited: {proc.stderr.read()}")  # type: ignore[union-attr]
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "nginx did not start listening"
                time.sleep(0.05)
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        if proc.stderr is not None:
            proc.stderr.close()


def client_socket(port: int, context: ssl.SSLContext | None = None) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5,
                                    source_address=(CLIENT_ADDRESS, 0))
    if context is not None:
        return context.wrap_socket(sock, server_hostname="localhost")
    return sock


def request(port: int, path: str = "/", extra: bytes = b"",
            context: ssl.SSLContext | None = None) -> tuple[bytes, bytes]:
    with client_socket(port, context) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: site.test\r\n".encode() + extra
                     + b"Connection: close\r\n\r\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    return head, body


def moreweb_options(*swap: tuple[str, str]) -> list[str]:
    """The documented moreweb command's options, some swapped for the test's own."""
    program, app, *options = shlex.split(doc_snippet("moreweb-behind-nginx"))
    assert program == "moreweb" and app == "app:app"
    for flag, value in swap:
        options[options.index(flag) + 1] = value
    return options


@pytest.fixture
def app_dir(tmp_path: Path) -> str:
    return write_app(tmp_path, "nginx_app", APP)


def dechunk(body: bytes) -> bytes:
    out = b""
    while body:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out, body = out + body[:size], body[size + 2:]
    return out


def check_streaming(port: int) -> None:
    # proxy_buffering off: the first chunk reaches the client while the app still sleeps.
    with client_socket(port) as sock:
        start = time.monotonic()
        sock.sendall(b"GET /stream HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n")
        received = b""
        first_at = None
        while chunk := sock.recv(65536):
            received += chunk
            if first_at is None and b"first;" in received:
                first_at = time.monotonic() - start
        total = time.monotonic() - start
    assert first_at is not None and first_at < 0.45 and total >= 0.55
    assert dechunk(received.partition(b"\r\n\r\n")[2]) == b"first;second;end"


def test_nginx_over_unix_socket_with_the_documented_config(app_dir: str, tmp_path: Path
                                                           ) -> None:
    path = str(tmp_path / "moreweb.sock")
    options = moreweb_options(("--uds", path), ("--workers", "2"))
    with ServerProcess(["nginx_app:app", "--app-dir", app_dir, *options]), \
            nginx(tmp_path, f"unix:{path}") as port:
        # A client-supplied X-Forwarded-For is the left part of the list: never believed.
        _, body = request(port, extra=b"X-Forwarded-For: 198.51.100.66\r\n")
        data = json.loads(body)
        assert data["client"] == [CLIENT_ADDRESS, 0]
        assert data["scheme"] == "http" and data["host"] == "site.test"
        assert data["connection"] == ""  # the map: nothing that would end the keep-alive
        check_streaming(port)


@pytest.fixture
def tcp_moreweb(app_dir: str) -> Iterator[ServerProcess]:
    # Same documented command over TCP: the defaults trust 127.0.0.1 (nginx) and ::1.
    options = moreweb_options()
    for flag in ("--uds", "--forwarded-allow-ips"):
        at = options.index(flag)
        del options[at:at + 2]
    with ServerProcess(["nginx_app:app", "--app-dir", app_dir, "--port", "0",
                        *options]) as server:
        yield server


def test_nginx_over_tcp_streams_and_proxies_websockets(tcp_moreweb: ServerProcess,
                                                       tmp_path: Path) -> None:
    with nginx(tmp_path, f"127.0.0.1:{tcp_moreweb.port}") as port:
        _, body = request(port, extra=b"X-Forwarded-For: 198.51.100.66\r\n")
        assert json.loads(body)["client"] == [CLIENT_ADDRESS, 0]
        check_streaming(port)

        websockets_sync = pytest.importorskip("websockets.sync.client")
        with websockets_sync.connect(f"ws://127.0.0.1:{port}/ws", sock=client_socket(port),
                                     open_timeout=5) as ws:
            ws.send("hello")
            data: dict[str, Any] = json.loads(ws.recv(timeout=5))
        assert data == {"echo": "hello", "scheme": "ws", "client": [CLIENT_ADDRESS, 0]}


def test_nginx_keeps_upstream_connections_alive(app_dir: str, tmp_path: Path) -> None:
    # nginx is *not* trusted here, so the scope shows nginx's own address and port: the same
    # port across requests means they came over one kept-alive upstream connection.
    with ServerProcess(["nginx_app:app", "--app-dir", app_dir, "--port", "0",
                        "--forwarded-allow-ips", "192.0.2.1"]) as server, \
            nginx(tmp_path, f"127.0.0.1:{server.port}") as port:
        peers = [tuple(json.loads(request(port)[1])["client"]) for _ in range(6)]
    assert all(host == "127.0.0.1" for host, _ in peers)
    assert len(set(peers)) < len(peers)


def test_nginx_terminating_tls_sets_the_https_scheme(tcp_moreweb: ServerProcess,
                                                     tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    context = ssl.create_default_context()
    ca.configure_trust(context)
    with nginx(tmp_path, f"127.0.0.1:{tcp_moreweb.port}", tls=(certfile, keyfile)) as port:
        _, body = request(port, context=context)
    data = json.loads(body)
    assert data["scheme"] == "https" and data["client"] == [CLIENT_ADDRESS, 0]
    assert re.fullmatch(r"site\.test", data["host"])
