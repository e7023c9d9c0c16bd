"""The `moreweb` command line: uvicorn's option names, argparse, and MOREWEB_* variables.

Every option can also come from the environment as ``MOREWEB_<OPTION>`` (``--app-dir`` is
``MOREWEB_APP_DIR``, the app itself ``MOREWEB_APP``); the command line wins. ``--env-file`` is
read first, so it can set those variables too. Repeatable options take several values from
one variable: ``MOREWEB_HEADER`` one per line, the ``--reload-*`` ones separated by spaces.

Any unusable value, wherever it came from, ends the process with one line
``moreweb: error: <reason>`` on stderr and status 2. This module must never start serving
itself: it only turns text into a Config and hands over to `moreweb.main`.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from moreweb import __version__
from moreweb.config import (
    INTERFACE_CHOICES,
    LIFESPAN_CHOICES,
    LOOP_CHOICES,
    WS_CHOICES,
    Config,
    ConfigError,
    encode_headers,
)
from moreweb.envfile import EnvFileError, load_env_file
from moreweb.logs import LOG_LEVELS

__all__ = ["build_parser", "main", "options_from_args", "version_string"]

ENV_PREFIX = "MOREWEB_"
EXIT_USAGE = 2

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are exactly one line (no usage block)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def version_string() -> str:
    return (
        f"moreweb {__version__} ({platform.python_implementation()} "
        f"{platform.python_version()} on {platform.system()})"
    )


# -- value types: each raises ArgumentTypeError with a message a person can act on ----------

def _int_at_least(low: int, high: int | None = None) -> Callable[[str], int]:
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"{value} must be {bound}")
        return value

    return convert


def _float_at_least(low: float, *, positive: bool = False, nullable: bool = False
                    ) -> Callable[[str], float | None]:
    def convert(text: str) -> float | None:
        if nullable and text.strip().lower() == "none":
            return None
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value != value or value < low or (positive and value <= low):
            relation = "greater than" if positive else "at least"
            raise argparse.ArgumentTypeError(f"{text} must be {relation} {low:g}")
        return value

    return convert


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not true or false")


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r} is not in NAME:VALUE form")
    pair = (name.strip(), value.strip())
    try:
        encode_headers([pair])
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("header: ")) from None
    return pair


def _log_level(text: str) -> str:
    lowered = text.lower()
    if lowered not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not one of {', '.join(LOG_LEVELS)}"
        )
    return lowered


# -- the parser -------------------------------------------------------------------------------

# Options whose destination name differs from the Config keyword.
_CONFIG_NAMES = {
    "header": "headers",
    "reload_dir": "reload_dirs",
    "reload_include": "reload_includes",
    "reload_exclude": "reload_excludes",
}
# How a repeatable option's environment variable is split into values.
_ENV_SPLIT_LINES = {"header"}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; options absent from the command line are absent from the result."""
    parser = _Parser(
        prog="moreweb",
        description="Serve an ASGI application. Every option can also be set as "
        "MOREWEB_<OPTION> in the environment (e.g. MOREWEB_PORT=9000).",
        argument_default=argparse.SUPPRESS,
        allow_abbrev=False,
    )
    add = parser.add_argument
    bool_flag = argparse.BooleanOptionalAction

    add("app", nargs="?", metavar="APP", help='the ASGI app, as "module:attribute"')
    add("--version", action="version", version=version_string())

    group = parser.add_argument_group("where to listen")
    group.add_argument("--host", metavar="HOST",
                       help="bind to this address (default 127.0.0.1; '::' for IPv6)")
    group.add_argument("--port", metavar="PORT", type=_int_at_least(0, 65535),
                       help="bind to this port; 0 picks a free one (default 8000)")
    group.add_argument("--uds", metavar="PATH", help="bind to a Unix domain socket")
    group.add_argument("--fd", metavar="FD", type=_int_at_least(0),
                       help="serve on an already-bound socket inherited as this descriptor")
    group.add_argument("--backlog", metavar="N", type=_int_at_least(1),
                       help="pending-connection queue length (default 2048)")

    group = parser.add_argument_group("the application")
    group.add_argument("--factory", action="store_true",
                       help="APP is a function returning the app; call it with no arguments")
    group.add_argument("--app-dir", metavar="DIR",
                       help="directory added to sys.path first (default '.')")
    group.add_argument("--env-file", metavar="PATH",
                       help="read KEY=VALUE environment variables from this file")
    group.add_argument("--lifespan", choices=LIFESPAN_CHOICES, help="default auto")
    group.add_argument("--interface", choices=INTERFACE_CHOICES, help="default auto")
    group.add_argument("--root-path", metavar="PATH",
                       help="the ASGI root_path, when mounted below a prefix")

    group = parser.add_argument_group("logging")
    group.add_argument("--log-level", metavar="LEVEL", type=_log_level,
                       help=f"one of {', '.join(LOG_LEVELS)} (default info)")
    group.add_argument("--log-config", metavar="PATH",
                       help="logging config file: .json, .yaml or .ini (fileConfig)")
    group.add_argument("--access-log", action=bool_flag, help="log each response (default on)")
    group.add_argument("--use-colors", action=bool_flag,
                       help="coloured log output (default: when writing to a terminal)")

    group = parser.add_argument_group("HTTP")
    group.add_argument("--timeout-keep-alive", metavar="SECONDS", type=_float_at_least(0),
                       help="close idle keep-alive connections after SECONDS (default 5)")
    group.add_argument("--timeout-request-head", metavar="SECONDS",
                       type=_float_at_least(0, positive=True),
                       help="time allowed to send a request's head, in seconds (default 10)")
    group.add_argument("--timeout-graceful-shutdown", metavar="SECONDS",
                       type=_float_at_least(0, nullable=True),
                       help="seconds to let connections finish on shutdown; 'none' waits "
                       "forever (default 30)")
    group.add_argument("--limit-concurrency", metavar="N", type=_int_at_least(1),
                       help="answer 503 beyond this many connections and tasks")
    group.add_argument("--limit-request-head-size", metavar="BYTES", type=_int_at_least(1),
                       help="largest request head in bytes (default 65536)")
    group.add_argument("--limit-request-fields", metavar="N", type=_int_at_least(0),
                       help="most header fields in a request (default 100)")
    group.add_argument("--lenient-lf", action="store_true",
                       help="accept bare LF as a line ending in request heads")
    group.add_argument("--server-header", action=bool_flag,
                       help="send 'server: moreweb' (default on)")
    group.add_argument("--date-header", action=bool_flag, help="send a Date header (default on)")
    group.add_argument("--header", action="append", type=_header, metavar="NAME:VALUE",
                       help="add this header to every response (repeatable)")
    group.add_argument("--proxy-headers", action=bool_flag,
                       help="trust X-Forwarded-* from --forwarded-allow-ips (default on)")
    group.add_argument("--forwarded-allow-ips", metavar="IPS",
                       help="comma-separated proxy addresses to trust (default "
                       "$FORWARDED_ALLOW_IPS or 127.0.0.1,::1)")

    group = parser.add_argument_group("WebSocket")
    group.add_argument("--ws", choices=WS_CHOICES,
                       help="default auto; uvicorn's implementation names mean auto")
    group.add_argument("--ws-max-size", metavar="BYTES", type=_int_at_least(1),
                       help="largest message in bytes (default 16777216)")
    group.add_argument("--ws-max-queue", metavar="N", type=_int_at_least(1),
                       help="incoming messages buffered per connection (default 32)")
    group.add_argument("--ws-ping-interval", metavar="SECONDS",
                       type=_float_at_least(0, positive=True, nullable=True),
                       help="seconds between pings, or 'none' (default 20)")
    group.add_argument("--ws-ping-timeout", metavar="SECONDS",
                       type=_float_at_least(0, positive=True, nullable=True),
                       help="seconds to wait for a pong, or 'none' (default 20)")
    group.add_argument("--ws-per-message-deflate", type=_bool, metavar="true|false",
                       help="offer permessage-deflate compression (default true)")

    group = parser.add_argument_group("processes")
    group.add_argument("--loop", choices=LOOP_CHOICES,
                       help="event loop; auto uses uvloop when installed (default auto)")
    group.add_argument("--workers", metavar="N", type=_int_at_least(1),
                       help="worker processes (default $WEB_CONCURRENCY or 1)")
    group.add_argument("--reload", action="store_true", help="restart when code changes")
    group.add_argument("--reload-dir", action="append", metavar="DIR",
                       help="directory to watch (repeatable)")
    group.add_argument("--reload-include", action="append", metavar="GLOB",
                       help="watch files matching this pattern (repeatable)")
    group.add_argument("--reload-exclude", action="append", metavar="GLOB",
                       help="ignore files matching this pattern (repeatable)")
    group.add_argument("--reload-delay", metavar="SECONDS", type=_float_at_least(0),
                       help="seconds between checks (default 0.25)")
    group.add_argument("--timeout-worker-healthcheck", metavar="SECONDS",
                       type=_float_at_least(0, positive=True),
                       help="replace a worker whose event loop is stuck this long (default 30)")
    group.add_argument("--limit-max-requests", metavar="N", type=_int_at_least(1),
                       help="exit after serving this many requests")
    group.add_argument("--limit-max-requests-jitter", metavar="N", type=_int_at_least(0),
                       help="add a random 0..N to --limit-max-requests per worker")

    group = parser.add_argument_group("TLS")
    group.add_argument("--ssl-certfile", metavar="PATH", help="certificate chain (PEM)")
    group.add_argument("--ssl-keyfile", metavar="PATH", help="private key (PEM)")
    group.add_argument("--ssl-keyfile-password", metavar="PASSWORD",
                       help="password of the private key")
    group.add_argument("--ssl-ca-certs", metavar="PATH", help="CA bundle for client certificates")
    group.add_argument("--ssl-cert-reqs", metavar="0|1|2", type=_int_at_least(0, 2),
                       help="client certificates: 0 none, 1 optional, 2 required (default 0)")
    group.add_argument("--ssl-ciphers", metavar="CIPHERS",
                       help="OpenSSL cipher list for TLS <= 1.2 (default: OpenSSL's)")
    return parser


def _env_name(dest: str) -> str:
    return ENV_PREFIX + dest.upper()


def _value_from_env(parser: argparse.ArgumentParser, action: argparse.Action, raw: str) -> Any:
    """Convert an environment string exactly as the command line would, or exit 2."""
    name = _env_name(action.dest)
    try:
        if isinstance(action, (argparse.BooleanOptionalAction, argparse._StoreTrueAction)):
            return _bool(raw)
        convert: Callable[[str], Any] = action.type if callable(action.type) else str
        if isinstance(action, argparse._AppendAction):
            parts = raw.splitlines() if action.dest in _ENV_SPLIT_LINES else raw.split()
            return [convert(part) for part in parts if part.strip()]
        value = convert(raw)
        if action.choices is not None and value not in action.choices:
            choices = ", ".join(map(str, action.choices))
            raise argparse.ArgumentTypeError(f"{raw!r} is not one of {choices}")
        return value
    except argparse.ArgumentTypeError as exc:
        parser.error(f"environment variable {name}: {exc}")


def options_from_args(argv: Sequence[str] | None = None,
                      environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Parse the command line and environment into Config keyword arguments (app included).

    Loads --env-file into the environment on the way, since later variables may come from it.
    Exits with status 2 on any bad value.
    """
    env = os.environ if environ is None else environ
    parser = build_parser()
    given = vars(parser.parse_args(argv))

    env_file = given.get("env_file") or env.get(_env_name("env_file"))
    if env_file:
        given["env_file"] = env_file
        try:
            load_env_file(env_file, environ=env)
        except EnvFileError as exc:
            parser.error(str(exc))

    for action in parser._actions:
        if action.dest in given or action.dest in ("help", "version"):
            continue
        raw = env.get(_env_name(action.dest))
        if raw is not None and raw != "":
            given[action.dest] = _value_from_env(parser, action, raw)

    if not given.get("app"):
        parser.error("the following arguments are required: APP (or set MOREWEB_APP)")

    options: dict[str, Any] = {}
    for dest, value in given.items():
        options[_CONFIG_NAMES.get(dest, dest)] = value
    return options


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `moreweb` console script and `python -m moreweb`."""
    from moreweb.main import run_config, setup_logging

    parser = build_parser()
    options = options_from_args(argv)
    app = options.pop("app")
    try:
        config = Config(app, **options)
    except ConfigError as exc:
        parser.error(str(exc))
    try:
        setup_logging(config)
    except (ValueError, TypeError, KeyError, ImportError, OSError) as exc:
        parser.error(f"--log-config: {exc}")
    run_config(config)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
