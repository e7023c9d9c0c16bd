"""Cases for message framing: Content-Length, Transfer-Encoding and chunked coding.

These decide where one request ends and the next begins, so any ambiguity here is request
smuggling (RFC 9112 section 11.2): two parties that disagree about a body's length disagree
about which bytes are the next request. Every case that two parsers could read two ways is
rejected; everything the grammar allows must be accepted with exactly the right body.
"""

from __future__ import annotations

from conformance.cases._build import Group, echo, get, msg
from conformance.model import Echo, accept, either, reject, wait

CHUNKED = "Transfer-Encoding: chunked"


def post(*fields: str, body: bytes = b"", version: str = "HTTP/1.1") -> bytes:
    return msg(f"POST /f {version}", "Host: a.example", *fields, body=body)


def posted(*headers: tuple[str, str], body: bytes = b"",
           trailers: tuple[tuple[str, str], ...] | None = None) -> Echo:
    return echo("/f", *headers, method="POST", body=body, trailers=trailers)


def chunked(body: bytes) -> bytes:
    return post(CHUNKED, body=body)


CHUNKED_ECHO = ("transfer-encoding", "chunked")

C = Group("content-length")
C.add("basic", "RFC 9112 6.2", post("Content-Length: 5", body=b"hello"),
      accept(posted(("content-length", "5"), body=b"hello")))
C.add("zero", "RFC 9112 6.2", post("Content-Length: 0"),
      accept(posted(("content-length", "0"))))
C.add("leading-zeros", "RFC 9110 8.6", post("Content-Length: 005", body=b"hello"),
      accept(posted(("content-length", "005"), body=b"hello")), "the value is decimal 5")
C.add("ows-around-value", "RFC 9112 5.1", post("Content-Length:  5 ", body=b"hello"),
      accept(posted(("content-length", "5"), body=b"hello")))
C.add("plus-sign", "RFC 9110 8.6", post("Content-Length: +5", body=b"hello"), reject(400))
C.add("minus-sign", "RFC 9110 8.6", post("Content-Length: -5", body=b"hello"), reject(400))
C.add("hex", "RFC 9110 8.6", post("Content-Length: 0x5", body=b"hello"), reject(400))
C.add("inner-space", "RFC 9110 8.6", post("Content-Length: 5 5", body=b"hello"), reject(400))
C.add("decimal-point", "RFC 9110 8.6", post("Content-Length: 5.0", body=b"hello"), reject(400))
C.add("empty", "RFC 9110 8.6", post("Content-Length:", body=b"hello"), reject(400))
C.add("letters", "RFC 9110 8.6", post("Content-Length: five", body=b"hello"), reject(400))
C.add("overflow-20-digits", "RFC 9112 6.3", post("Content-Length: 99999999999999999999",
                                                  body=b"hello"), reject(400),
      "a length that cannot be represented MUST be treated as invalid")
C.add("overflow-19-digits", "RFC 9112 6.3", post("Content-Length: 1000000000000000000",
                                                  body=b"hello"), reject(400))
C.add("duplicate-lines-same", "RFC 9112 6.3",
      post("Content-Length: 5", "Content-Length: 5", body=b"hello"),
      either(Echo("POST", "/f", body=b"hello"), 400),
      "identical duplicates MAY be accepted (moreweb does); headers are not compared since a"
      " server may fold the duplicates into one")
C.add("list-same", "RFC 9112 6.3", post("Content-Length: 5, 5", body=b"hello"),
      either(Echo("POST", "/f", body=b"hello"), 400))
C.add("duplicate-lines-different", "RFC 9112 6.3",
      post("Content-Length: 5", "Content-Length: 6", body=b"hello!"), reject(400),
      "differing lengths MUST be treated as unrecoverable")
C.add("list-different", "RFC 9112 6.3", post("Content-Length: 5, 6", body=b"hello!"),
      reject(400))
C.add("body-incomplete-waits", "RFC 9112 6.2", post("Content-Length: 10", body=b"hello"), wait())
C.add("body-then-next-request", "RFC 9112 6.3",
      post("Content-Length: 5", body=b"hello") + get("/next"),
      accept(posted(("content-length", "5"), body=b"hello"), echo("/next")))
C.add("get-with-body", "RFC 9110 9.3.1", msg("GET / HTTP/1.1", "Host: a.example",
                                             "Content-Length: 3", body=b"abc"),
      accept(echo("/", ("content-length", "3"), body=b"abc")))
C.add("no-length-means-empty-body", "RFC 9112 6.3", post() + get("/next"),
      accept(posted(), echo("/next")), "a request is never read until close")

T = Group("transfer-encoding")
T.add("chunked", "RFC 9112 6.1", chunked(b"5\r\nhello\r\n0\r\n\r\n"),
      accept(posted(CHUNKED_ECHO, body=b"hello")))
T.add("chunked-case-insensitive", "RFC 9112 7", post("Transfer-Encoding: Chunked",
                                                     body=b"5\r\nhello\r\n0\r\n\r\n"),
      accept(Echo("POST", "/f", body=b"hello")))
T.add("cl-and-te", "RFC 9112 6.1", post("Content-Length: 5", CHUNKED,
                                        body=b"5\r\nhello\r\n0\r\n\r\n"), reject(400),
      "RFC allows ignoring Content-Length and closing afterwards; moreweb rejects",
      policy=True)
T.add("te-and-cl", "RFC 9112 6.1", post(CHUNKED, "Content-Length: 5",
                                        body=b"5\r\nhello\r\n0\r\n\r\n"), reject(400),
      policy=True)
T.add("chunked-not-last", "RFC 9112 6.3", post("Transfer-Encoding: chunked, gzip",
                                               body=b"5\r\nhello\r\n0\r\n\r\n"), reject(400),
      "chunked not final: the server MUST answer 400 and close")
T.add("unknown-then-chunked", "RFC 9112 6.1", post("Transfer-Encoding: gzip, chunked",
                                                   body=b"5\r\nhello\r\n0\r\n\r\n"),
      reject(501), "a coding the server does not understand SHOULD get 501")
T.add("unknown-only", "RFC 9112 6.3", post("Transfer-Encoding: gzip", body=b"hello"),
      reject(400, 501))
T.add("identity", "RFC 9112 6.3", post("Transfer-Encoding: identity", body=b"hello"),
      reject(400, 501), "identity is no longer a transfer coding")
T.add("xchunked", "RFC 9112 6.3", post("Transfer-Encoding: xchunked", body=b"hello"),
      reject(400, 501))
T.add("chunked-twice-list", "RFC 9112 7", post("Transfer-Encoding: chunked, chunked",
                                               body=b"5\r\nhello\r\n0\r\n\r\n"), reject(400),
      "a sender MUST NOT apply chunked more than once")
T.add("chunked-twice-lines", "RFC 9112 7", post(CHUNKED, CHUNKED,
                                                body=b"5\r\nhello\r\n0\r\n\r\n"), reject(400))
T.add("split-lines-unknown-then-chunked", "RFC 9112 6.1",
      post("Transfer-Encoding: gzip", CHUNKED, body=b"5\r\nhello\r\n0\r\n\r\n"), reject(501))
T.add("empty-value", "RFC 9112 6.1", post("Transfer-Encoding:", body=b"hello"), reject(400))
T.add("http10-with-te", "RFC 9112 6.1", post(CHUNKED, body=b"5\r\nhello\r\n0\r\n\r\n",
                                             version="HTTP/1.0"), reject(400),
      "an HTTP/1.0 message with Transfer-Encoding MUST be treated as faulty framing")
T.add("te-space-before-colon", "RFC 9112 5.1", post("Transfer-Encoding : chunked",
                                                    body=b"5\r\nhello\r\n0\r\n\r\n"),
      reject(400))
T.add("te-obs-fold", "RFC 9112 5.2", post("Transfer-Encoding:", " chunked",
                                          body=b"5\r\nhello\r\n0\r\n\r\n"), reject(400),
      policy=True)

K = Group("chunked")
K.add("several-chunks", "RFC 9112 7.1", chunked(b"3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n"),
      accept(posted(CHUNKED_ECHO, body=b"hello")))
K.add("uppercase-hex", "RFC 9112 7.1", chunked(b"A\r\n0123456789\r\n0\r\n\r\n"),
      accept(posted(CHUNKED_ECHO, body=b"0123456789")))
K.add("size-leading-zeros", "RFC 9112 7.1", chunked(b"0005\r\nhello\r\n000\r\n\r\n"),
      accept(posted(CHUNKED_ECHO, body=b"hello")))
K.add("size-0x-prefix", "RFC 9112 7.1", chunked(b"0x5\r\nhello\r\n0\r\n\r\n"), reject(400))
K.add("size-plus-sign", "RFC 9112 7.1", chunked(b"+5\r\nhello\r\n0\r\n\r\n"), reject(400))
K.add("size-minus-sign", "RFC 9112 7.1", chunked(b"-5\r\nhello\r\n0\r\n\r\n"), reject(400))
K.add("size-underscore", "RFC 9112 7.1", chunked(b"1_0\r\n0123456789abcdef\r\n0\r\n\r\n"),
      reject(400))
K.add("size-leading-space", "RFC 9112 7.1", chunked(b" 5\r\nhello\r\n0\r\n\r\n"), reject(400))
K.add("size-empty", "RFC 9112 7.1", chunked(b"\r\nhello\r\n0\r\n\r\n"), reject(400))
K.add("size-not-hex", "RFC 9112 7.1", chunked(b"g\r\nhello\r\n0\r\n\r\n"), reject(400))
K.add("size-overflow-17-digits", "RFC 9112 7.1",
      chunked(b"10000000000000000\r\nhello\r\n0\r\n\r\n"), reject(400),
      "a size that overflows MUST be rejected, never wrapped")
K.add("size-overflow-absurd", "RFC 9112 7.1",
      chunked(b"ffffffffffffffffffffffffffffffff\r\nhello\r\n0\r\n\r\n"), reject(400))
K.add("extension-name", "RFC 9112 7.1.1", chunked(b"5;foo\r\nhello\r\n0\r\n\r\n"),
      accept(posted(CHUNKED_ECHO, body=b"hello")))
K.add("extension-token-value", "RFC 9112 7.1.1",
      chunked(b"5;foo=bar;baz\r\nhello\r\n0;end=1\r\n\r\n"),
      accept(posted(CHUNKED_ECHO, body=b"hello")))
K.add("extension-quoted-value", "RFC 9112 7.1.1",
      chunked(b'5;foo="b a;r\\"q"\r\nhello\r\n0\r\n\r\n'),
      accept(posted(CHUNKED_ECHO, body=b"hello")))
K.add("extension-bws", "RFC 9112 7.1.1", chunked(b"5 ; foo = bar\r\nhello\r\n0\r\n\r\n"),
      accept(posted(CHUNKED_ECHO, body=b"hello")),
      "BWS around ';' and '=' is in the grammar and recipients MUST accept it")
K.add("extension-empty", "RFC 9112 7.1.1", chunked(b"5;\r\nhello\r\n0\r\n\r\n"), reject(400))
K.add("extension-no-name", "RFC 9112 7.1.1", chunked(b"5;=x\r\nhello\r\n0\r\n\r\n"),
      reject(400))
K.add("extension-bare-cr", "RFC 9112 7.1.1", chunked(b"5;a\rb\r\nhello\r\n0\r\n\r\n"),
      reject(400))
K.add("extension-unterminated-quote", "RFC 9112 7.1.1",
      chunked(b'5;a="x\r\nhello\r\n0\r\n\r\n'), reject(400))
K.add("data-longer-than-size", "RFC 9112 7.1", chunked(b"5\r\nhelloXX\r\n0\r\n\r\n"),
      reject(400), "chunk data MUST be followed by CRLF")
K.add("data-without-crlf", "RFC 9112 7.1", chunked(b"5\r\nhello0\r\n\r\n"), reject(400))
K.add("data-followed-by-lf", "RFC 9112 7.1", chunked(b"5\r\nhello\n0\r\n\r\n"), reject(400))
K.add("size-line-bare-lf", "RFC 9112 7.1", chunked(b"5\nhello\r\n0\r\n\r\n"), reject(400))
K.add("size-line-bare-cr", "RFC 9112 7.1", chunked(b"5\rhello\r\n0\r\n\r\n"), reject(400))
K.add("last-chunk-bare-lf", "RFC 9112 7.1", chunked(b"5\r\nhello\r\n0\n\r\n"), reject(400))
K.add("final-crlf-bare-lf", "RFC 9112 7.1", chunked(b"5\r\nhello\r\n0\r\n\n"), reject(400))
K.add("trailer-field", "RFC 9112 7.1.2", chunked(b"5\r\nhello\r\n0\r\nX-Sum: 1\r\n\r\n"),
      accept(posted(CHUNKED_ECHO, body=b"hello", trailers=(("x-sum", "1"),))))
K.add("trailer-missing-colon", "RFC 9112 7.1.2",
      chunked(b"5\r\nhello\r\n0\r\nnot a field\r\n\r\n"), reject(400))
K.add("trailer-request-line", "RFC 9112 7.1.2",
      chunked(b"5\r\nhello\r\n0\r\nGET /smuggled HTTP/1.1\r\n\r\n"), reject(400),
      "a request line where a trailer belongs must not start a new request")
K.add("trailer-space-before-colon", "RFC 9112 7.1.2",
      chunked(b"5\r\nhello\r\n0\r\nX : 1\r\n\r\n"), reject(400))
K.add("trailer-obs-fold", "RFC 9112 7.1.2", chunked(b"5\r\nhello\r\n0\r\nX: 1\r\n 2\r\n\r\n"),
      reject(400), policy=True)
K.add("missing-last-chunk-waits", "RFC 9112 7.1", chunked(b"5\r\nhello\r\n"), wait())
K.add("missing-final-crlf-waits", "RFC 9112 7.1", chunked(b"5\r\nhello\r\n0\r\n"), wait())
K.add("then-next-request", "RFC 9112 7.1",
      chunked(b"5\r\nhello\r\n0\r\n\r\n") + get("/next"),
      accept(posted(CHUNKED_ECHO, body=b"hello"), echo("/next")))
K.add("zero-size-only", "RFC 9112 7.1", chunked(b"0\r\n\r\n"), accept(posted(CHUNKED_ECHO)))
K.add("large-chunk", "RFC 9112 7.1", chunked(b"10000\r\n" + b"x" * 65536 + b"\r\n0\r\n\r\n"),
      accept(posted(CHUNKED_ECHO, body=b"x" * 65536)))

CASES = C.cases + T.cases + K.cases

