"""Logging: formats, colours, --log-config files, levels, and escaping of request data."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from moreweb.logs import (
    LOGGING_CONFIG,
    TRACE_LOG_LEVEL,
    AccessFormatter,
    DefaultFormatter,
    configure_logging,
    escape_control,
)

ACCESS_FORMAT = '%s - "%s %s HTTP/%s" %d %.1fms'


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """configure_logging changes global state; put the moreweb loggers back afterwards."""
    names = ("", "moreweb", "moreweb.error", "moreweb.access", "custom")
    saved = {
        name: (logger.handlers[:], logger.level, logger.propagate, logger.disabled)
        for name in names
        for logger in [logging.getLogger(name)]
    }
    yield
    for name, (handlers, level, propagate, disabled) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers = handlers
        logger.setLevel(level)
        logger.propagate = propagate
        logger.disabled = disabled


def record(msg: str, *args: object, level: int = logging.INFO,
           name: str = "moreweb.error") -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


class TestEscapeControl:
    def test_plain_text_is_returned_unchanged(self) -> None:
        text = "/path?q=caf\u00e9&x=%0d%0a"
        assert escape_control(text) is text

    def test_crlf_cannot_start_a_new_line(self) -> None:
        forged = '/a\r\nINFO:     127.0.0.1:1 - "GET /admin HTTP/1.1" 200'
        escaped = escape_control(forged)
        assert "\r" not in escaped and "\n" not in escaped
        assert escaped.startswith("/a\\x0d\\x0aINFO:")

    @pytest.mark.parametrize(
        ("char", "shown"),
        [("\x00", "\\x00"), ("\x1b", "\\x1b"), ("\x7f", "\\x7f"), ("\x85", "\\x85"),
         ("\x9f", "\\x9f"), ("\u2028", "\\u2028")],
    )
    def test_c0_del_c1_and_line_separators_are_escaped(self, char: str, shown: str) -> None:
        assert escape_control(f"a{char}b") == f"a{shown}b"

    def test_printable_latin1_is_kept(self) -> None:
        assert escape_control("\xa0\xe9\xff~") == "\xa0\xe9\xff~"


class TestDefaultFormatter:
    def test_level_prefix_aligns_messages(self) -> None:
        formatter = DefaultFormatter("%(levelprefix)s %(message)s", use_colors=False)
        assert formatter.format(record("hello %s", "you")) == "INFO:     hello you"
        assert (formatter.format(record("careful", level=logging.WARNING))
                == "WARNING:  careful")

    def test_colours_wrap_the_level_name_only_when_enabled(self) -> None:
        formatter = DefaultFormatter("%(levelprefix)s %(message)s", use_colors=True)
        assert formatter.format(record("x")) == "\x1b[32mINFO\x1b[0m:     x"

    def test_color_message_is_used_only_with_colours(self) -> None:
        rec = record("plain %s", "v")
        rec.color_message = "bold \x1b[1m%s\x1b[0m"
        coloured = DefaultFormatter("%(message)s", use_colors=True)
        plain = DefaultFormatter("%(message)s", use_colors=False)
        assert coloured.format(rec) == "bold \x1b[1mv\x1b[0m"
        assert plain.format(rec) == "plain v"

    def test_colours_default_to_off_when_not_a_terminal(self) -> None:
        # Under pytest stderr is captured, never a tty.
        assert DefaultFormatter().use_colors is False


class TestAccessFormatter:
    def access_record(self, method: str = "GET", path: str = "/", status: int = 200
                      ) -> logging.LogRecord:
        return record(ACCESS_FORMAT, "127.0.0.1:5000", method, path, "1.1", status, 1.234,
                      name="moreweb.access")

    def test_plain_access_line(self) -> None:
        formatter = AccessFormatter("%(levelprefix)s %(message)s", use_colors=False)
        line = formatter.format(self.access_record(path="/items?id=3"))
        assert line == 'INFO:     127.0.0.1:5000 - "GET /items?id=3 HTTP/1.1" 200 1.2ms'

    def test_request_data_is_escaped_even_if_the_caller_forgot(self) -> None:
        formatter = AccessFormatter("%(message)s", use_colors=False)
        line = formatter.format(self.access_record(path="/x\r\nFAKE 200"))
        assert "\n" not in line and "\r" not in line
        assert "/x\\x0d\\x0aFAKE 200" in line

    @pytest.mark.parametrize(
        ("status", "colour"),
        [(101, "\x1b[37m"), (204, "\x1b[32m"), (302, "\x1b[33m"), (404, "\x1b[31m"),
         (503, "\x1b[1;31m")],
    )
    def test_status_is_coloured_by_class(self, status: int, colour: str) -> None:
        formatter = AccessFormatter("%(message)s", use_colors=True)
        line = formatter.format(self.access_record(status=status))
        assert f"{colour}{status}\x1b[0m" in line

    def test_parts_are_available_to_custom_formats(self) -> None:
        formatter = AccessFormatter(
            "%(client_addr)s|%(request_line)s|%(status_code)d", use_colors=False
        )
        assert (formatter.format(self.access_record(method="POST", path="/f"))
                == "127.0.0.1:5000|POST /f HTTP/1.1|200")

    def test_other_records_are_formatted_plainly(self) -> None:
        formatter = AccessFormatter("%(message)s", use_colors=True)
        assert formatter.format(record("free text %d", 3)) == "free text 3"


def capture(logger_name: str) -> io.StringIO:
    """Point the configured handler of `logger_name` at a buffer."""
    stream = io.StringIO()
    for handler in logging.getLogger(logger_name).handlers:
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(stream)
    return stream


class TestConfigureLogging:
    def test_default_config_routes_error_and_access_loggers(self) -> None:
        configure_logging(LOGGING_CONFIG, use_colors=False)
        errors = capture("moreweb")
        access = capture("moreweb.access")
        logging.getLogger("moreweb.error").info("server says %s", "hi")
        logging.getLogger("moreweb.access").info(
            ACCESS_FORMAT, "1.2.3.4:1", "GET", "/", "1.1", 200, 0.5
        )
        logging.getLogger("moreweb.error").debug("hidden at INFO")
        assert errors.getvalue() == "INFO:     server says hi\n"
        assert access.getvalue() == 'INFO:     1.2.3.4:1 - "GET / HTTP/1.1" 200 0.5ms\n'

    def test_trace_level_is_registered_and_applied(self) -> None:
        configure_logging(LOGGING_CONFIG, log_level="trace", use_colors=False)
        assert logging.getLevelName(TRACE_LOG_LEVEL) == "TRACE"
        errors = capture("moreweb")
        logging.getLogger("moreweb.error").log(TRACE_LOG_LEVEL, "wire bytes")
        assert errors.getvalue() == "TRACE:    wire bytes\n"

    def test_log_level_warning_hides_info(self) -> None:
        configure_logging(LOGGING_CONFIG, log_level="warning", use_colors=False)
        errors = capture("moreweb")
        logging.getLogger("moreweb.error").info("quiet")
        logging.getLogger("moreweb.error").warning("loud")
        assert errors.getvalue() == "WARNING:  loud\n"

    def test_no_access_log_drops_access_records(self) -> None:
        configure_logging(LOGGING_CONFIG, access_log=False)
        logger = logging.getLogger("moreweb.access")
        assert logger.handlers == [] and logger.propagate is False

    def test_use_colors_option_reaches_the_formatters(self) -> None:
        configure_logging(LOGGING_CONFIG, use_colors=True)
        errors = capture("moreweb")
        logging.getLogger("moreweb.error").info("x")
        assert errors.getvalue() == "\x1b[32mINFO\x1b[0m:     x\n"

    def test_json_file_is_dict_config(self, tmp_path: Path) -> None:
        path = tmp_path / "log.json"
        path.write_text(json.dumps({
            "version": 1, "disable_existing_loggers": False,
            "formatters": {"bare": {"format": "JSON %(message)s"}},
            "handlers": {"h": {"class": "logging.StreamHandler", "formatter": "bare"}},
            "loggers": {"custom": {"handlers": ["h"], "level": "INFO", "propagate": False}},
        }))
        configure_logging(str(path))
        stream = capture("custom")
        logging.getLogger("custom").info("from json")
        assert stream.getvalue() == "JSON from json\n"

    def test_ini_file_is_file_config(self, tmp_path: Path) -> None:
        path = tmp_path / "log.ini"
        path.write_text(
            "[loggers]\nkeys=root,custom\n\n"
            "[handlers]\nkeys=h\n\n"
            "[formatters]\nkeys=f\n\n"
            "[logger_root]\nlevel=WARNING\nhandlers=\n\n"
            "[logger_custom]\nlevel=INFO\nhandlers=h\nqualname=custom\npropagate=0\n\n"
            "[handler_h]\nclass=StreamHandler\nformatter=f\nargs=(sys.stderr,)\n\n"
            "[formatter_f]\nformat=INI %(message)s\n"
        )
        configure_logging(str(path))
        stream = capture("custom")
        logging.getLogger("custom").info("from ini")
        assert stream.getvalue() == "INI from ini\n"

    def test_yaml_file_when_pyyaml_is_installed(self, tmp_path: Path) -> None:
        pytest.importorskip("yaml")
        path = tmp_path / "log.yaml"
        path.write_text(
            "version: 1\ndisable_existing_loggers: false\n"
            "formatters: {bare: {format: 'YAML %(message)s'}}\n"
            "handlers: {h: {class: logging.StreamHandler, formatter: bare}}\n"
            "loggers: {custom: {handlers: [h], level: INFO, propagate: false}}\n"
        )
        configure_logging(str(path))
        stream = capture("custom")
        logging.getLogger("custom").info("from yaml")
        assert stream.getvalue() == "YAML from yaml\n"

    def test_missing_file_is_a_value_error(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="does not exist"):
            configure_logging(str(tmp_path / "absent.json"))

    def test_invalid_json_is_a_value_error(self, tmp_path: Path) -> None:
        path = tmp_path / "bad.json"
        path.write_text("{nope")
        with pytest.raises(ValueError, match="not valid JSON"):
            configure_logging(str(path))
