"""Every server option, validated in one place, and the loading of the ASGI app.

`Config.__init__` only records and checks options (a bad value raises ConfigError naming the
option); `Config.load()` imports and adapts the app and builds the TLS context. Logging setup
(`moreweb.logs.configure_logging`) and socket binding (`moreweb.sockets.bind_sockets`) are
separate functions on purpose, so each can be tested and reused without the others.

This module must never bind sockets, start an event loop or configure logging.
"""

from __future__ import annotations

import asyncio
import os
import re
import ssl
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from moreweb.envfile import load_env_file
from moreweb.importer import ImportFromStringError, import_from_string
from moreweb.logs import LOG_LEVELS, LOGGING_CONFIG

if TYPE_CHECKING:
    from moreweb.server_state import ServerState

__all__ = [
    "AppLoadError",
    "Config",
    "ConfigError",
    "TLSSetupError",
    "create_ssl_context",
    "encode_headers",
    "load_app",
]

LOOP_CHOICES = ("auto", "asyncio", "uvloop")
WS_CHOICES = ("auto", "none", "websockets", "websockets-sansio", "wsproto")
# uvicorn's implementation names all mean "WebSockets on" here: moreweb has one, built in.
_WS_ALIASES = {"websockets": "auto", "websockets-sansio": "auto", "wsproto": "auto"}
LIFESPAN_CHOICES = ("auto", "on", "off")
INTERFACE_CHOICES = ("auto", "asgi3", "asgi2")
SSL_CERT_REQS_CHOICES = (ssl.CERT_NONE, ssl.CERT_OPTIONAL, ssl.CERT_REQUIRED)

# RFC 9110 section 5.6.2: a field name is a token.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
# A field value must not smuggle a line break (response splitting) or NUL (RFC 9110 5.5).
_BAD_VALUE_CHARS = re.compile(r"[\r\n\x00]")

ProtocolFactory = Callable[["Config", "ServerState", dict[str, Any]], asyncio.BaseProtocol]


class ConfigError(ValueError):
    """An option has a value the server cannot use; the message names the option."""


class AppLoadError(Exception):
    """The ASGI app could not be found or built; the message is a one-line explanation."""


class TLSSetupError(Exception):
    """The --ssl-* options could not be turned into a TLS context; one-line explanation."""


class Config:
    """All options of one server, with the same names and defaults as uvicorn's where shared."""

    def __init__(
        self,
        app: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 8000,
        uds: str | None = None,
        fd: int | None = None,
        backlog: int = 2048,
        loop: str = "auto",
        ws: str = "auto",
        ws_max_size: int = 16 * 1024 * 1024,
        ws_max_queue: int = 32,
        ws_ping_interval: float | None = 20.0,
        ws_ping_timeout: float | None = 20.0,
        ws_per_message_deflate: bool = True,
        lifespan: str = "auto",
        interface: str = "auto",
        env_file: str | os.PathLike[str] | None = None,
        log_config: dict[str, Any] | str | os.PathLike[str] | None = LOGGING_CONFIG,
        log_level: str | int | None = None,
        access_log: bool = True,
        use_colors: bool | None = None,
        workers: int | None = None,
        reload: bool = False,
        reload_dirs: Sequence[str] | str | None = None,
        reload_includes: Sequence[str] | str | None = None,
        reload_excludes: Sequence[str] | str | None = None,
        reload_delay: float = 0.25,
        timeout_worker_healthcheck: float = 30,
        proxy_headers: bool = True,
        server_header: bool = True,
        date_header: bool = True,
        forwarded_allow_ips: Sequence[str] | str | None = None,
        root_path: str = "",
        limit_concurrency: int | None = None,
        limit_max_requests: int | None = None,
        limit_max_requests_jitter: int = 0,
        timeout_keep_alive: float = 5,
        timeout_request_head: float = 10,
        timeout_graceful_shutdown: float | None = 30,
        limit_request_head_size: int = 65536,
        limit_request_fields: int = 100,
        lenient_lf: bool = False,
        ssl_keyfile: str | os.PathLike[str] | None = None,
        ssl_certfile: str | os.PathLike[str] | None = None,
        ssl_keyfile_password: str | None = None,
        ssl_cert_reqs: int = ssl.CERT_NONE,
        ssl_ca_certs: str | None = None,
        ssl_ciphers: str | None = None,
        headers: Iterable[tuple[str, str] | Sequence[str] | str] | None = None,
        factory: bool = False,
        app_dir: str | None = ".",
        protocol_class: ProtocolFactory | None = None,
    ) -> None:
        # The env file comes first: the defaults read below ($WEB_CONCURRENCY,
        # $FORWARDED_ALLOW_IPS) and the app's own import must see its values.
        self.env_file = env_file
        if env_file is not None:
            try:
                load_env_file(env_file)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None

        self.app = app
        self.host = host
        self.port = _int_in("port", port, 0, 65535)
        self.uds = uds
        self.fd = None if fd is None else _int_in("fd", fd, 0)
        self.backlog = _int_in("backlog", backlog, 1)
        self.loop = _choice("loop", loop, LOOP_CHOICES)
        if self.loop == "uvloop":
            from moreweb.loops import resolve_loop

            try:
                resolve_loop("uvloop")  # imports it: an installed but broken uvloop fails here
            except ImportError as exc:
                raise ConfigError(str(exc)) from None
        self.ws = _WS_ALIASES.get(ws, ws) if ws in WS_CHOICES else _choice("ws", ws, WS_CHOICES)
        self.ws_max_size = _int_in("ws_max_size", ws_max_size, 1)
        self.ws_max_queue = _int_in("ws_max_queue", ws_max_queue, 1)
        self.ws_ping_interval = _optional_positive("ws_ping_interval", ws_ping_interval)
        self.ws_ping_timeout = _optional_positive("ws_ping_timeout", ws_ping_timeout)
        self.ws_per_message_deflate = bool(ws_per_message_deflate)
        self.lifespan = _choice("lifespan", lifespan, LIFESPAN_CHOICES)
        self.interface = _choice("interface", interface, INTERFACE_CHOICES)

        self.log_config = log_config
        if isinstance(log_level, str) and log_level.lower() not in LOG_LEVELS:
            raise ConfigError(
                f"log_level: {log_level!r} is not one of {', '.join(LOG_LEVELS)}"
            )
        self.log_level = log_level
        self.access_log = bool(access_log)
        self.use_colors = use_colors

        if workers is None:
            workers = _env_int("WEB_CONCURRENCY", 1)
        self.workers = _int_in("workers", workers, 1)
        self.reload = bool(reload)
        self.reload_dirs = _str_list(reload_dirs)
        self.reload_includes = _str_list(reload_includes)
        self.reload_excludes = _str_list(reload_excludes)
        self.reload_delay = _float_at_least("reload_delay", reload_delay, 0)
        # Seconds without a heartbeat after which --workers replaces a worker as hung.
        self.timeout_worker_healthcheck = _positive(
            "timeout_worker_healthcheck", timeout_worker_healthcheck)

        self.proxy_headers = bool(proxy_headers)
        if forwarded_allow_ips is None:
            forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
        if isinstance(forwarded_allow_ips, str):
            forwarded_allow_ips = forwarded_allow_ips.split(",")
        self.forwarded_allow_ips = [ip.strip() for ip in forwarded_allow_ips if ip.strip()]
        from moreweb.asgi.middleware.proxy_headers import TrustedProxies

        try:
            TrustedProxies(self.forwarded_allow_ips)  # checked now, used by load()
        except ValueError as exc:
            raise ConfigError(f"forwarded_allow_ips: {exc}") from None

        self.server_header = bool(server_header)
        self.date_header = bool(date_header)
        if root_path and not root_path.startswith("/"):
            raise ConfigError(f"root_path: {root_path!r} must be empty or start with '/'")
        self.root_path = root_path.rstrip("/") if root_path != "/" else ""
        self.limit_concurrency = (
            None if limit_concurrency is None
            else _int_in("limit_concurrency", limit_concurrency, 1)
        )
        self.limit_max_requests = (
            None if limit_max_requests is None
            else _int_in("limit_max_requests", limit_max_requests, 1)
        )
        self.limit_max_requests_jitter = _int_in(
            "limit_max_requests_jitter", limit_max_requests_jitter, 0
        )
        self.timeout_keep_alive = _float_at_least("timeout_keep_alive", timeout_keep_alive, 0)
        self.timeout_request_head = _positive("timeout_request_head", timeout_request_head)
        self.timeout_graceful_shutdown = (
            None if timeout_graceful_shutdown is None
            else _float_at_least("timeout_graceful_shutdown", timeout_graceful_shutdown, 0)
        )
        self.limit_request_head_size = _int_in(
            "limit_request_head_size", limit_request_head_size, 1
        )
        self.limit_request_fields = _int_in("limit_request_fields", limit_request_fields, 0)
        self.lenient_lf = bool(lenient_lf)

        if ssl_keyfile is not None and ssl_certfile is None:
            raise ConfigError("ssl_keyfile: needs ssl_certfile as well")
        self.ssl_keyfile = ssl_keyfile
        self.ssl_certfile = ssl_certfile
        self.ssl_keyfile_password = ssl_keyfile_password
        if ssl_cert_reqs not in SSL_CERT_REQS_CHOICES:
            raise ConfigError(
                f"ssl_cert_reqs: {ssl_cert_reqs!r} is not one of 0 (none), 1 (optional), "
                "2 (required)"
            )
        self.ssl_cert_reqs = int(ssl_cert_reqs)
        self.ssl_ca_certs = ssl_ca_certs
        self.ssl_ciphers = ssl_ciphers
        self.ssl: ssl.SSLContext | None = None

        self.headers = [_split_header(header) for header in headers or ()]
        self.encoded_headers = encode_headers(self.headers)
        self.factory = bool(factory)
        self.app_dir = app_dir
        self.protocol_class = protocol_class

        self.loaded = False
        self.loaded_app: Any = None

    @property
    def is_ssl(self) -> bool:
        return self.ssl_certfile is not None

    def load(self) -> None:
        """Import and adapt the app and build the TLS context; safe to call twice.

        Raises AppLoadError with a one-line reason when the app cannot be found and
        TLSSetupError when the certificate, key or cipher options are unusable; errors raised
        by the app's own module propagate unchanged.
        """
        if self.loaded:
            return
        if self.ssl_certfile is not None:
            try:
                self.ssl = create_ssl_context(
                    certfile=self.ssl_certfile,
                    keyfile=self.ssl_keyfile,
                    password=self.ssl_keyfile_password,
                    cert_reqs=self.ssl_cert_reqs,
                    ca_certs=self.ssl_ca_certs,
                    ciphers=self.ssl_ciphers,
                )
            except (OSError, ssl.SSLError, ValueError) as exc:
                raise TLSSetupError(f"Could not set up TLS: {exc}") from None
        self.loaded_app, self.interface = load_app(
            self.app, factory=self.factory, interface=self.interface, app_dir=self.app_dir
        )
        if self.proxy_headers:
            from moreweb.asgi.middleware.proxy_headers import ProxyHeadersMiddleware

            self.loaded_app = ProxyHeadersMiddleware(self.loaded_app, self.forwarded_allow_ips)
        self.loaded = True


def load_app(
    app: Any, *, factory: bool = False, interface: str = "auto", app_dir: str | None = None
) -> tuple[Any, str]:
    """Return (ASGI 3 callable, the interface it was found to speak) for an app or its name."""
    from moreweb.asgi.asgi2 import ASGI2Adapter, detect_interface

    if app_dir is not None:
        path = os.path.abspath(app_dir)
        if path not in sys.path:
            sys.path.insert(0, path)
    try:
        loaded = import_from_string(app)
    except ImportFromStringError as exc:
        raise AppLoadError(str(exc)) from None

    if factory:
        if not callable(loaded):
            raise AppLoadError(f"App factory {app!r} is not callable.")
        try:
            loaded = loaded()
        except TypeError as exc:
            # A factory must take no arguments; say so instead of showing a bare TypeError.
            raise AppLoadError(f"Error calling the app factory: {exc}") from None
    if not callable(loaded):
        raise AppLoadError(f"ASGI app {app!r} is not callable (got {type(loaded).__name__}).")

    if interface == "auto":
        interface = detect_interface(loaded)
    if interface == "asgi2":
        loaded = ASGI2Adapter(loaded)
    return loaded, interface


def create_ssl_context(
    certfile: str | os.PathLike[str],
    keyfile: str | os.PathLike[str] | None = None,
    password: str | None = None,
    cert_reqs: int = ssl.CERT_NONE,
    ca_certs: str | None = None,
    ciphers: str | None = None,
) -> ssl.SSLContext:
    """Build the server-side TLS context from the --ssl-* options."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certfile, keyfile, (lambda: password) if password else None)
    context.verify_mode = ssl.VerifyMode(cert_reqs)
    if ca_certs:
        context.load_verify_locations(ca_certs)
    if ciphers:
        context.set_ciphers(ciphers)
    context.set_alpn_protocols(["http/1.1"])
    return context


def encode_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    """Turn (name, value) pairs into the lowercase latin-1 bytes the protocol writes."""
    encoded = []
    for name, value in headers:
        if not _TOKEN.match(name):
            raise ConfigError(f"header: {name!r} is not a valid header name")
        if _BAD_VALUE_CHARS.search(value):
            raise ConfigError(f"header: the value of {name!r} contains CR, LF or NUL")
        try:
            encoded.append((name.lower().encode("latin-1"), value.encode("latin-1")))
        except UnicodeEncodeError:
            raise ConfigError(f"header: the value of {name!r} is not latin-1") from None
    return encoded


def _split_header(header: tuple[str, str] | Sequence[str] | str) -> tuple[str, str]:
    if isinstance(header, str):
        name, sep, value = header.partition(":")
        if not sep:
            raise ConfigError(f"header: {header!r} is not in NAME:VALUE form")
        return name.strip(), value.strip()
    if len(header) != 2:
        raise ConfigError(f"header: {header!r} is not a (name, value) pair")
    return str(header[0]).strip(), str(header[1]).strip()


def _choice(name: str, value: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ConfigError(f"{name}: {value!r} is not one of {', '.join(choices)}")
    return value


def _int_in(name: str, value: int, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name}: {value!r} is not an integer")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ConfigError(f"{name}: {value} must be {bound}")
    return value


def _float_at_least(name: str, value: float, low: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ConfigError(f"{name}: {value!r} is not a number")
    if value < low:
        raise ConfigError(f"{name}: {value} must be at least {low}")
    return float(value)


def _positive(name: str, value: float) -> float:
    number = _float_at_least(name, value, 0)
    if number == 0:
        raise ConfigError(f"{name}: must be greater than 0")
    return number


def _optional_positive(name: str, value: float | None) -> float | None:
    return None if value is None else _positive(name, value)


def _env_int(variable: str, default: int) -> int:
    raw = os.environ.get(variable)
    if raw is None or not raw.strip():
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"${variable}: {raw!r} is not an integer") from None


def _str_list(value: Sequence[str] | str | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)
