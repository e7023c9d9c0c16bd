"""Cases for connection management: pipelining, persistence, 100-continue, limits, errors.

A server that answers bytes after `Connection: close`, or keeps parsing after an error, hands an
attacker a second request the front end never saw. A server that buffers an endless head hands
them a memory exhaustion. This module also holds the lenient-LF cases, which run against the
server started in that mode.
"""

from __future__ import annotations

from conformance.cases._build import Group, echo, get, msg
from conformance.model import Echo, End, Err, Ok, Outcome, accept, either, reject, wait

P = Group("pipelining")
P.add("two-requests", "RFC 9112 9.3.2", get("/1") + get("/2"), accept(echo("/1"), echo("/2")),
      "responses MUST come in the order the requests were received")
P.add("three-mixed-bodies", "RFC 9112 9.3.2",
      msg("POST /1 HTTP/1.1", "Host: a.example", "Content-Length: 2", body=b"ab")
      + msg("POST /2 HTTP/1.1", "Host: a.example", "Transfer-Encoding: chunked",
            body=b"2\r\ncd\r\n0\r\n\r\n")
      + get("/3"),
      accept(echo("/1", ("content-length", "2"), method="POST", body=b"ab"),
             echo("/2", ("transfer-encoding", "chunked"), method="POST", body=b"cd"),
             echo("/3")))
P.add("valid-then-garbage", "RFC 9112 9.3.2", get("/1") + b"GARBAGE\r\n\r\n",
      reject(400, before=(echo("/1"),)), "the valid request is still answered")
P.add("valid-then-invalid-request", "RFC 9112 9.3.2", get("/1") + get("/2", "X : y"),
      reject(400, before=(echo("/1"),)))
P.add("connection-close-then-more", "RFC 9112 9.6",
      get("/1", "Connection: close") + get("/2"),
      accept(echo("/1", ("connection", "close")), end=End.CLOSED),
      "nothing after a request with Connection: close may be answered")
P.add("connection-close-mixed-case", "RFC 9112 9.6",
      get("/1", "Connection: ClOsE") + get("/2"),
      accept(echo("/1", ("connection", "ClOsE")), end=End.CLOSED))
P.add("connection-close-in-list", "RFC 9112 9.6",
      get("/1", "Connection: foo, close") + get("/2"),
      accept(echo("/1", ("connection", "foo, close")), end=End.CLOSED))
P.add("http10-closes", "RFC 9112 9.3", msg("GET /1 HTTP/1.0") + msg("GET /2 HTTP/1.0"),
      accept(Echo("GET", "/1", "1.0", ()), end=End.CLOSED),
      "HTTP/1.0 without keep-alive: close after the response")
P.add("http10-keep-alive", "RFC 9112 9.3",
      msg("GET /1 HTTP/1.0", "Connection: keep-alive") + msg("GET /2 HTTP/1.0"),
      accept(Echo("GET", "/1", "1.0", (("connection", "keep-alive"),)),
             Echo("GET", "/2", "1.0", ()), end=End.CLOSED)
      + accept(Echo("GET", "/1", "1.0", (("connection", "keep-alive"),)), end=End.CLOSED),
      "honouring HTTP/1.0 keep-alive is optional")
P.add("http11-persistent", "RFC 9112 9.3", get("/1", "Connection: keep-alive"),
      accept(echo("/1", ("connection", "keep-alive"))))
P.add("head-then-get", "RFC 9110 9.3.2", msg("HEAD /1 HTTP/1.1", "Host: a.example") + get("/2"),
      accept(Ok(), echo("/2")), "a HEAD response has no body, so the next one must parse",
      head_requests=(0,))
P.add("complete-then-partial", "RFC 9112 9.3.2", get("/1") + b"GET /2 HTTP/1.1\r\nHost: a",
      wait(before=(echo("/1"),)))

X = Group("expect")
EXPECT_HEAD = msg("POST /f HTTP/1.1", "Host: a.example", "Content-Length: 5",
                  "Expect: 100-continue")
X.add("100-continue-when-body-read", "RFC 9110 10.1.1", (EXPECT_HEAD, b"hello"),
      accept(Ok(echo("/f", ("content-length", "5"), ("expect", "100-continue"),
                     method="POST", body=b"hello"), interim=(100,))),
      "the echo app reads the body, so the server must ask for it", await_interim=True)
X.add("100-continue-body-sent-anyway", "RFC 9110 10.1.1", EXPECT_HEAD + b"hello",
      accept(echo("/f", ("content-length", "5"), ("expect", "100-continue"),
                  method="POST", body=b"hello")))
X.add("100-continue-case-insensitive", "RFC 9110 10.1.1",
      (msg("POST /f HTTP/1.1", "Host: a.example", "Content-Length: 5", "Expect: 100-Continue"),
       b"hello"),
      accept(Ok(echo("/f", ("content-length", "5"), ("expect", "100-Continue"),
                     method="POST", body=b"hello"), interim=(100,))),
      await_interim=True)
X.add("no-100-for-http10", "RFC 9110 10.1.1",
      msg("POST /f HTTP/1.0", "Content-Length: 5", "Expect: 100-continue", body=b"hello"),
      accept(Ok(Echo("POST", "/f", "1.0", (("content-length", "5"),
                                            ("expect", "100-continue")), b"hello"),
                interim=()), end=End.CLOSED),
      "a server MUST NOT send 100 Continue to an HTTP/1.0 client")
X.add("unknown-expectation", "RFC 9110 10.1.1", get("/", "Expect: something"),
      either(echo("/", ("expect", "something")), 417),
      "a server MAY answer 417 to an expectation it does not support")

LIMIT = 64 * 1024
M = Group("limits")
M.add("long-target-414", "RFC 9112 3", get("/" + "a" * (LIMIT + 100)), reject(414),
      "a request line over 64 KiB")
M.add("endless-request-line-414", "RFC 9112 3", b"GET /" + b"a" * (LIMIT + 100), reject(414),
      "no line terminator ever comes: answer, never wait forever")
M.add("long-header-431", "RFC 6585 5", get("/", "X: " + "v" * (LIMIT + 100)), reject(431))
M.add("endless-header-431", "RFC 6585 5",
      b"GET / HTTP/1.1\r\nHost: a.example\r\nX: " + b"v" * (LIMIT + 100), reject(431))
M.add("101-fields-431", "RFC 6585 5", get("/", *[f"X-{i}: {i}" for i in range(100)]),
      reject(431), "more than 100 header fields")
M.add("100-fields-accepted", "RFC 6585 5",
      get("/", *[f"X-{i}: {i}" for i in range(99)]),
      accept(echo("/", *[(f"x-{i}", str(i)) for i in range(99)])))
M.add("long-target-8k-accepted", "RFC 9112 3", get("/" + "a" * 8000),
      accept(echo("/" + "a" * 8000)), "RFC 9112 recommends supporting at least 8000 octets")

R = Group("error-responses")
FRAMED = (Outcome((Err((400,), framed=True),), End.CLOSED),)
R.add("framed-and-closing-bad-request", "RFC 9112 9.6", get("/", "X : y"), FRAMED,
      "an error response carries Content-Length and connection: close, then the server closes",
      policy=True)
R.add("framed-and-closing-bad-version", "RFC 9112 9.6", get(version="HTTP/1.1x"), FRAMED,
      policy=True)
R.add("framed-and-closing-bad-chunk", "RFC 9112 9.6",
      msg("POST /f HTTP/1.1", "Host: a.example", "Transfer-Encoding: chunked",
          body=b"z\r\n\r\n"), FRAMED, policy=True)
R.add("nothing-after-error", "RFC 9112 9.6", get("/", "X : y") + get("/2"), reject(400),
      "bytes after a rejected request are never parsed as a request")

N = Group("lenient-lf")
N.add("bare-lf-accepted", "RFC 9112 2.2", b"GET / HTTP/1.1\nHost: a.example\n\n",
      accept(echo()), "lenient-lf: a single LF may end the request line and field lines",
      lenient=True, policy=True)
N.add("mixed-endings-accepted", "RFC 9112 2.2", b"GET / HTTP/1.1\r\nHost: a.example\n\r\n",
      accept(echo()), lenient=True, policy=True)
N.add("bare-lf-pipelined", "RFC 9112 2.2",
      b"GET /1 HTTP/1.1\nHost: a.example\n\nGET /2 HTTP/1.1\nHost: a.example\n\n",
      accept(echo("/1"), echo("/2")), lenient=True, policy=True)
N.add("bare-cr-still-rejected", "RFC 9112 2.2", b"GET / HTTP/1.1\rHost: a.example\n\n",
      reject(400), lenient=True)
N.add("bare-lf-in-chunk-size-rejected", "RFC 9112 7.1",
      b"POST /f HTTP/1.1\nHost: a.example\nTransfer-Encoding: chunked\n\n5\nhello\r\n0\r\n\r\n",
      reject(400), "never lenient in chunked framing", lenient=True)
N.add("bare-lf-after-chunk-data-rejected", "RFC 9112 7.1",
      b"POST /f HTTP/1.1\nHost: a.example\nTransfer-Encoding: chunked\n\n5\r\nhello\n0\r\n\r\n",
      reject(400), lenient=True)
N.add("obs-fold-still-rejected", "RFC 9112 5.2", b"GET / HTTP/1.1\nHost: a.example\nX: a\n b\n\n",
      reject(400), lenient=True, policy=True)

CASES = P.cases + X.cases + M.cases + R.cases + N.cases

