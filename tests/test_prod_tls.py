"""TLS: the --ssl-* options end to end, the scope's scheme, and the ASGI `tls` extension.

Certificates come from trustme (a test-only dependency). Each test runs a real
`python -m moreweb` process on 127.0.0.1 port 0 and talks to it with the ssl module.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from moreweb.tls import rfc4514_name
from tests.helpers_server import ServerProcess, write_app

trustme = pytest.importorskip("trustme")

APP = """
import json

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        tls = scope["extensions"].get("tls") or {}
        await send({"type": "websocket.send",
                    "text": scope["scheme"] + (" tls" if "tls_version" in tls else "")})
        await send({"type": "websocket.close"})
        return
    body = json.dumps({
        "scheme": scope["scheme"],
        "tls": scope["extensions"].get("tls"),
    }).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})
"""


class Pki:
    def __init__(self, directory: Path) -> None:
        self.ca = trustme.CA()
        self.server = self.ca.issue_cert("127.0.0.1", "localhost")
        self.directory = directory
        self.certfile = directory / "server.pem"
        self.keyfile = directory / "server.key"
        self.cafile = directory / "ca.pem"
        self.server.cert_chain_pems[0].write_to_path(str(self.certfile))
        for blob in self.server.cert_chain_pems[1:]:
            blob.write_to_path(str(self.certfile), append=True)
        self.server.private_key_pem.write_to_path(str(self.keyfile))
        self.ca.cert_pem.write_to_path(str(self.cafile))

    def client_context(self, **options: Any) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        self.ca.configure_trust(context)
        for name, value in options.items():
            setattr(context, name, value)
        return context


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def app_dir(tmp_path: Path) -> str:
    return write_app(tmp_path, "tls_app", APP)


def serve(app_dir: str, *options: str) -> ServerProcess:
    return ServerProcess(["tls_app:app", "--app-dir", app_dir, "--port", "0",
                          "--no-access-log", *options])


def https_get(port: int, context: ssl.SSLContext, path: str = "/") -> tuple[bytes, bytes]:
    """One HTTPS request with Connection: close; returns (head, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
                    .encode())
        chunks = []
        while True:
            chunk = tls.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    return head, body


def tls_options(pki: Pki) -> list[str]:
    return ["--ssl-certfile", str(pki.certfile), "--ssl-keyfile", str(pki.keyfile)]


@pytest.fixture
def tls_server(pki: Pki, app_dir: str) -> Iterator[ServerProcess]:
    with serve(app_dir, *tls_options(pki)) as server:
        yield server


@pytest.fixture(params=["auto", "asyncio"])
def any_loop_tls_server(request: pytest.FixtureRequest, pki: Pki, app_dir: str
                        ) -> Iterator[ServerProcess]:
    with serve(app_dir, *tls_options(pki), "--loop", request.param) as server:
        yield server


def test_https_round_trip_reports_https_scheme_and_tls_extension(
        pki: Pki, any_loop_tls_server: ServerProcess) -> None:
    tls_server = any_loop_tls_server
    assert tls_server.where.startswith("https://127.0.0.1:")
    head, body = https_get(tls_server.port, pki.client_context())
    assert head.startswith(b"HTTP/1.1 200 ")
    data = json.loads(body)
    assert data["scheme"] == "https"
    tls = data["tls"]
    assert tls["tls_version"] in (0x0303, 0x0304)
    assert isinstance(tls["cipher_suite"], int) and 0 < tls["cipher_suite"] <= 0xFFFF
    # The server's own certificate, as PEM, exactly the leaf from --ssl-certfile.
    assert tls["server_cert"] == pki.server.cert_chain_pems[0].bytes().decode()
    assert tls["client_cert_chain"] == []
    assert tls["client_cert_name"] is None
    assert tls["client_cert_error"] is None


def test_tls_version_and_cipher_suite_are_iana_numbers(
        pki: Pki, tls_server: ServerProcess) -> None:
    context = pki.client_context(maximum_version=ssl.TLSVersion.TLSv1_2)
    # One of the suites OpenSSL's defaults allow (moreweb's default --ssl-ciphers).
    context.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")
    _, body = https_get(tls_server.port, context)
    tls = json.loads(body)["tls"]
    assert tls["tls_version"] == 0x0303  # RFC 5246: TLS 1.2 is {3, 3}
    assert tls["cipher_suite"] == 0xC02B  # RFC 5289: TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256


def test_plain_http_to_the_tls_port_is_closed_and_the_server_keeps_serving(
        pki: Pki, tls_server: ServerProcess) -> None:
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", tls_server.port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            try:
                answer = sock.recv(65536)
            except ConnectionResetError:
                answer = b""
            # Either closed, or a TLS alert record (content type 21): never an HTTP response
            # in clear text that a confused client could mistake for the real site.
            assert answer == b"" or answer[:1] == b"\x15"
    head, body = https_get(tls_server.port, pki.client_context())
    assert head.startswith(b"HTTP/1.1 200 ")
    assert json.loads(body)["scheme"] == "https"
    assert "Traceback" not in tls_server.stderr_text


def test_client_certificate_required_is_reported_in_the_scope(
        pki: Pki, app_dir: str, tmp_path: Path) -> None:
    client = pki.ca.issue_cert("client@example.com", common_name="client one",
                               organization_name="Example, Inc.")
    options = [*tls_options(pki), "--ssl-cert-reqs", "2", "--ssl-ca-certs", str(pki.cafile)]
    with serve(app_dir, *options) as server:
        context = pki.client_context()
        client.configure_cert(context)
        _, body = https_get(server.port, context)
        tls = json.loads(body)["tls"]
        assert tls["client_cert_chain"][0] == client.cert_chain_pems[0].bytes().decode()
        # RFC 4514: last RDN first, and the comma inside a value escaped.
        assert tls["client_cert_name"].startswith("CN=client one,")
        assert "O=Example\\, Inc." in tls["client_cert_name"]

        # Without a certificate the server refuses (with TLS 1.3 the client learns it only
        # when reading: an alert or a close) and never runs the app; it stays unharmed.
        try:
            head, _ = https_get(server.port, pki.client_context())
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
            head = b""
        assert head == b""
        _, body = https_get(server.port, context)
        assert json.loads(body)["scheme"] == "https"


def test_encrypted_key_with_ssl_keyfile_password(pki: Pki, app_dir: str,
                                                 tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(pki.server.private_key_pem.bytes(), None)
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"s3cret")))
    options = ["--ssl-certfile", str(pki.certfile), "--ssl-keyfile", str(encrypted),
               "--ssl-keyfile-password", "s3cret"]
    with serve(app_dir, *options) as server:
        head, _ = https_get(server.port, pki.client_context())
        assert head.startswith(b"HTTP/1.1 200 ")


def test_ssl_ciphers_restricts_tls12_suites(pki: Pki, app_dir: str) -> None:
    with serve(app_dir, *tls_options(pki), "--ssl-ciphers", "ECDHE-ECDSA-AES256-GCM-SHA384"
               ) as server:
        tls12 = pki.client_context(maximum_version=ssl.TLSVersion.TLSv1_2)
        tls12.set_ciphers("ECDHE-ECDSA-AES256-GCM-SHA384")
        _, body = https_get(server.port, tls12)
        assert json.loads(body)["tls"]["cipher_suite"] == 0xC02C
        other = pki.client_context(maximum_version=ssl.TLSVersion.TLSv1_2)
        other.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            https_get(server.port, other)


def test_websocket_over_tls_has_wss_scheme(pki: Pki, tls_server: ServerProcess) -> None:
    websockets_sync = pytest.importorskip("websockets.sync.client")
    with websockets_sync.connect(f"wss://127.0.0.1:{tls_server.port}/",
                                 ssl=pki.client_context(), open_timeout=5) as ws:
        # ASGI TLS extension: websocket scopes carry it too, not only http ones.
        assert ws.recv(timeout=5) == "wss tls"


def test_rfc4514_name_escapes_and_orders() -> None:
    subject = ((("countryName", "FR"),), (("organizationName", "A+B"),),
               (("commonName", " lead"), ("userId", "x#")))
    assert rfc4514_name(subject) == "CN=\\ lead+UID=x#,O=A\\+B,C=FR"
    assert rfc4514_name(()) is None


def test_tls_with_workers(pki: Pki, app_dir: str) -> None:
    # Each worker builds its own TLS context from the same options.
    with serve(app_dir, *tls_options(pki), "--workers", "2", "--lifespan", "off") as server:
        for _ in range(4):
            head, body = https_get(server.port, pki.client_context())
            assert head.startswith(b"HTTP/1.1 200 ")
            assert json.loads(body)["tls"]["server_cert"].startswith("-----BEGIN CERTIFICATE")


@pytest.mark.parametrize("loop", ["auto", "asyncio"])
def test_a_client_that_never_handshakes_is_dropped_after_the_head_timeout(
        pki: Pki, app_dir: str, loop: str) -> None:
    with serve(app_dir, *tls_options(pki), "--timeout-request-head", "0.5",
               "--loop", loop) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as idle:
            start = time.monotonic()
            try:
                assert idle.recv(1) == b""  # closed by the server, not by our timeout
            except ConnectionResetError:
                pass
            assert time.monotonic() - start < 4
        head, _ = https_get(server.port, pki.client_context())
        assert head.startswith(b"HTTP/1.1 200 ")
