"""Sockets handed over by a process manager: --fd, and systemd socket activation.

A process manager (systemd, circus, a shell script) binds the socket itself and starts the
server with it already open: with `--fd N`, or as sd_listen_fds(3) describes it, descriptor 3
onwards announced by LISTEN_FDS and LISTEN_PID (which must be the server's own pid, so a
child process never takes its parent's sockets). The tests bind on 127.0.0.1 port 0 and
launch the server the same way, with and without --workers.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers_server import (
    ServerProcess,
    _LineReader,
    http_get,
    stop_process,
    subprocess_env,
    write_app,
)

APP = """
import json
import os

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = json.dumps({"pid": os.getpid(), "listen_fds": os.environ.get("LISTEN_FDS"),
                       "server": scope["server"], "client": scope["client"]}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})
"""

# What systemd does between fork and exec: the socket at descriptor 3, the two variables,
# and LISTEN_PID naming the process that will run the server (exec keeps the pid).
LAUNCHER = """
import os, sys
fd = int(sys.argv[1])
if fd != 3:
    os.dup2(fd, 3)
    os.close(fd)
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.executable, [sys.executable, "-m", "moreweb", *sys.argv[2:]])
"""


@pytest.fixture
def app_dir(tmp_path: Path) -> str:
    return write_app(tmp_path, "fd_app", APP)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.set_inheritable(True)
    try:
        yield sock
    finally:
        sock.close()


def ask(port: int) -> dict[str, object]:
    response = http_get("127.0.0.1", port)
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), response
    result: dict[str, object] = json.loads(body)
    return result


def wait_running(reader: _LineReader, proc: subprocess.Popen[str], count: int = 1) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if sum("moreweb running on" in line for line in list(reader.lines)) >= count:
            return
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError("server did not start:\n" + "\n".join(reader.lines))


@contextmanager
def socket_activated(sock: socket.socket, tmp_path: Path, *args: str
                     ) -> Iterator[tuple[subprocess.Popen[str], _LineReader]]:
    launcher = tmp_path / "launcher.py"
    launcher.write_text(LAUNCHER)
    proc = subprocess.Popen(
        [sys.executable, str(launcher), str(sock.fileno()), *args],
        pass_fds=(sock.fileno(),), env=subprocess_env(), stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    reader = _LineReader(proc.stderr)
    reader.start()
    try:
        yield proc, reader
    finally:
        stop_process(proc, [reader], grace=10)


def test_fd_serves_on_an_inherited_socket(app_dir: str, listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    with ServerProcess(["fd_app:app", "--app-dir", app_dir, "--fd", str(listener.fileno())],
                       pass_fds=(listener.fileno(),)) as server:
        assert server.port == port
        assert ask(port)["server"] == ["127.0.0.1", port]


def test_fd_with_workers_shares_the_inherited_socket(app_dir: str,
                                                     listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    with ServerProcess(["fd_app:app", "--app-dir", app_dir, "--fd", str(listener.fileno()),
                        "--workers", "2", "--lifespan", "off"],
                       pass_fds=(listener.fileno(),)) as server:
        assert server.port == port
        assert ask(port)["pid"] != server.proc.pid  # type: ignore[union-attr]


def test_fd_that_is_not_a_socket_is_an_error(app_dir: str, tmp_path: Path) -> None:
    with open(tmp_path / "plain.txt", "w") as file:
        fd = file.fileno()
        os.set_inheritable(fd, True)
        with ServerProcess(["fd_app:app", "--app-dir", app_dir, "--fd", str(fd)],
                           pass_fds=(fd,), wait_started=False) as server:
            assert server.wait(timeout=15) == 1


def test_listen_fds_socket_activation(app_dir: str, listener: socket.socket,
                                      tmp_path: Path) -> None:
    port = listener.getsockname()[1]
    with socket_activated(listener, tmp_path, "fd_app:app", "--app-dir", app_dir
                          ) as (proc, reader):
        wait_running(reader, proc)
        data = ask(port)
        assert data["pid"] == proc.pid
        # sd_listen_fds(3): the variables are consumed, so the app's own children don't
        # take the socket for theirs.
        assert data["listen_fds"] is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0


def test_listen_fds_with_workers(app_dir: str, listener: socket.socket,
                                 tmp_path: Path) -> None:
    port = listener.getsockname()[1]
    with socket_activated(listener, tmp_path, "fd_app:app", "--app-dir", app_dir,
                          "--workers", "2", "--lifespan", "off") as (proc, reader):
        wait_running(reader, proc, count=2)
        data = ask(port)
        assert data["pid"] != proc.pid and data["listen_fds"] is None


def test_listen_pid_of_another_process_is_ignored(app_dir: str, listener: socket.socket
                                                  ) -> None:
    # The variables were meant for our parent: bind from the options instead.
    env = {"LISTEN_FDS": "1", "LISTEN_PID": str(os.getpid())}
    with ServerProcess(["fd_app:app", "--app-dir", app_dir, "--port", "0"], env=env) as server:
        assert server.port != listener.getsockname()[1]
        assert ask(server.port)["pid"] == server.proc.pid  # type: ignore[union-attr]


DOCS = Path(__file__).resolve().parent.parent / "docs" / "deployment.md"


def doc_snippet(name: str) -> str:
    """The fenced block that follows `<!-- test: NAME -->` in docs/deployment.md."""
    text = DOCS.read_text()
    marker = text.index(f"<!-- test: {name} -->")
    start = text.index("\n", text.index("```", marker)) + 1
    return text[start:text.index("```", start)]


def unit_values(unit: str, key: str) -> list[str]:
    return [line.split("=", 1)[1] for line in unit.splitlines() if line.startswith(key + "=")]


@pytest.mark.skipif(shutil.which("systemd-socket-activate") is None,
                    reason="systemd-socket-activate is not installed (package systemd)")
def test_documented_systemd_units_with_socket_activation(app_dir: str, tmp_path: Path) -> None:
    # docs/deployment.md's units, run by systemd's own socket-activation tool: it binds the
    # ListenStream socket, waits for the first connection, then execs ExecStart with
    # LISTEN_FDS, as systemd does. Only the paths are swapped for temporary ones.
    socket_unit = doc_snippet("systemd-socket")
    service_unit = doc_snippet("systemd-service")
    (listen,) = unit_values(socket_unit, "ListenStream")
    path = str(tmp_path / Path(listen).name)
    (exec_start,) = unit_values(service_unit, "ExecStart")
    program, app, *options = shlex.split(exec_start)
    assert program.endswith("/moreweb") and app == "app:app"
    environment = dict(item.split("=", 1) for item in unit_values(service_unit, "Environment"))
    command = ["systemd-socket-activate", "-l", path, "-E", "PYTHONPATH",
               *[f"-E{name}={value}" for name, value in environment.items()],
               sys.executable, "-m", "moreweb", "fd_app:app", "--app-dir", app_dir,
               "--lifespan", "off", *options]
    proc = subprocess.Popen(command, env=subprocess_env(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    reader = _LineReader(proc.stderr)
    reader.start()
    try:
        deadline = time.monotonic() + 10
        while not any("Listening on" in line for line in reader.lines):
            assert time.monotonic() < deadline, "\n".join(reader.lines)
            time.sleep(0.05)
        data = unix_ask(path, b"X-Forwarded-For: 203.0.113.5\r\n")
        assert data["pid"] != proc.pid and data["listen_fds"] is None
        assert data["client"] == ["203.0.113.5", 0]  # --forwarded-allow-ips unix:
        workers = int(environment["WEB_CONCURRENCY"])
        wait_running(reader, proc, count=workers)
        proc.send_signal(signal.SIGHUP)  # ExecReload
        wait_for(reader, "Rolling restart complete")
        proc.send_signal(signal.SIGTERM)  # systemctl stop, KillMode=mixed
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        reader.join(timeout=2)
        if proc.stderr is not None:
            proc.stderr.close()


def unix_ask(path: str, extra: bytes = b"") -> dict[str, object]:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(path)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n" + extra + b"Connection: close\r\n\r\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), head
    result: dict[str, object] = json.loads(body)
    return result


def wait_for(reader: _LineReader, text: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not any(text in line for line in list(reader.lines)):
        assert time.monotonic() < deadline, "\n".join(reader.lines)
        time.sleep(0.05)
