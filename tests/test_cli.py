"""The command line: option parsing, MOREWEB_* variables, errors, and serving end to end."""

from __future__ import annotations

import signal
import socket
import sys
from pathlib import Path
from typing import Any

import pytest

from moreweb import __version__
from moreweb.cli import build_parser, options_from_args
from tests.helpers_server import ServerProcess, http_get, run_cli, write_app

# -- parsing, in process ------------------------------------------------------------------------


def parse(argv: list[str], environ: dict[str, str] | None = None) -> dict[str, Any]:
    return options_from_args(argv, environ={} if environ is None else environ)


def test_only_given_options_are_returned() -> None:
    assert parse(["pkg.mod:app"]) == {"app": "pkg.mod:app"}


def test_options_map_to_config_keywords() -> None:
    options = parse([
        "m:app", "--host", "::", "--port", "0", "--no-access-log", "--header", "X-A: 1",
        "--header", "X-B:2", "--reload-dir", "src", "--limit-concurrency", "10",
        "--timeout-graceful-shutdown", "none", "--ws-per-message-deflate", "false",
        "--log-level", "DEBUG", "--factory", "--lenient-lf",
    ])
    assert options == {
        "app": "m:app", "host": "::", "port": 0, "access_log": False,
        "headers": [("X-A", "1"), ("X-B", "2")], "reload_dirs": ["src"],
        "limit_concurrency": 10, "timeout_graceful_shutdown": None,
        "ws_per_message_deflate": False, "log_level": "debug", "factory": True,
        "lenient_lf": True,
    }


def test_every_uvicorn_option_name_exists() -> None:
    flags = {flag for action in build_parser()._actions for flag in action.option_strings}
    expected = [
        "--host", "--port", "--uds", "--fd", "--backlog", "--factory", "--app-dir", "--env-file",
        "--lifespan", "--interface", "--root-path", "--log-level", "--log-config", "--access-log",
        "--no-access-log", "--use-colors", "--no-use-colors", "--timeout-keep-alive",
        "--timeout-graceful-shutdown", "--limit-concurrency", "--server-header",
        "--no-server-header", "--date-header", "--no-date-header", "--header", "--version",
        "--timeout-request-head", "--limit-request-head-size", "--limit-request-fields",
        "--lenient-lf", "--workers", "--reload", "--reload-dir", "--reload-include",
        "--reload-exclude", "--reload-delay", "--limit-max-requests",
        "--limit-max-requests-jitter", "--ssl-certfile", "--ssl-keyfile",
        "--ssl-keyfile-password", "--ssl-ca-certs", "--ssl-cert-reqs", "--ssl-ciphers",
        "--proxy-headers", "--no-proxy-headers", "--forwarded-allow-ips", "--loop", "--ws",
        "--ws-max-size", "--ws-max-queue", "--ws-ping-interval", "--ws-ping-timeout",
        "--ws-per-message-deflate",
    ]
    assert set(expected) <= flags


def test_environment_supplies_missing_options() -> None:
    options = parse(["m:app"], {
        "MOREWEB_PORT": "9000", "MOREWEB_ACCESS_LOG": "false", "MOREWEB_FACTORY": "yes",
        "MOREWEB_HEADER": "X-A: 1\nX-B: two words", "MOREWEB_RELOAD_DIR": "src tests",
        "MOREWEB_WS_PING_INTERVAL": "none", "MOREWEB_LIFESPAN": "off",
    })
    assert options == {
        "app": "m:app", "port": 9000, "access_log": False, "factory": True,
        "headers": [("X-A", "1"), ("X-B", "two words")], "reload_dirs": ["src", "tests"],
        "ws_ping_interval": None, "lifespan": "off",
    }


def test_command_line_wins_over_environment() -> None:
    options = parse(["m:app", "--port", "7000", "--access-log"],
                    {"MOREWEB_PORT": "9000", "MOREWEB_ACCESS_LOG": "false"})
    assert options["port"] == 7000 and options["access_log"] is True


def test_app_may_come_from_the_environment() -> None:
    assert parse([], {"MOREWEB_APP": "env.mod:app"})["app"] == "env.mod:app"


def test_env_file_is_read_before_moreweb_variables(tmp_path: Path) -> None:
    env_file = tmp_path / "server.env"
    env_file.write_text("MOREWEB_PORT=9100\nexport MOREWEB_ROOT_PATH='/api'\nOTHER=1\n")
    environ = {"MOREWEB_ROOT_PATH": "/kept"}
    options = parse(["m:app", "--env-file", str(env_file)], environ)
    assert options["port"] == 9100
    assert options["root_path"] == "/kept"  # the existing environment wins over the file
    assert environ["OTHER"] == "1"


def test_env_file_named_by_variable(tmp_path: Path) -> None:
    env_file = tmp_path / "server.env"
    env_file.write_text("MOREWEB_BACKLOG=64\n")
    assert parse(["m:app"], {"MOREWEB_ENV_FILE": str(env_file)})["backlog"] == 64


def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str],
                   environ: dict[str, str] | None = None) -> str:
    with pytest.raises(SystemExit) as info:
        parse(argv, environ)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("moreweb: error: "), err
    return err.strip()


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["m:app", "--bogus"], "unrecognized arguments: --bogus"),
        (["m:app", "--port", "-1"], "argument --port: -1 must be between 0 and 65535"),
        (["m:app", "--port", "http"], "argument --port: 'http' is not an integer"),
        (["m:app", "--limit-concurrency", "0"], "argument --limit-concurrency: 0 must be at least"),
        (["m:app", "--header", "nocolon"], "argument --header: 'nocolon' is not in NAME:VALUE"),
        (["m:app", "--header", "Bad Name: x"], "'Bad Name' is not a valid header name"),
        (["m:app", "--lifespan", "maybe"], "argument --lifespan: invalid choice: 'maybe'"),
        (["m:app", "--timeout-request-head", "0"], "must be greater than 0"),
        (["m:app", "--ws-per-message-deflate", "maybe"], "'maybe' is not true or false"),
        (["m:app", "--log-level", "loud"], "'loud' is not one of critical"),
        (["m:app", "--por", "1"], "unrecognized arguments: --por"),  # no abbreviations
        ([], "the following arguments are required: APP"),
    ],
)
def test_bad_command_line_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], reason: str
) -> None:
    assert reason in one_line_error(capsys, argv)


@pytest.mark.parametrize(
    ("environ", "reason"),
    [
        ({"MOREWEB_PORT": "abc"}, "environment variable MOREWEB_PORT: 'abc' is not an integer"),
        ({"MOREWEB_ACCESS_LOG": "sometimes"}, "MOREWEB_ACCESS_LOG: 'sometimes' is not true"),
        ({"MOREWEB_LOOP": "trio"}, "MOREWEB_LOOP: 'trio' is not one of auto, asyncio, uvloop"),
        ({"MOREWEB_HEADER": "nocolon"}, "MOREWEB_HEADER: 'nocolon' is not in NAME:VALUE"),
        ({"MOREWEB_LIMIT_CONCURRENCY": "0"}, "MOREWEB_LIMIT_CONCURRENCY: 0 must be at least 1"),
    ],
)
def test_bad_environment_value_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], environ: dict[str, str], reason: str
) -> None:
    assert reason in one_line_error(capsys, ["m:app"], environ)


def test_bad_env_file_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    env_file = tmp_path / "bad.env"
    env_file.write_text("OK=1\nthis is not an assignment\n")
    assert "line 2: expected KEY=VALUE" in one_line_error(
        capsys, ["m:app", "--env-file", str(env_file)]
    )


# -- the real process ---------------------------------------------------------------------------


def test_version() -> None:
    result = run_cli(["--version"])
    assert result.returncode == 0
    version = f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}"
    assert result.stdout.startswith(f"moreweb {__version__} (CPython {version} on ")


def test_bad_option_in_the_real_process_is_one_line_exit_2() -> None:
    result = run_cli(["examples.hello:app", "--port", "-1"])
    assert result.returncode == 2
    assert result.stderr == (
        "moreweb: error: argument --port: -1 must be between 0 and 65535\n"
    )


def test_bad_environment_value_in_the_real_process_exits_2() -> None:
    result = run_cli(["examples.hello:app"], env={"MOREWEB_PORT": "eighty"})
    assert result.returncode == 2
    assert result.stderr == (
        "moreweb: error: environment variable MOREWEB_PORT: 'eighty' is not an integer\n"
    )


def test_config_level_error_is_one_line_exit_2() -> None:
    result = run_cli(["examples.hello:app", "--root-path", "api"])
    assert result.returncode == 2
    assert result.stderr == (
        "moreweb: error: root_path: 'api' must be empty or start with '/'\n"
    )


def test_missing_log_config_file_exits_2(tmp_path: Path) -> None:
    result = run_cli(["examples.hello:app", "--log-config", str(tmp_path / "nope.json")])
    assert result.returncode == 2
    assert result.stderr.startswith("moreweb: error: --log-config: ")
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("app", "message"),
    [
        ("nope:app", 'Error loading ASGI app. Could not import module "nope".'),
        ("examples.hello:nope", 'Error loading ASGI app. Attribute "nope" not found in module '
                                '"examples.hello".'),
        ("nocolon", 'Error loading ASGI app. Import string "nocolon" must be in format '
                    '"<module>:<attribute>".'),
    ],
)
def test_app_that_cannot_be_loaded_exits_1_naming_it(app: str, message: str) -> None:
    result = run_cli([app, "--port", "0"])
    assert result.returncode == 1
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
    assert error_lines == [f"ERROR:    {message}"]


FACTORY_APP = """
import os

def create_app():
    greeting = os.environ.get("GREETING", "unset")

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        body = greeting.encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    return app
"""


def test_factory_builds_the_app_and_env_file_reaches_it(tmp_path: Path) -> None:
    app_dir = write_app(tmp_path, "factory_app", FACTORY_APP)
    env_file = tmp_path / "app.env"
    env_file.write_text('GREETING="hi from .env"\n')
    with ServerProcess(["factory_app:create_app", "--factory", "--app-dir", app_dir,
                        "--env-file", str(env_file), "--port", "0"]) as server:
        response = http_get("127.0.0.1", server.port)
    assert response.startswith(b"HTTP/1.1 200")
    assert response.endswith(b"hi from .env")


ASGI2_APP = """
class App:
    def __init__(self, scope):
        self.scope = scope

    async def __call__(self, receive, send):
        if self.scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"5")]})
        await send({"type": "http.response.body", "body": b"asgi2"})
"""


def test_asgi2_app_is_detected_and_served(tmp_path: Path) -> None:
    app_dir = write_app(tmp_path, "asgi2_app", ASGI2_APP)
    with ServerProcess(["asgi2_app:App", "--app-dir", app_dir, "--port", "0"]) as server:
        response = http_get("127.0.0.1", server.port)
    assert response.startswith(b"HTTP/1.1 200") and response.endswith(b"asgi2")


def test_unix_domain_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "moreweb.sock")
    # A stale socket file from a dead server must not prevent startup.
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()
    with ServerProcess(["examples.hello:app", "--uds", path]) as server:
        assert server.where == f"unix socket {path}"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(5)
            client.connect(path)
            client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            response = b""
            while chunk := client.recv(65536):
                response += chunk
        assert response.startswith(b"HTTP/1.1 200") and response.endswith(b"Hello, world!")
    assert not Path(path).exists()  # removed on shutdown


def test_uds_refuses_to_replace_a_regular_file(tmp_path: Path) -> None:
    path = tmp_path / "precious.txt"
    path.write_text("do not delete")
    result = run_cli(["examples.hello:app", "--uds", str(path)])
    assert result.returncode == 1
    assert "is not a socket" in result.stderr
    assert path.read_text() == "do not delete"


def ipv6_available() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not ipv6_available(), reason="no IPv6 loopback")
def test_ipv6_host() -> None:
    with ServerProcess(["examples.hello:app", "--host", "::1", "--port", "0"]) as server:
        assert server.where.startswith("http://[::1]:")
        response = http_get("::1", server.port)
    assert response.startswith(b"HTTP/1.1 200")


def test_inherited_file_descriptor() -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    try:
        fd = listener.fileno()
        with ServerProcess(["examples.hello:app", "--fd", str(fd)], pass_fds=(fd,)) as server:
            assert server.port == port
            response = http_get("127.0.0.1", port)
        assert response.endswith(b"Hello, world!")
    finally:
        listener.close()


def test_port_in_use_exits_1() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(["examples.hello:app", "--port", str(port)])
    assert result.returncode == 1
    assert "Could not bind the listening socket" in result.stderr
    assert "Address already in use" in result.stderr


def test_run_function_serves_and_exits_0_on_sigterm() -> None:
    code = "import moreweb; moreweb.run('examples.hello:app', port=0, lifespan='on')"
    with ServerProcess(["-c", code], python_args=True) as server:
        assert http_get("127.0.0.1", server.port).endswith(b"Hello, world!")
        server.send_signal(signal.SIGTERM)
        assert server.wait(10) == 0
    assert "Application shutdown complete." in server.stderr_text


def test_run_function_raises_system_exit_1_for_a_missing_app() -> None:
    import moreweb

    with pytest.raises(SystemExit) as info:
        moreweb.run("no_such_module_for_run:app", port=0, log_config=None)
    assert info.value.code == 1


def test_importing_the_package_is_cheap() -> None:
    import subprocess

    from tests.helpers_server import REPO_ROOT, subprocess_env

    probe = (
        "import sys, moreweb; "
        "print(sorted(m for m in sys.modules if m.startswith('moreweb')), "
        "moreweb.Server.__module__)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            cwd=str(REPO_ROOT), env=subprocess_env(), timeout=20)
    assert result.stdout.strip() == "['moreweb'] moreweb.server"


def test_starlette_example_end_to_end() -> None:
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("starlette")
    pytest.importorskip("multipart")
    with ServerProcess(["examples.starlette_app:app", "--port", "0", "--lifespan", "on"]
                       ) as server, httpx.Client(base_url=server.url, timeout=5) as client:
        assert client.get("/").text == "Hello, world!"  # lifespan state reached the request
        assert client.get("/hello/moreweb").json() == {"message": "Hello, moreweb!"}
        assert client.post("/json", json={"a": [1, 2]}).json() == {"received": {"a": [1, 2]}}
        assert client.post("/json", content=b"{nope").status_code == 400
        form = client.post("/form", data={"name": "x"},
                           files={"upload": ("f.txt", b"12345", "text/plain")})
        assert form.json() == {"fields": {"name": "x"},
                               "files": {"upload": {"filename": "f.txt", "size": 5}}}
        stream = client.get("/stream", params={"count": "3"})
        assert stream.text == "0\n1\n2\n"
        assert stream.headers.get("transfer-encoding") == "chunked"
        assert client.get("/missing").status_code == 404


def test_https_with_certificate_and_key(tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme")
    httpx = pytest.importorskip("httpx")
    import ssl

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    with ServerProcess(["examples.hello:app", "--port", "0", "--ssl-certfile", str(cert_path),
                        "--ssl-keyfile", str(key_path)]) as server:
        assert server.url.startswith("https://127.0.0.1:")
        with httpx.Client(verify=client_context, timeout=5) as client:
            response = client.get(server.url + "/")
    assert response.status_code == 200 and response.text == "Hello, world!"


def test_unreadable_certificate_exits_1(tmp_path: Path) -> None:
    result = run_cli(["examples.hello:app", "--port", "0",
                      "--ssl-certfile", str(tmp_path / "missing.pem")])
    assert result.returncode == 1
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
    assert len(error_lines) == 1
    assert error_lines[0].startswith("ERROR:    Could not set up TLS: ")
    assert "No such file" in error_lines[0]
