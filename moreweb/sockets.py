"""Create the listening sockets the server accepts connections on.

One function per source: a TCP host/port (IPv4 or IPv6), a Unix domain socket path, an
inherited file descriptor, or systemd socket activation (``LISTEN_FDS``/``LISTEN_PID``), and
`bind_sockets` to choose among them from a Config. Sockets are returned bound but not yet
listening: the event loop's ``create_server`` calls ``listen(backlog)``.

This module must never accept connections or touch the event loop, and must never delete a
path that is not a dead Unix socket.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
from collections.abc import MutableMapping
from typing import Protocol

__all__ = [
    "SD_LISTEN_FDS_START",
    "bind_sockets",
    "bind_tcp",
    "bind_unix",
    "describe_socket",
    "from_fd",
    "systemd_sockets",
]

# systemd passes activated sockets starting at this descriptor (sd_listen_fds(3)).
SD_LISTEN_FDS_START = 3


class _BindOptions(Protocol):
    host: str
    port: int
    uds: str | None
    fd: int | None


def bind_tcp(host: str, port: int) -> socket.socket:
    """Bind a TCP socket; a host containing ":" (optionally in brackets) is IPv6."""
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # Lets a restarted server bind while old connections sit in TIME_WAIT; it does not let
        # two live servers share the port on Linux (that would need SO_REUSEPORT).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def bind_unix(path: str) -> socket.socket:
    """Bind a Unix domain socket at `path`, replacing a stale socket file left by a dead server.

    A socket file that still accepts connections belongs to a live server: that is an error,
    as is any existing path that is not a socket.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        pass
    else:
        if not stat.S_ISSOCK(mode):
            raise OSError(f"{path!r} exists and is not a socket; refusing to replace it")
        if _unix_socket_is_live(path):
            raise OSError(f"{path!r} is in use by a running server")
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        # Front proxies usually run as another user; the directory's permissions are the place
        # to restrict access, as with other servers' sockets.
        os.chmod(path, 0o666)
    except BaseException:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _unix_socket_is_live(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
    except OSError:
        return False
    finally:
        probe.close()
    return True


def from_fd(fd: int) -> socket.socket:
    """Wrap an inherited, already-bound socket descriptor (family and type are detected)."""
    sock = socket.socket(fileno=fd)
    if sock.type != socket.SOCK_STREAM:
        sock.detach()
        raise OSError(f"file descriptor {fd} is not a stream socket")
    return sock


def systemd_sockets(environ: MutableMapping[str, str] | None = None) -> list[socket.socket]:
    """Return the sockets systemd passed to this process, or [] when not socket-activated.

    The variables are removed afterwards, as sd_listen_fds(3) recommends, so that a child
    process does not mistake the descriptors for its own.
    """
    env = os.environ if environ is None else environ
    listen_pid = env.get("LISTEN_PID")
    listen_fds = env.get("LISTEN_FDS")
    if listen_pid is None or listen_fds is None:
        return []
    try:
        if int(listen_pid) != os.getpid():
            return []
        count = int(listen_fds)
    except ValueError:
        return []
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        env.pop(name, None)
    return [from_fd(fd) for fd in range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + count)]


def bind_sockets(config: _BindOptions) -> list[socket.socket]:
    """The listening sockets for `config`: --uds, else --fd, else systemd's, else host:port."""
    if config.uds:
        return [bind_unix(config.uds)]
    if config.fd is not None:
        return [from_fd(config.fd)]
    activated = systemd_sockets()
    if activated:
        return activated
    return [bind_tcp(config.host, config.port)]


def describe_socket(sock: socket.socket, is_ssl: bool = False) -> str:
    """How the startup log names a listening socket, e.g. ``http://127.0.0.1:8000``."""
    scheme = "https" if is_ssl else "http"
    if sock.family == socket.AF_UNIX:
        return f"unix socket {sock.getsockname() or '(unnamed)'}"
    with contextlib.suppress(OSError):
        address = sock.getsockname()
        host, port = address[0], address[1]
        if sock.family == socket.AF_INET6:
            return f"{scheme}://[{host}]:{port}"
        return f"{scheme}://{host}:{port}"
    return f"socket fd {sock.fileno()}"
