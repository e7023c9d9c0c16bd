"""Build ASGI connection scopes (ASGI spec 2.4) from a parsed request head.

Shared by the HTTP and WebSocket protocols so both describe a connection identically. It must
never do I/O or keep references to the connection: a scope is plain data handed to the app.

Hot path: `http_scope` runs once per request (see `bench/`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from ..http11.events import Request

ASGI_VERSION = "3.0"
SPEC_VERSION = "2.4"
Address = tuple[str, int] | None

_METHODS = {m.encode("ascii"): m for m in (
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")}
_HTTP_VERSIONS = {b"1.1": "1.1", b"1.0": "1.0"}


def split_target(target: bytes) -> tuple[bytes, bytes]:
    """Split a request-target into (raw path, query string); absolute-form loses its origin."""
    if target[0] != 0x2F and target != b"*":  # absolute-form or authority-form
        scheme_end = target.find(b"://")
        if scheme_end != -1:
            path_start = len(target)
            for sep in (b"/", b"?"):
                found = target.find(sep, scheme_end + 3)
                if found != -1 and found < path_start:
                    path_start = found
            target = target[path_start:]
            if not target.startswith(b"/"):
                target = b"/" + target
    path, _, query = target.partition(b"?")
    return path, query


def decode_path(raw_path: bytes) -> str:
    """Percent-decode and UTF-8 decode a path, as the spec's `path` requires."""
    text = raw_path.decode("latin-1")
    if "%" not in text:
        return text
    return unquote(text, encoding="utf-8", errors="replace")


def _target_fields(target: bytes, root_path: str) -> tuple[str, bytes, bytes]:
    """(path, raw_path, query_string); like uvicorn, both paths include `root_path`."""
    raw_path, query = split_target(target)
    path = decode_path(raw_path)
    if root_path:
        path = root_path + path
        raw_path = root_path.encode("utf-8") + raw_path
    return path, raw_path, query


def http_scope(
    request: Request,
    *,
    scheme: str,
    client: Address,
    server: Address,
    root_path: str,
    app_state: dict[str, Any],
    extensions: dict[str, Any],
) -> dict[str, Any]:
    path, raw_path, query = _target_fields(request.target, root_path)
    method = request.method
    return {
        "type": "http",
        "asgi": {"version": ASGI_VERSION, "spec_version": SPEC_VERSION},
        "http_version": _HTTP_VERSIONS.get(request.http_version, "1.1"),
        "server": server,
        "client": client,
        "scheme": scheme,
        "method": _METHODS.get(method) or method.decode("ascii"),
        "root_path": root_path,
        "path": path,
        "raw_path": raw_path,
        "query_string": query,
        "headers": request.headers,
        "state": app_state.copy(),
        "extensions": extensions,
    }


def websocket_scope(
    request: Request,
    *,
    scheme: str,
    client: Address,
    server: Address,
    root_path: str,
    app_state: dict[str, Any],
    subprotocols: list[str],
    extensions: dict[str, Any],
) -> dict[str, Any]:
    path, raw_path, query = _target_fields(request.target, root_path)
    return {
        "type": "websocket",
        "asgi": {"version": ASGI_VERSION, "spec_version": SPEC_VERSION},
        "http_version": _HTTP_VERSIONS.get(request.http_version, "1.1"),
        "scheme": scheme,
        "server": server,
        "client": client,
        "root_path": root_path,
        "path": path,
        "raw_path": raw_path,
        "query_string": query,
        "headers": request.headers,
        "subprotocols": subprotocols,
        "state": app_state.copy(),
        "extensions": extensions,
    }
