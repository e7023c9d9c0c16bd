"""The request line: method, request-target forms, HTTP version (RFC 9112 §2-§3, RFC 9110 §2.5).

Every rejection must carry the status the server answers with, and must leave the connection in
ERROR: the engine never tries to find the next request after garbage.
"""

from __future__ import annotations

import pytest
from http11_driver import feed, one_request, rejects

from moreweb.http11 import ERROR, Limits, Request

HOST = b"\r\nHost: example.com\r\n\r\n"


def line(request_line: bytes) -> bytes:
    return request_line + HOST


def test_request_event_fields() -> None:
    # RFC 9112 §3: request-line = method SP request-target SP HTTP-version
    req = one_request(b"POST /a/b?c=d HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    assert req == Request(b"POST", b"/a/b?c=d", b"1.1",
                          [(b"host", b"x"), (b"content-length", b"0")])


# -- method (RFC 9110 §9.1: method = token, case-sensitive) --------------------------------

@pytest.mark.parametrize("method", [b"GET", b"get", b"PROPFIND", b"M-SEARCH", b"X!#$%&'*+.^_`|~1"])
def test_any_token_is_a_method_and_case_is_kept(method: bytes) -> None:
    assert one_request(line(method + b" / HTTP/1.1")).method == method


@pytest.mark.parametrize("method", [b"GE(T", b"G\"ET", b"GE/T", b"G\x00T", b"G\xc3\xa9T",
                                    b"GET:", b"G{T", b"G\tT"])
def test_method_that_is_not_a_token_is_400(method: bytes) -> None:
    assert rejects(line(method + b" / HTTP/1.1")).status_code == 400


def test_empty_method_is_400() -> None:
    assert rejects(line(b" / HTTP/1.1")).status_code == 400


# -- request-target (RFC 9112 §3.2) ---------------------------------------------------------

@pytest.mark.parametrize("target", [
    b"/", b"/path/to?q=1&r=%20x", b"/a;b,c=d@e:f!$&'()*+", b"/~user/-._",
    # Policy: characters browsers send raw in queries are tolerated.
    b"/q?a=|b", b"/q?a={b}", b"/q?a=^b", b"/q?a=`b`",
])
def test_origin_form_targets(target: bytes) -> None:
    assert one_request(line(b"GET " + target + b" HTTP/1.1")).target == target


@pytest.mark.parametrize("target", [b"/a\"b", b"/a<b", b"/a>b", b"/a#frag"])
def test_target_characters_no_uri_contains_are_400(target: bytes) -> None:
    # RFC 3986 §2: `"`, `<`, `>` never appear unescaped in a URI; `#` starts a fragment,
    # which RFC 9112 §3.2 leaves out of every request-target form.
    assert rejects(line(b"GET " + target + b" HTTP/1.1")).status_code == 400


@pytest.mark.parametrize("target", [b"/a b", b"/a\tb", b"/a\x00b", b"/a\x01b", b"/a\x7fb",
                                    b"/caf\xc3\xa9", b"/a\x80", b"/a\x0bb", b"/a\x0cb"])
def test_target_with_whitespace_ctl_or_non_ascii_is_400(target: bytes) -> None:
    # RFC 9112 §3.2: a request-target is a URI reference: visible ASCII only.
    assert rejects(line(b"GET " + target + b" HTTP/1.1")).status_code == 400


def test_absolute_form_is_accepted() -> None:
    # RFC 9112 §3.2.2: absolute-form, which a server MUST accept.
    target = b"http://example.com:8080/p?q"
    assert one_request(line(b"GET " + target + b" HTTP/1.1")).target == target


def test_asterisk_form_only_for_options() -> None:
    # RFC 9112 §3.2.4: asterisk-form is only used for a server-wide OPTIONS request.
    assert one_request(line(b"OPTIONS * HTTP/1.1")).target == b"*"
    assert rejects(line(b"GET * HTTP/1.1")).status_code == 400
    assert rejects(line(b"OPTIONS ** HTTP/1.1")).status_code == 400


def test_authority_form_only_for_connect() -> None:
    # RFC 9112 §3.2.3: authority-form is only used for CONNECT, and CONNECT only uses it.
    assert one_request(line(b"CONNECT example.com:443 HTTP/1.1")).target == b"example.com:443"
    assert one_request(line(b"CONNECT [::1]:443 HTTP/1.1")).target == b"[::1]:443"
    assert rejects(line(b"GET example.com:443 HTTP/1.1")).status_code == 400
    assert rejects(line(b"CONNECT / HTTP/1.1")).status_code == 400
    assert rejects(line(b"CONNECT example.com HTTP/1.1")).status_code == 400
    assert rejects(line(b"CONNECT http://example.com/ HTTP/1.1")).status_code == 400


@pytest.mark.parametrize("target", [b"example.com/a", b"a", b"?q", b"http:/x", b"://x", b"-"])
def test_target_in_no_known_form_is_400(target: bytes) -> None:
    # RFC 9112 §3.2: origin, absolute, authority or asterisk form; nothing else.
    assert rejects(line(b"GET " + target + b" HTTP/1.1")).status_code == 400


# -- request-line layout (RFC 9112 §3: exactly one SP between the parts) ----------------------

@pytest.mark.parametrize("request_line", [
    b"GET  / HTTP/1.1", b"GET /  HTTP/1.1", b"GET / HTTP/1.1 ", b" GET / HTTP/1.1",
    b"GET\t/\tHTTP/1.1", b"GET / HTTP/1.1\x00", b"GET /", b"GET", b"/ HTTP/1.1",
    b"GET / HTTP/1.1 extra",
])
def test_malformed_request_line_is_400(request_line: bytes) -> None:
    assert rejects(line(request_line)).status_code == 400


def test_http09_simple_request_is_rejected() -> None:
    # HTTP/0.9 "GET /" has no version: RFC 9112 §2.3 does not require support, and we don't.
    err = rejects(b"GET /\r\n\r\n")
    assert err.status_code == 400


# -- HTTP-version (RFC 9112 §2.3: HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive) ----

def test_http10_and_http11() -> None:
    assert one_request(b"GET / HTTP/1.0\r\n\r\n").http_version == b"1.0"
    assert one_request(line(b"GET / HTTP/1.1")).http_version == b"1.1"


def test_higher_minor_version_is_served_as_11() -> None:
    # RFC 9110 §2.5: a recipient treats a higher minor version as the highest it supports.
    assert one_request(line(b"GET / HTTP/1.2")).http_version == b"1.1"
    assert one_request(line(b"GET / HTTP/1.9")).http_version == b"1.1"


@pytest.mark.parametrize("version", [b"HTTP/2.0", b"HTTP/3.0", b"HTTP/0.9", b"HTTP/9.9"])
def test_other_major_versions_are_505(version: bytes) -> None:
    # RFC 9110 §15.6.6: 505 HTTP Version Not Supported.
    assert rejects(line(b"GET / " + version)).status_code == 505


@pytest.mark.parametrize("version", [
    b"http/1.1", b"HTTP/1", b"HTTP/1.", b"HTTP/11", b"HTTP/1.10", b"HTTP/01.1", b"HTTP/1.1.1",
    b"HTTP / 1.1", b"HTTP/ 1.1", b"HTTP/1 .1", b"HTTP/a.b", b"HTTP/1,1", b"HTTPS/1.1",
    b"HTTP/\xd9\xa1.1",  # an Arabic-Indic digit is not DIGIT
])
def test_version_not_exactly_http_digit_dot_digit_is_400(version: bytes) -> None:
    assert rejects(line(b"GET / " + version)).status_code == 400


# -- line terminators (RFC 9112 §2.2) -----------------------------------------------------------

def test_leading_empty_lines_are_skipped() -> None:
    # RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request-line.
    assert one_request(b"\r\n" + line(b"GET / HTTP/1.1")).target == b"/"
    assert one_request(b"\r\n\r\n\r\n" + line(b"GET / HTTP/1.1")).target == b"/"


def test_leading_bare_lf_is_rejected_in_strict_mode() -> None:
    assert rejects(b"\n" + line(b"GET / HTTP/1.1")).status_code == 400


def test_bare_lf_after_request_line_is_400() -> None:
    # RFC 9112 §2.2: bare LF MAY be accepted; strict by default (smuggling via LF/CRLF splits).
    assert rejects(b"GET / HTTP/1.1\nHost: a\r\n\r\n").status_code == 400


@pytest.mark.parametrize("head", [
    b"GET / HTTP/1.1\r\r\nHost: a\r\n\r\n",
    b"GET /\r HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET\r/ HTTP/1.1\r\nHost: a\r\n\r\n",
    b"\rGET / HTTP/1.1\r\nHost: a\r\n\r\n",
])
def test_bare_cr_in_request_line_is_400(head: bytes) -> None:
    # RFC 9112 §2.2: a bare CR MUST be treated as invalid (or replaced by SP; we reject).
    assert rejects(head).status_code == 400


def test_error_puts_connection_in_error_state_and_it_never_resynchronises() -> None:
    # After garbage, the bytes that follow are not trusted to start a request (RFC 9112 §2.2:
    # the server responds with 400 and closes).
    out = feed(b"BAD\x00LINE / HTTP/1.1\r\n\r\n" + line(b"GET / HTTP/1.1"))
    assert out.error is not None and out.requests == []
    assert out.conn is not None and out.conn.their_state is ERROR
    with pytest.raises(Exception, match="ERROR"):
        out.conn.next_event()


def test_errors_carry_a_short_reason() -> None:
    err = rejects(line(b"GET / HTTP/2.0"))
    assert err.status_code == 505 and err.reason and len(err.reason) < 100
    assert str(err) == err.reason


def test_reason_does_not_echo_peer_bytes() -> None:
    err = rejects(line(b"GET /<script>alert(1)</script> HTTP/1.1"))
    assert b"script" not in err.reason.encode()


def test_request_line_split_across_receives() -> None:
    data = line(b"GET /x HTTP/1.1")
    out = feed([data[:3], data[3:9], data[9:]], Limits())
    assert out.error is None and out.requests[0].target == b"/x"
