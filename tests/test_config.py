"""Config: defaults, validation (one ConfigError naming the option), and load()."""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from moreweb.asgi.asgi2 import ASGI2Adapter, detect_interface
from moreweb.config import AppLoadError, Config, ConfigError, load_app


async def asgi3_app(scope: Any, receive: Any, send: Any) -> None: ...


class ASGI2App:
    def __init__(self, scope: Any) -> None:
        self.scope = scope

    async def __call__(self, receive: Any, send: Any) -> None: ...


@pytest.fixture(autouse=True)
def clean_env() -> Iterator[None]:
    # Config(env_file=...) writes to os.environ on purpose; put it back exactly.
    saved = dict(os.environ)
    os.environ.pop("WEB_CONCURRENCY", None)
    os.environ.pop("FORWARDED_ALLOW_IPS", None)
    yield
    os.environ.clear()
    os.environ.update(saved)


def test_defaults_match_the_contract() -> None:
    config = Config(asgi3_app)
    assert (config.host, config.port, config.backlog) == ("127.0.0.1", 8000, 2048)
    assert config.root_path == ""
    assert config.limit_request_head_size == 65536
    assert config.limit_request_fields == 100
    assert config.lenient_lf is False
    assert config.timeout_keep_alive == 5
    assert config.timeout_request_head == 10
    assert config.timeout_graceful_shutdown == 30
    assert config.limit_concurrency is None
    assert config.access_log is True
    assert config.server_header is True and config.date_header is True
    assert config.encoded_headers == []
    assert config.ws == "auto" and config.ws_max_size == 16 * 1024 * 1024
    assert config.ws_max_queue == 32
    assert config.ws_ping_interval == 20.0 and config.ws_ping_timeout == 20.0
    assert config.ws_per_message_deflate is True
    assert config.is_ssl is False and config.ssl is None
    assert config.proxy_headers is True
    assert config.forwarded_allow_ips == ["127.0.0.1", "::1"]
    assert (config.interface, config.lifespan, config.loop) == ("auto", "auto", "auto")
    assert config.workers == 1
    assert config.reload is False and config.reload_delay == 0.25
    assert config.limit_max_requests is None and config.limit_max_requests_jitter == 0
    assert config.ssl_cert_reqs == ssl.CERT_NONE and config.ssl_ciphers is None
    assert config.loaded is False


def test_environment_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", "4")
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.1, 10.0.0.2")
    config = Config(asgi3_app)
    assert config.workers == 4
    assert config.forwarded_allow_ips == ["10.0.0.1", "10.0.0.2"]


def test_explicit_options_beat_environment_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", "4")
    assert Config(asgi3_app, workers=2).workers == 2


def test_headers_are_lowercased_latin1_pairs() -> None:
    config = Config(asgi3_app, headers=[("X-Frame-Options", "DENY"), "X-Extra: a: b"])
    assert config.encoded_headers == [(b"x-frame-options", b"DENY"), (b"x-extra", b"a: b")]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"port": -1}, "port: -1 must be between 0 and 65535"),
        ({"port": 70000}, "port: 70000 must be between 0 and 65535"),
        ({"port": "80"}, "port: '80' is not an integer"),
        ({"backlog": 0}, "backlog: 0 must be at least 1"),
        ({"limit_concurrency": 0}, "limit_concurrency: 0 must be at least 1"),
        ({"lifespan": "maybe"}, "lifespan: 'maybe' is not one of auto, on, off"),
        ({"interface": "wsgi"}, "interface: 'wsgi' is not one of"),
        ({"ws": "sockets"}, "ws: 'sockets' is not one of auto, none"),
        ({"loop": "trio"}, "loop: 'trio' is not one of"),
        ({"log_level": "loud"}, "log_level: 'loud' is not one of"),
        ({"timeout_request_head": 0}, "timeout_request_head: must be greater than 0"),
        ({"timeout_keep_alive": -1}, "timeout_keep_alive: -1 must be at least 0"),
        ({"ws_ping_interval": 0}, "ws_ping_interval: must be greater than 0"),
        ({"headers": ["nocolon"]}, "header: 'nocolon' is not in NAME:VALUE form"),
        ({"headers": [("Bad Name", "v")]}, "header: 'Bad Name' is not a valid header name"),
        ({"headers": [("X-A", "v\r\nSet-Cookie: x")]}, "contains CR, LF or NUL"),
        ({"headers": [("X-A", "\u20ac")]}, "is not latin-1"),
        ({"root_path": "api"}, "root_path: 'api' must be empty or start with '/'"),
        ({"ssl_keyfile": "k.pem"}, "ssl_keyfile: needs ssl_certfile"),
        ({"ssl_cert_reqs": 7}, "ssl_cert_reqs: 7 is not one of"),
        ({"workers": 0}, "workers: 0 must be at least 1"),
    ],
)
def test_invalid_options_raise_config_error_naming_the_option(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        Config(asgi3_app, **options)
    assert message in str(info.value)


def test_invalid_web_concurrency_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", "many")
    with pytest.raises(ConfigError, match=r"\$WEB_CONCURRENCY: 'many' is not an integer"):
        Config(asgi3_app)


def test_root_path_trailing_slash_is_dropped() -> None:
    assert Config(asgi3_app, root_path="/api/").root_path == "/api"
    assert Config(asgi3_app, root_path="/").root_path == ""


def test_env_file_is_applied_before_environment_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / "app.env"
    env_file.write_text("WEB_CONCURRENCY=3\n")
    assert Config(asgi3_app, env_file=env_file).workers == 3


def test_load_keeps_asgi3_apps_as_they_are() -> None:
    config = Config(asgi3_app, proxy_headers=False)
    config.load()
    assert config.loaded is True
    assert config.loaded_app is asgi3_app
    assert config.interface == "asgi3"


def test_load_wraps_asgi2_apps() -> None:
    config = Config(ASGI2App, proxy_headers=False)
    config.load()
    assert isinstance(config.loaded_app, ASGI2Adapter)
    assert config.interface == "asgi2"


def test_explicit_interface_overrides_detection() -> None:
    app, interface = load_app(asgi3_app, interface="asgi2")
    assert isinstance(app, ASGI2Adapter) and interface == "asgi2"


def test_factory_is_called_once_without_arguments() -> None:
    calls = []

    def factory() -> Any:
        calls.append(1)
        return asgi3_app

    config = Config(factory, factory=True, proxy_headers=False)
    config.load()
    config.load()  # loading twice is harmless
    assert config.loaded_app is asgi3_app
    assert calls == [1]


def test_factory_that_needs_arguments_is_a_load_error() -> None:
    def factory(settings: Any) -> Any:
        return asgi3_app

    with pytest.raises(AppLoadError, match="Error calling the app factory"):
        Config(factory, factory=True).load()


def test_non_callable_app_is_a_load_error() -> None:
    with pytest.raises(AppLoadError, match="is not callable"):
        load_app(42)


def test_import_errors_become_load_errors() -> None:
    with pytest.raises(AppLoadError, match='Could not import module "nope_missing_mod"'):
        Config("nope_missing_mod:app").load()


def test_app_dir_is_put_first_on_sys_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "config_app_dir_mod.py").write_text(
        "async def app(scope, receive, send):\n    pass\n"
    )
    config = Config("config_app_dir_mod:app", app_dir=str(tmp_path),
                    proxy_headers=False)
    config.load()
    assert sys.path[0] == str(tmp_path)
    assert config.loaded_app.__module__ == "config_app_dir_mod"


def test_ssl_context_is_built_from_the_options(tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    config = Config(asgi3_app, ssl_certfile=str(cert_path), ssl_keyfile=str(key_path))
    assert config.is_ssl is True
    config.load()
    assert isinstance(config.ssl, ssl.SSLContext)
    assert config.ssl.verify_mode == ssl.CERT_NONE


class TestInterfaceDetection:
    def test_coroutine_function_is_asgi3(self) -> None:
        assert detect_interface(asgi3_app) == "asgi3"

    def test_class_is_asgi2(self) -> None:
        assert detect_interface(ASGI2App) == "asgi2"

    def test_instance_with_async_call_is_asgi3(self) -> None:
        class App:
            async def __call__(self, scope: Any, receive: Any, send: Any) -> None: ...

        assert detect_interface(App()) == "asgi3"

    def test_sync_call_with_three_parameters_is_asgi3(self) -> None:
        # Middleware that returns the wrapped app's coroutine from a plain method.
        class Wrapper:
            def __call__(self, scope: Any, receive: Any, send: Any) -> Any:
                return asgi3_app(scope, receive, send)

        assert detect_interface(Wrapper()) == "asgi3"

    def test_plain_function_of_scope_is_asgi2(self) -> None:
        def app(scope: Any) -> Any:
            return ASGI2App(scope)

        assert detect_interface(app) == "asgi2"


@pytest.mark.parametrize("name", ["websockets", "websockets-sansio", "wsproto"])
def test_uvicorn_ws_implementation_names_mean_auto(name: str) -> None:
    # A uvicorn command line with --ws websockets must keep working after s/uvicorn/moreweb/.
    assert Config(asgi3_app, ws=name).ws == "auto"
