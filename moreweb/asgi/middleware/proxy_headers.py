"""Believe what a trusted reverse proxy says about the client: address, scheme and host.

Behind a proxy, the TCP peer is the proxy, so the scope's `client`, `scheme` and Host are the
proxy's view, not the user's. Proxies report the user's view in `X-Forwarded-For`,
`X-Forwarded-Proto`, `X-Forwarded-Host`, or in the standard `Forwarded` header (RFC 7239).
This middleware copies that report into the scope, but only when the TCP peer is one of the
trusted proxies (`--forwarded-allow-ips`), because anybody else can write those headers.

Which hop is the client: every proxy *appends* the address it received the request from, so
the list reads oldest-first and only the right end was written by machines we trust. Walking
from the right, we skip trusted proxies and stop at the first address we do not trust: that
one was written by our outermost trusted proxy and is the real client. Taking the leftmost
entry instead (a common mistake) lets any client choose its own address.

When both header families are present they must not contradict each other, or neither is
used: a proxy that manages one family passes the other through from the client unchanged,
so a disagreement means one of them is forged (and we cannot tell which).

This middleware must never trust a header from an untrusted peer, never raise on a malformed
header (a malformed report is ignored), and never touch lifespan scopes.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

__all__ = ["ForwardedReport", "ProxyHeadersMiddleware", "TrustedProxies", "parse_forwarded"]

logger = logging.getLogger("moreweb.error")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_XFF = b"x-forwarded-for"
_XFP = b"x-forwarded-proto"
_XFH = b"x-forwarded-host"
_FORWARDED = b"forwarded"
_WATCHED = frozenset((_XFF, _XFP, _XFH, _FORWARDED))

# A scheme a proxy may report, and what it means for each scope type.
_SCHEMES = {
    "http": {"http": "http", "websocket": "ws"},
    "https": {"http": "https", "websocket": "wss"},
    "ws": {"http": "http", "websocket": "ws"},
    "wss": {"http": "https", "websocket": "wss"},
}

# RFC 7239 section 4: forwarded-pair = token "=" value; value = token / quoted-string.
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_PAIR = re.compile(rf"[ \t]*({_TOKEN})=({_TOKEN}|{_QUOTED})[ \t]*")
_UNQUOTE = re.compile(r"\\(.)")
# A Host value a proxy may report: reg-name or IPv4 or [IPv6], with an optional port
# (RFC 9110 section 7.2, RFC 3986 section 3.2.2). Anything else could smuggle a path or a
# second header into code that trusts the Host header.
_HOST = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=%]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?\Z")

_CACHE_LIMIT = 1024


class TrustedProxies:
    """The peers whose forwarding headers are believed: `--forwarded-allow-ips` parsed once.

    Entries are IP addresses, networks in CIDR form, `*` (everyone: only safe when the
    server is unreachable except through the proxy), `unix:` (any peer on a Unix socket, the
    usual nginx-on-the-same-host setup), `unix:/path` (peers of that one Unix socket), or
    another literal that a proxy writes in place of an address (e.g. `unknown`).
    """

    def __init__(self, entries: Iterable[str] | str) -> None:
        if isinstance(entries, str):
            entries = entries.split(",")
        self.trust_all = False
        self.trust_unix = False
        self.unix_paths: set[str] = set()
        self.networks: list[Network] = []
        self.literals: set[str] = set()
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            if entry == "*":
                self.trust_all = True
            elif entry in ("unix", "unix:"):
                self.trust_unix = True
            elif entry.startswith("unix:"):
                self.unix_paths.add(entry[len("unix:"):])
            else:
                network = _parse_network(entry)
                if network is not None:
                    self.networks.append(network)
                else:
                    self.literals.add(entry)
        self._cache: dict[str, bool] = {}

    def __contains__(self, host: object) -> bool:
        """Whether an address (or literal) as written by a proxy or seen as a peer is trusted."""
        if not isinstance(host, str):
            return False
        if self.trust_all:
            return True
        cached = self._cache.get(host)
        if cached is not None:
            return cached
        trusted = self._lookup(host)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()  # addresses are cheap to re-check; memory must stay bounded
        self._cache[host] = trusted
        return trusted

    def _lookup(self, host: str) -> bool:
        if host in self.literals:
            return True
        if host.startswith("unix:") or host == "unix":
            return self.trust_unix or host[len("unix:"):] in self.unix_paths
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1 on a dual-stack socket
        return any(address in network for network in self.networks)

    def peer_is_trusted(self, scope: Scope) -> bool:
        """Whether the connection's TCP or Unix-socket peer is a trusted proxy."""
        client = scope.get("client")
        if client:
            return str(client[0]) in self
        # ASGI describes a Unix socket peer as client None with server [path, None].
        server = scope.get("server")
        if self.trust_all:
            return True
        if server is not None and len(server) == 2 and server[1] is None:
            return self.trust_unix or str(server[0]) in self.unix_paths
        return False


class ForwardedReport:
    """What the proxies said about the client; None where they said nothing usable."""

    __slots__ = ("client", "host", "proto")

    def __init__(self, client: tuple[str, int] | None = None, proto: str | None = None,
                 host: str | None = None) -> None:
        self.client = client
        self.proto = proto
        self.host = host

    def conflicts_with(self, other: ForwardedReport) -> bool:
        return any(
            mine is not None and theirs is not None and mine != theirs
            for mine, theirs in ((self.client, other.client), (self.proto, other.proto),
                                 (self.host, other.host))
        )

    def merged_over(self, other: ForwardedReport) -> ForwardedReport:
        return ForwardedReport(self.client or other.client, self.proto or other.proto,
                               self.host or other.host)

    def __repr__(self) -> str:
        return f"ForwardedReport(client={self.client!r}, proto={self.proto!r}, host={self.host!r})"


class ProxyHeadersMiddleware:
    """Wrap an ASGI app so that trusted proxies' reports replace the proxy's own view."""

    def __init__(self, app: ASGIApp, trusted: TrustedProxies | Iterable[str] | str = (
            "127.0.0.1", "::1")) -> None:
        self.app = app
        self.trusted = trusted if isinstance(trusted, TrustedProxies) else TrustedProxies(
            trusted)
        self._warned_conflict = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Hot path: one pass over the header names, and nothing else when no proxy header is
        # present (the usual case when no proxy is in front).
        if scope["type"] in ("http", "websocket"):
            for name, _ in scope["headers"]:
                if name in _WATCHED:
                    self.apply(scope)
                    break
        await self.app(scope, receive, send)

    def apply(self, scope: Scope) -> None:
        """Rewrite `scope` in place from its forwarding headers, if the peer is trusted."""
        if not self.trusted.peer_is_trusted(scope):
            return
        report = self.report(scope["headers"])
        if report is None:
            return
        if report.client is not None:
            scope["client"] = report.client
        if report.proto is not None:
            scope["scheme"] = _SCHEMES[report.proto][scope["type"]]
        if report.host is not None:
            scope["headers"] = _with_host(scope["headers"], report.host)

    def report(self, headers: Iterable[tuple[bytes, bytes]]) -> ForwardedReport | None:
        """The client as the trusted proxies describe it, or None to leave the scope alone."""
        fields: dict[bytes, list[str]] = {}
        for name, value in headers:
            if name in _WATCHED:
                fields.setdefault(name, []).append(value.decode("latin-1"))
        standard = legacy = None
        if _FORWARDED in fields:
            standard = self._from_forwarded(",".join(fields[_FORWARDED]))
        if _XFF in fields or _XFP in fields or _XFH in fields:
            legacy = self._from_x_forwarded(fields)
        if standard is None:
            return legacy
        if legacy is None:
            return standard
        if standard.conflicts_with(legacy):
            if not self._warned_conflict:
                self._warned_conflict = True
                logger.warning(
                    "Forwarded and X-Forwarded-* headers disagree (%r vs %r); ignoring both. "
                    "Configure the proxy to set the family it uses and drop the other.",
                    standard, legacy,
                )
            return None
        return standard.merged_over(legacy)

    def _from_forwarded(self, value: str) -> ForwardedReport:
        elements = parse_forwarded(value)
        chosen: dict[str, str] | None = None
        for element in reversed(elements):
            chosen = element
            node = element.get("for")
            if node is None or _split_node(node)[0] not in self.trusted:
                break
        if chosen is None:
            return ForwardedReport()
        client = None
        if "for" in chosen:
            host, port = _split_node(chosen["for"])
            if _is_ip(host):
                client = (host, port)
        return ForwardedReport(client, _proto(chosen.get("proto")), _host(chosen.get("host")))

    def _from_x_forwarded(self, fields: dict[bytes, list[str]]) -> ForwardedReport:
        hops = _list(fields.get(_XFF))
        index = len(hops) - 1
        while index > 0 and _split_node(hops[index])[0] in self.trusted:
            index -= 1
        client = None
        if hops:
            host, port = _split_node(hops[index])
            if _is_ip(host):
                client = (host, port)
        # Proxies that append to X-Forwarded-Proto/Host keep them in step with
        # X-Forwarded-For; most overwrite them, leaving the single value of the nearest proxy.
        proto = _aligned(_list(fields.get(_XFP)), hops, index)
        forwarded_host = _aligned(_list(fields.get(_XFH)), hops, index)
        return ForwardedReport(client, _proto(proto), _host(forwarded_host))


def parse_forwarded(value: str) -> list[dict[str, str]]:
    """The elements of a `Forwarded` field value, oldest first (RFC 7239 section 4).

    Parameter names are lowercased and quoted values unquoted. A malformed element becomes
    an empty dict, so it still counts as a hop (an untrusted one without information).
    """
    elements: list[dict[str, str]] = []
    for text in _split_unquoted(value, ","):
        element: dict[str, str] = {}
        for part in _split_unquoted(text, ";"):
            pair = _PAIR.fullmatch(part)
            if pair is None:
                element = {}
                break
            name, raw = pair.group(1).lower(), pair.group(2)
            if raw.startswith('"'):
                raw = _UNQUOTE.sub(r"\1", raw[1:-1])
            element.setdefault(name, raw)
        elements.append(element)
    return elements


def _split_unquoted(text: str, separator: str) -> list[str]:
    """Split on `separator` where it is not inside a quoted-string (RFC 9110 section 5.6.4)."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _split_node(node: str) -> tuple[str, int]:
    """(host, port) from `1.2.3.4`, `1.2.3.4:80`, `[::1]`, `[::1]:80`, `::1`; port 0 if none."""
    node = node.strip()
    if node.startswith("["):
        end = node.find("]")
        if end != -1:
            host, rest = node[1:end], node[end + 1:]
            return host, _port(rest[1:]) if rest.startswith(":") else 0
        return node, 0
    if node.count(":") == 1:
        host, _, port = node.partition(":")
        if port.isdigit():
            return host, _port(port)
    return node, 0


def _port(text: str) -> int:
    return int(text) if text.isdigit() and len(text) <= 5 and int(text) <= 65535 else 0


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _proto(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().lower()
    return value if value in _SCHEMES else None


def _host(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value if _HOST.match(value) else None


def _list(values: list[str] | None) -> list[str]:
    if not values:
        return []
    return [item.strip() for item in ",".join(values).split(",") if item.strip()]


def _aligned(values: list[str], hops: list[str], index: int) -> str | None:
    if not values:
        return None
    if len(values) == len(hops):
        return values[index]
    return values[-1]


def _with_host(headers: Iterable[tuple[bytes, bytes]], host: str) -> list[tuple[bytes, bytes]]:
    encoded = host.encode("latin-1")
    replaced = [(name, encoded if name == b"host" else value) for name, value in headers]
    if not any(name == b"host" for name, _ in replaced):
        replaced.append((b"host", encoded))
    return replaced


def _parse_network(entry: str) -> Network | None:
    """An IP or CIDR entry; None for a literal; ValueError for a malformed address."""
    candidate = entry[1:-1] if entry.startswith("[") and entry.endswith("]") else entry
    try:
        return ipaddress.ip_network(candidate, strict=False)
    except ValueError:
        if re.fullmatch(r"[0-9.]+(/[0-9]+)?|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(/[0-9]+)?",
                        candidate):
            raise ValueError(f"{entry!r} is not a valid IP address or network") from None
        return None
