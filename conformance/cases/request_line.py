"""Cases for line endings and the request line (RFC 9112 sections 2.2, 2.3 and 3).

A request line that two parsers split differently is the first step of request smuggling, so
everything outside the single-SP grammar is rejected rather than guessed at.
"""

from __future__ import annotations

from conformance.cases._build import Group, echo, get, msg
from conformance.model import Echo, End, accept, reject, wait

E = Group("line-endings")
E.add("crlf-baseline", "RFC 9112 2.2", get(), accept(echo()))
E.add("bare-lf-request-line", "RFC 9112 2.2", b"GET / HTTP/1.1\nHost: a.example\r\n\r\n",
      reject(400), "RFC lets a recipient accept bare LF; moreweb rejects it unless lenient-lf",
      policy=True)
E.add("bare-lf-field-line", "RFC 9112 2.2", b"GET / HTTP/1.1\r\nHost: a.example\n\r\n",
      reject(400), policy=True)
E.add("bare-lf-everywhere", "RFC 9112 2.2", b"GET / HTTP/1.1\nHost: a.example\n\n",
      reject(400), policy=True)
E.add("bare-lf-leading-empty-line", "RFC 9112 2.2",
      b"\nGET / HTTP/1.1\r\nHost: a.example\r\n\r\n", reject(400), policy=True)
E.add("bare-cr-request-line", "RFC 9112 2.2", b"GET / HTTP/1.1\rHost: a.example\r\n\r\n",
      reject(400), "a bare CR MUST be rejected or replaced with SP; moreweb rejects")
E.add("bare-cr-in-target", "RFC 9112 2.2", b"GET /a\rb HTTP/1.1\r\nHost: a.example\r\n\r\n",
      reject(400))
E.add("bare-cr-field-value", "RFC 9112 2.2",
      b"GET / HTTP/1.1\r\nHost: a.example\r\nX: a\rb\r\n\r\n", reject(400))
E.add("bare-cr-before-crlf", "RFC 9112 2.2", b"GET / HTTP/1.1\r\nHost: a.example\r\r\n\r\n",
      reject(400))
E.add("bare-cr-empty-line", "RFC 9112 2.2", b"GET / HTTP/1.1\r\nHost: a.example\r\n\r\r\n",
      reject(400))
E.add("leading-crlf-skipped", "RFC 9112 2.2", b"\r\n\r\n" + get(), accept(echo()),
      "a server SHOULD ignore at least one empty line before the request line")
E.add("crlf-between-pipelined", "RFC 9112 2.2", get("/1") + b"\r\n" + get("/2"),
      accept(echo("/1"), echo("/2")))
E.add("incomplete-request-line-waits", "RFC 9112 2.2", b"GET / HTTP/1.1", wait())
E.add("incomplete-head-waits", "RFC 9112 2.2", b"GET / HTTP/1.1\r\nHost: a.example\r\n",
      wait())

L = Group("request-line")
L.add("method-lowercase-token", "RFC 9112 3.1", msg("get / HTTP/1.1", "Host: a.example"),
      accept(echo(method="get")), "methods are case-sensitive tokens; 'get' is a valid token")
L.add("method-extension-token", "RFC 9112 3.1", msg("PURGE / HTTP/1.1", "Host: a.example"),
      accept(echo(method="PURGE")))
L.add("method-all-tchars", "RFC 9110 5.6.2",
      msg("!#$%&'*+-.^_`|~09AZaz / HTTP/1.1", "Host: a.example"),
      accept(echo(method="!#$%&'*+-.^_`|~09AZaz")))
L.add("method-not-token", "RFC 9112 3.1", msg("GE(T / HTTP/1.1", "Host: a.example"), reject(400))
L.add("method-slash", "RFC 9112 3.1", msg("GE/T / HTTP/1.1", "Host: a.example"), reject(400))
L.add("method-non-ascii", "RFC 9112 3.1", msg("G\xc9T / HTTP/1.1", "Host: a.example"),
      reject(400))
L.add("method-empty", "RFC 9112 3", msg(" / HTTP/1.1", "Host: a.example"), reject(400))
L.add("two-spaces-after-method", "RFC 9112 3", msg("GET  / HTTP/1.1", "Host: a.example"),
      reject(400), "RFC lets a recipient split on whitespace runs; moreweb requires single SP",
      policy=True)
L.add("two-spaces-before-version", "RFC 9112 3", msg("GET /  HTTP/1.1", "Host: a.example"),
      reject(400), policy=True)
L.add("tab-separator", "RFC 9112 3", msg("GET\t/ HTTP/1.1", "Host: a.example"), reject(400),
      policy=True)
L.add("trailing-space-after-version", "RFC 9112 3", msg("GET / HTTP/1.1 ", "Host: a.example"),
      reject(400), policy=True)
L.add("space-in-target", "RFC 9112 3.2", msg("GET /a b HTTP/1.1", "Host: a.example"),
      reject(400))
L.add("empty-target", "RFC 9112 3.2", msg("GET  HTTP/1.1", "Host: a.example"), reject(400))
L.add("only-method", "RFC 9112 3", msg("GET", "Host: a.example"), reject(400))
L.add("origin-form-query", "RFC 9112 3.2.1", get("/p?q=1&r=%20"), accept(echo("/p?q=1&r=%20")))
L.add("origin-form-percent-encoded", "RFC 9112 3.2.1", get("/a%20b/%2F"),
      accept(echo("/a%20b/%2F")))
L.add("origin-form-double-slash", "RFC 9112 3.2.1", get("//x//y"), accept(echo("//x//y")))
L.add("target-browser-chars", "RFC 9112 3.2", get("/p?q={}|^`'"), accept(echo("/p?q={}|^`'")),
      "not allowed by the URI grammar but sent raw by browsers; moreweb accepts them",
      policy=True)
L.add("target-fragment", "RFC 9112 3.2", get("/p#frag"), reject(400),
      "request-target has no fragment component")
L.add("target-double-quote", "RFC 9112 3.2", get('/a"b'), reject(400))
L.add("target-angle-brackets", "RFC 9112 3.2", get("/a<b>"), reject(400))
L.add("target-nul", "RFC 9112 3.2", get("/a\x00b"), reject(400))
L.add("target-ctl", "RFC 9112 3.2", get("/a\x01b"), reject(400))
L.add("target-del", "RFC 9112 3.2", get("/a\x7fb"), reject(400))
L.add("target-non-ascii", "RFC 9112 3.2", get("/caf\xe9"), reject(400))
L.add("target-relative", "RFC 9112 3.2", get("a/b"), reject(400))
L.add("absolute-form", "RFC 9112 3.2.2", get("http://a.example/p?q"), accept(echo("/p?q")),
      "ASGI raw_path is the path component of the target")
L.add("absolute-form-uppercase-scheme", "RFC 9112 3.2.2", get("HTTP://a.example/p"),
      accept(echo("/p")))
L.add("absolute-form-https", "RFC 9112 3.2.2", get("https://a.example/p"), accept(echo("/p")))
L.add("absolute-form-empty-path", "RFC 9112 3.2.2", get("http://a.example"),
      accept(echo(None)))
L.add("absolute-form-empty-host", "RFC 9110 4.2.1", get("http:///p"), reject(400),
      "a recipient MUST reject an http URI with an empty host")
L.add("authority-form-without-connect", "RFC 9112 3.2.3", get("a.example:80"), reject(400))
L.add("connect-with-origin-form", "RFC 9112 3.2.3", msg("CONNECT / HTTP/1.1", "Host: a.example"),
      reject(400))
L.add("asterisk-form-options", "RFC 9112 3.2.4", msg("OPTIONS * HTTP/1.1", "Host: a.example"),
      accept(echo("*", method="OPTIONS")))
L.add("asterisk-form-get", "RFC 9112 3.2.4", get("*"), reject(400))
L.add("version-1.0", "RFC 9112 2.3", msg("GET / HTTP/1.0"),
      accept(Echo("GET", "/", "1.0", ()), end=End.CLOSED),
      "HTTP/1.0 without keep-alive: answered, then closed")
L.add("version-1.2-as-1.1", "RFC 9112 2.3", get(version="HTTP/1.2"), accept(echo()),
      "a higher minor version is answered as the highest supported one")
L.add("version-1.10", "RFC 9112 2.3", get(version="HTTP/1.10"), reject(400))
L.add("version-2.0", "RFC 9112 2.3", get(version="HTTP/2.0"), reject(505))
L.add("version-3.0", "RFC 9112 2.3", get(version="HTTP/3.0"), reject(505))
L.add("version-0.9-written", "RFC 9112 2.3", get(version="HTTP/0.9"), reject(505))
L.add("version-lowercase", "RFC 9112 2.3", get(version="http/1.1"), reject(400),
      "HTTP-name is case-sensitive")
L.add("version-missing-minor", "RFC 9112 2.3", get(version="HTTP/1"), reject(400))
L.add("version-garbage-suffix", "RFC 9112 2.3", get(version="HTTP/1.1x"), reject(400))
L.add("version-spaced", "RFC 9112 2.3", get(version="HTTP / 1.1"), reject(400))
L.add("http-0.9-request", "RFC 9112 2.3", b"GET /\r\n\r\n", reject(400),
      "HTTP/0.9 simple requests are not supported")
L.add("http-0.9-line-alone", "RFC 9112 3", b"GET /\r\n", reject(400),
      "the line is complete and can never become valid: answer now, do not wait for a head "
      "that an HTTP/0.9 client will never send")

CASES = E.cases + L.cases
