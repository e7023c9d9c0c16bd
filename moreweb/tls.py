"""The ASGI `tls` scope extension: what an app may know about its connection's TLS session.

Computed once per connection, right after the handshake (asyncio calls `connection_made`
only then), and shared by every request on it: the session cannot change mid-connection.
Field meanings follow the ASGI TLS extension: the server's certificate and the client's
chain as PEM text, the client's subject as an RFC 4514 string, the protocol version and
cipher suite as their IANA numbers.

This module must never block on I/O per connection (the server certificate file is read
once per path and cached) and must never raise for a connection: missing information is
None, as the extension allows.
"""

from __future__ import annotations

import functools
import os
import ssl
from typing import Any

__all__ = ["TLS_VERSIONS", "rfc4514_name", "tls_extension"]

# TLS protocol versions as written on the wire (RFC 8446 section 4.2.1, RFC 5246 A.1).
TLS_VERSIONS = {"TLSv1": 0x0301, "TLSv1.1": 0x0302, "TLSv1.2": 0x0303, "TLSv1.3": 0x0304}

# Short attribute types of RFC 4514 section 3, keyed by the long names Python's ssl module
# reports; anything else is written with its long name, which readers accept as well.
_SHORT_NAMES = {
    "commonName": "CN", "localityName": "L", "stateOrProvinceName": "ST",
    "organizationName": "O", "organizationalUnitName": "OU", "countryName": "C",
    "streetAddress": "STREET", "domainComponent": "DC", "userId": "UID",
}

# Cipher suite names to IANA numbers, learned from OpenSSL itself: the low 16 bits of
# OpenSSL's cipher id are the suite's number in the TLS registry.
_SUITE_NUMBERS: dict[str, int] = {}


def tls_extension(ssl_object: Any, certfile: str | os.PathLike[str] | None) -> dict[str, Any]:
    """The extension's dict for one established TLS connection.

    `ssl_object` is the transport's "ssl_object" extra info; `certfile` is the server's
    --ssl-certfile (the ssl module cannot give back our own certificate).
    """
    version = None
    cipher_suite = None
    chain: list[str] = []
    name = None
    if ssl_object is not None:
        version = TLS_VERSIONS.get(str(ssl_object.version()))
        cipher = ssl_object.cipher()
        if cipher:
            cipher_suite = _suite_number(ssl_object, cipher[0])
        chain = _client_chain(ssl_object)
        peer = _safe(lambda: ssl_object.getpeercert())
        if peer:
            name = rfc4514_name(peer.get("subject", ()))
    return {
        "server_cert": _server_cert(os.fspath(certfile)) if certfile else None,
        "client_cert_chain": chain,
        "client_cert_name": name,
        # With CERT_OPTIONAL or CERT_REQUIRED, OpenSSL fails the handshake on a certificate
        # that does not verify, so a connection that exists has no verification error.
        "client_cert_error": None,
        "tls_version": version,
        "cipher_suite": cipher_suite,
    }


def rfc4514_name(subject: Any) -> str | None:
    """An RFC 4514 string for a subject as `SSLSocket.getpeercert()` reports it.

    RFC 4514 writes the relative distinguished names last-first, joined by commas, with the
    attributes of a multi-valued one joined by '+'.
    """
    rdns = []
    for rdn in reversed(subject or ()):
        parts = []
        for attribute, value in rdn:
            parts.append(f"{_SHORT_NAMES.get(attribute, attribute)}={_escape(str(value))}")
        rdns.append("+".join(parts))
    return ",".join(rdns) or None


def _escape(value: str) -> str:
    """Escape an attribute value per RFC 4514 section 2.4."""
    escaped = []
    for index, char in enumerate(value):
        if char in ',+"\\<>;' or (char == "#" and index == 0) or (
                char == " " and index in (0, len(value) - 1)):
            escaped.append("\\" + char)
        elif char == "\x00":
            escaped.append("\\00")
        else:
            escaped.append(char)
    return "".join(escaped)


def _client_chain(ssl_object: Any) -> list[str]:
    # Python 3.13 can give the whole verified chain; earlier versions only the leaf.
    get_chain = getattr(ssl_object, "get_verified_chain", None)
    if get_chain is not None:
        certs = _safe(get_chain)
        if certs:
            return [ssl.DER_cert_to_PEM_cert(_der(cert)) for cert in certs]
    leaf = _safe(lambda: ssl_object.getpeercert(binary_form=True))
    return [ssl.DER_cert_to_PEM_cert(leaf)] if leaf else []


def _der(cert: Any) -> bytes:
    if isinstance(cert, bytes):
        return cert
    return bytes(cert.public_bytes(ssl.ENCODING_DER))  # type: ignore[attr-defined]


def _suite_number(ssl_object: Any, cipher_name: str) -> int | None:
    number = _SUITE_NUMBERS.get(cipher_name)
    if number is None:
        context = getattr(ssl_object, "context", None)
        ciphers = _safe(context.get_ciphers) if context is not None else None
        for cipher in ciphers or ():
            _SUITE_NUMBERS[cipher["name"]] = cipher["id"] & 0xFFFF
        number = _SUITE_NUMBERS.get(cipher_name)
    return number


@functools.lru_cache(maxsize=8)
def _server_cert(certfile: str) -> str | None:
    """The first certificate of the chain file: the one the server presents."""
    try:
        with open(certfile, encoding="ascii", errors="replace") as file:
            text = file.read()
    except OSError:
        return None
    begin = text.find("-----BEGIN CERTIFICATE-----")
    end_marker = "-----END CERTIFICATE-----"
    end = text.find(end_marker, begin)
    if begin == -1 or end == -1:
        return None
    return text[begin:end + len(end_marker)] + "\n"


def _safe(call: Any) -> Any:
    try:
        return call()
    except (ValueError, OSError, AttributeError):
        return None
