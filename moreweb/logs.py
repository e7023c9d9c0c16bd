"""Logging for moreweb: the two loggers, their default configuration and formatters.

`moreweb.error` carries server life-cycle and error messages (stderr); `moreweb.access` carries
one line per response (stdout). Everything goes through the standard library so that any
`--log-config` can reroute it.

This module must never let request data forge log lines: every piece of client-controlled
text that reaches an access line passes through `escape_control` (CVE-2020-7694 was exactly
this hole in uvicorn). It must also never configure logging at import time; only
`configure_logging` touches global logging state.
"""

from __future__ import annotations

import copy
import json
import logging
import logging.config
import os
import re
import sys
from typing import Any, Literal

__all__ = [
    "LOGGING_CONFIG",
    "LOG_LEVELS",
    "TRACE_LOG_LEVEL",
    "AccessFormatter",
    "DefaultFormatter",
    "configure_logging",
    "escape_control",
]

TRACE_LOG_LEVEL = 5

LOG_LEVELS: dict[str, int] = {
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": TRACE_LOG_LEVEL,
}

LOGGING_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "default": {
            "()": "moreweb.logs.DefaultFormatter",
            "fmt": "%(levelprefix)s %(message)s",
            "use_colors": None,
        },
        "access": {
            "()": "moreweb.logs.AccessFormatter",
            "fmt": "%(levelprefix)s %(message)s",
            "use_colors": None,
        },
    },
    "handlers": {
        "default": {
            "formatter": "default",
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
        },
        "access": {
            "formatter": "access",
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
        },
    },
    "loggers": {
        "moreweb": {"handlers": ["default"], "level": "INFO", "propagate": False},
        "moreweb.error": {"level": "INFO"},
        "moreweb.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
    },
}

# C0 controls, DEL, C1 controls, and the two Unicode line/paragraph separators that some log
# viewers also treat as line breaks.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escape_one(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_control(text: str) -> str:
    """Return `text` with control characters shown as ``\\xNN`` so it stays on one line.

    Cheap when there is nothing to escape (one regex search), since it runs per request.
    """
    if _CONTROL.search(text) is None:
        return text
    return _CONTROL.sub(_escape_one, text)


_LEVEL_COLORS: dict[int, str] = {
    TRACE_LOG_LEVEL: "\x1b[34m",  # blue
    logging.DEBUG: "\x1b[36m",  # cyan
    logging.INFO: "\x1b[32m",  # green
    logging.WARNING: "\x1b[33m",  # yellow
    logging.ERROR: "\x1b[31m",  # red
    logging.CRITICAL: "\x1b[1;31m",  # bright red
}
_RESET = "\x1b[0m"


def _color(text: str, code: str) -> str:
    return f"{code}{text}{_RESET}"


class DefaultFormatter(logging.Formatter):
    """Formats ``LEVEL:     message`` with an optionally coloured level name.

    A record may carry ``extra={"color_message": ...}``: a variant of the message with ANSI
    colours that is used instead of the plain one when colours are on.
    """

    stream_name: Literal["stderr", "stdout"] = "stderr"

    def __init__(
        self,
        fmt: str | None = None,
        datefmt: str | None = None,
        style: Literal["%", "{", "$"] = "%",
        use_colors: bool | None = None,
    ) -> None:
        if use_colors is None:
            stream = sys.stderr if self.stream_name == "stderr" else sys.stdout
            use_colors = _isatty(stream) and "NO_COLOR" not in os.environ
        self.use_colors = use_colors
        super().__init__(fmt=fmt, datefmt=datefmt, style=style)

    def formatMessage(self, record: logging.LogRecord) -> str:
        record = copy.copy(record)
        # Pad after the colon so messages line up whatever the level name's length:
        # "INFO:     x", "WARNING:  x".
        pad = " " * max(0, 8 - len(record.levelname))
        name = record.levelname
        if self.use_colors:
            name = _color(name, _LEVEL_COLORS.get(record.levelno, ""))
            color_message = getattr(record, "color_message", None)
            if color_message is not None:
                record.message = color_message % record.args if record.args else color_message
        record.__dict__["levelprefix"] = f"{name}:{pad}"
        return super().formatMessage(record)


class AccessFormatter(DefaultFormatter):
    """Formats access records, escaping request data and colouring the status code.

    Expects the record shape the protocol emits:
    ``info('%s - "%s %s HTTP/%s" %d %.1fms', client, method, path, version, status, ms)``
    and exposes the parts as ``client_addr``, ``method``, ``path``, ``http_version``,
    ``status_code``, ``duration_ms`` and ``request_line`` for custom formats. Records of any
    other shape are formatted as plain messages.
    """

    stream_name: Literal["stderr", "stdout"] = "stdout"

    def formatMessage(self, record: logging.LogRecord) -> str:
        args = record.args
        if isinstance(args, tuple) and len(args) == 6:
            client, method, path, version, status, duration = args
            client, method, path, version = (
                escape_control(str(part)) for part in (client, method, path, version)
            )
            status_text = str(status)
            if self.use_colors and isinstance(status, int):
                status_text = _color(status_text, _status_color(status))
            request_line = f"{method} {path} HTTP/{version}"
            record = copy.copy(record)
            # Exposed for custom `fmt` strings in a --log-config.
            record.__dict__.update(
                client_addr=client,
                method=method,
                path=path,
                http_version=version,
                status_code=status,
                duration_ms=duration,
                request_line=request_line,
            )
            try:
                duration_text = f"{float(duration):.1f}ms"  # type: ignore[arg-type]
            except (TypeError, ValueError):
                duration_text = str(duration)
            record.message = (
                f'{client} - "{request_line}" {status_text} {duration_text}'
            )
        return super().formatMessage(record)


def _status_color(status: int) -> str:
    if status < 200:
        return "\x1b[37m"  # informational: white
    if status < 300:
        return "\x1b[32m"  # success: green
    if status < 400:
        return "\x1b[33m"  # redirect: yellow
    if status < 500:
        return "\x1b[31m"  # client error: red
    return "\x1b[1;31m"  # server error: bright red


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def configure_logging(
    log_config: dict[str, Any] | str | os.PathLike[str] | None = LOGGING_CONFIG,
    log_level: str | int | None = None,
    access_log: bool = True,
    use_colors: bool | None = None,
) -> None:
    """Apply a logging configuration for the server process.

    `log_config` is a dictConfig dict, or a path: ``.json`` (dictConfig), ``.yaml``/``.yml``
    (dictConfig, needs PyYAML) or anything else (fileConfig, the ``.ini`` format). None leaves
    the application's own logging setup untouched. Raises ValueError for an unusable file.
    """
    logging.addLevelName(TRACE_LOG_LEVEL, "TRACE")

    if log_config is not None:
        if isinstance(log_config, dict):
            config = copy.deepcopy(log_config)
            if use_colors in (True, False):
                for name in ("default", "access"):
                    formatter = config.get("formatters", {}).get(name)
                    if formatter is not None and "()" in formatter:
                        formatter["use_colors"] = use_colors
            logging.config.dictConfig(config)
        else:
            _configure_from_file(os.fspath(log_config))

    if log_level is not None:
        level = LOG_LEVELS[log_level.lower()] if isinstance(log_level, str) else log_level
        for name in ("moreweb", "moreweb.error", "moreweb.access"):
            logging.getLogger(name).setLevel(level)

    if not access_log:
        access = logging.getLogger("moreweb.access")
        access.handlers = []
        access.propagate = False


def _configure_from_file(path: str) -> None:
    if not os.path.isfile(path):
        raise ValueError(f"log config file {path!r} does not exist")
    if path.endswith(".json"):
        with open(path, encoding="utf-8") as f:
            try:
                logging.config.dictConfig(json.load(f))
            except json.JSONDecodeError as exc:
                raise ValueError(f"log config file {path!r} is not valid JSON: {exc}") from None
    elif path.endswith((".yaml", ".yml")):
        try:
            import yaml  # type: ignore[import-untyped]
        except ImportError:
            raise ValueError(f"log config file {path!r} is YAML but PyYAML is not installed")
        with open(path, encoding="utf-8") as f:
            logging.config.dictConfig(yaml.safe_load(f))
    else:
        logging.config.fileConfig(path, disable_existing_loggers=False)

