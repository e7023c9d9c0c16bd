"""Cases for Host rules and field-line grammar (RFC 9112 sections 3.2 and 5, RFC 9110 5).

Field lines that one parser reads as a header and another as something else (whitespace before
the colon, folded lines, stray CR or NUL) are the classic smuggling vector; values with bytes
0x80-0xFF are legal obs-text and must reach the application intact.
"""

from __future__ import annotations

from conformance.cases._build import Group, echo, get, msg
from conformance.model import Echo, End, accept, reject

H = Group("host")
H.add("http11-without-host", "RFC 9112 3.2", msg("GET / HTTP/1.1"), reject(400),
      "a server MUST answer 400 to an HTTP/1.1 request without Host")
H.add("http10-without-host", "RFC 9112 3.2", msg("GET / HTTP/1.0"),
      accept(Echo("GET", "/", "1.0", ()), end=End.CLOSED))
H.add("two-host-lines-same", "RFC 9112 3.2", get("/", "Host: a.example"), reject(400),
      "more than one Host field line MUST be answered with 400")
H.add("two-host-lines-different", "RFC 9112 3.2", get("/", "Host: b.example"), reject(400))
H.add("host-empty-value", "RFC 9112 3.2", msg("GET / HTTP/1.1", "Host:"),
      accept(Echo("GET", "/", "1.1", (("host", ""),))),
      "an empty Host is what a client sends when the URI has no authority")
H.add("host-with-port", "RFC 9110 7.2", msg("GET / HTTP/1.1", "Host: a.example:8080"),
      accept(Echo("GET", "/", "1.1", (("host", "a.example:8080"),))))
H.add("host-ipv6-literal", "RFC 9110 7.2", msg("GET / HTTP/1.1", "Host: [::1]:8080"),
      accept(Echo("GET", "/", "1.1", (("host", "[::1]:8080"),))))
H.add("host-with-space", "RFC 9112 3.2", msg("GET / HTTP/1.1", "Host: a b"), reject(400))
H.add("host-list", "RFC 9112 3.2", msg("GET / HTTP/1.1", "Host: a.example, b.example"),
      reject(400))
H.add("host-with-slash", "RFC 9112 3.2", msg("GET / HTTP/1.1", "Host: a/b"), reject(400))
H.add("host-with-userinfo", "RFC 9112 3.2", msg("GET / HTTP/1.1", "Host: u@a.example"),
      reject(400))
H.add("host-bad-port", "RFC 9112 3.2", msg("GET / HTTP/1.1", "Host: a.example:x"), reject(400))
H.add("absolute-form-ignores-host", "RFC 9112 3.2.2",
      msg("GET http://a.example/p HTTP/1.1", "Host: other.example"),
      accept(Echo("GET", "/p", "1.1", (("host", "other.example"),))),
      "the server MUST use the target's authority and ignore Host")
H.add("absolute-form-without-host", "RFC 9112 3.2", msg("GET http://a.example/ HTTP/1.1"),
      reject(400))

F = Group("fields")
F.add("space-before-colon", "RFC 9112 5.1", get("/", "X : 1"), reject(400),
      "whitespace between field name and colon MUST be rejected with 400")
F.add("tab-before-colon", "RFC 9112 5.1", get("/", "X\t: 1"), reject(400))
F.add("space-before-colon-host", "RFC 9112 5.1", msg("GET / HTTP/1.1", "Host : a.example"),
      reject(400))
F.add("obs-fold", "RFC 9112 5.2", get("/", "X: a", " b"), reject(400),
      "RFC allows replacing obs-fold with SP; moreweb rejects it", policy=True)
F.add("obs-fold-tab", "RFC 9112 5.2", get("/", "X: a", "\tb"), reject(400), policy=True)
F.add("whitespace-before-first-field", "RFC 9112 2.2", msg("GET / HTTP/1.1", " Host: a.example"),
      reject(400), "RFC allows consuming such lines; moreweb rejects", policy=True)
F.add("empty-field-name", "RFC 9112 5", get("/", ": value"), reject(400))
F.add("missing-colon", "RFC 9112 5", get("/", "X-No-Colon"), reject(400))
F.add("name-not-token", "RFC 9110 5.1", get("/", "X(Y): 1"), reject(400))
F.add("name-non-ascii", "RFC 9110 5.1", get("/", "X-\xe9: 1"), reject(400))
F.add("value-nul", "RFC 9110 5.5", get("/", "X: a\x00b"), reject(400),
      "RFC allows replacing NUL with SP; moreweb rejects", policy=True)
F.add("value-ctl", "RFC 9110 5.5", get("/", "X: a\x01b"), reject(400))
F.add("value-escape-ctl", "RFC 9110 5.5", get("/", "X: a\x1bb"), reject(400))
F.add("value-del", "RFC 9110 5.5", get("/", "X: a\x7fb"), reject(400))
F.add("value-inner-tab", "RFC 9110 5.5", get("/", "X: a\tb"), accept(echo("/", ("x", "a\tb"))))
F.add("value-obs-text-preserved", "RFC 9110 5.5", get("/", "X: caf\xe9 \x80\xff"),
      accept(echo("/", ("x", "caf\xe9 \x80\xff"))),
      "bytes 0x80-0xFF are obs-text and must reach the app unchanged")
F.add("value-ows-trimmed", "RFC 9112 5.1", get("/", "X:  \t a b \t "),
      accept(echo("/", ("x", "a b"))), "leading and trailing OWS is not part of the value")
F.add("value-empty", "RFC 9110 5.5", get("/", "X:"), accept(echo("/", ("x", ""))))
F.add("name-lowercased", "RFC 9110 5.1", get("/", "X-MiXeD-Case: V"),
      accept(echo("/", ("x-mixed-case", "V"))), "ASGI header names are lowercased")
F.add("repeated-fields-keep-order", "RFC 9110 5.3", get("/", "X: 1", "Y: 2", "X: 3"),
      accept(echo("/", ("x", "1"), ("y", "2"), ("x", "3"))))
F.add("long-value-8k", "RFC 9110 5.4", get("/", "X: " + "v" * 8192),
      accept(echo("/", ("x", "v" * 8192))))

CASES = H.cases + F.cases

