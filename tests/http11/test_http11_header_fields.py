"""The header section: field-line grammar and the Host rules (RFC 9112 §5, RFC 9110 §5, §7.2).

A field the engine lets through reaches the application and every proxy behind it, so each
grammar rule here is also a defence against header injection and request smuggling.
"""

from __future__ import annotations

import pytest
from http11_driver import one_request, rejects

START = b"GET / HTTP/1.1\r\nHost: example.com\r\n"


def with_fields(*lines: bytes) -> bytes:
    return START + b"".join(ln + b"\r\n" for ln in lines) + b"\r\n"


def test_names_are_lowercased_order_and_duplicates_kept() -> None:
    req = one_request(with_fields(b"X-B: 1", b"x-a: 2", b"X-B: 3", b"Set-Thing: a, b"))
    assert req.headers == [(b"host", b"example.com"), (b"x-b", b"1"), (b"x-a", b"2"),
                           (b"x-b", b"3"), (b"set-thing", b"a, b")]


def test_values_keep_their_case_and_inner_whitespace() -> None:
    req = one_request(with_fields(b"X-A: Mixed\tCase  Value"))
    assert req.headers[-1] == (b"x-a", b"Mixed\tCase  Value")


@pytest.mark.parametrize("raw", [b"X-A:v", b"X-A: v", b"X-A:  v  ", b"X-A:\tv\t", b"X-A: \t v"])
def test_optional_whitespace_around_value_is_stripped(raw: bytes) -> None:
    # RFC 9112 §5: field-line = field-name ":" OWS field-value OWS
    assert one_request(with_fields(raw)).headers[-1] == (b"x-a", b"v")


@pytest.mark.parametrize("raw", [b"X-A:", b"X-A: ", b"X-A:\t \t"])
def test_empty_value_is_allowed(raw: bytes) -> None:
    # RFC 9110 §5.5: field-value = *field-content (may be empty)
    assert one_request(with_fields(raw)).headers[-1] == (b"x-a", b"")


def test_obs_text_in_value_is_kept() -> None:
    # RFC 9110 §5.5: obs-text (0x80-0xFF) is allowed in field values, passed through opaque.
    assert one_request(with_fields(b"X-A: caf\xc3\xa9 \xff")).headers[-1] == (
        b"x-a", b"caf\xc3\xa9 \xff")


def test_token_characters_in_names() -> None:
    name = b"!#$%&'*+-.^_`|~09AZaz"
    assert one_request(with_fields(name + b": v")).headers[-1] == (name.lower(), b"v")


def test_colon_in_value_is_fine() -> None:
    assert one_request(with_fields(b"X-A: b: c::d")).headers[-1] == (b"x-a", b"b: c::d")


@pytest.mark.parametrize("raw", [b"X-A : v", b"X-A\t: v", b"Host : evil"])
def test_whitespace_between_name_and_colon_is_400(raw: bytes) -> None:
    # RFC 9112 §5.1: a server MUST reject with 400 any field line with whitespace before the
    # colon (proxies disagree on what name it has).
    assert rejects(with_fields(raw)).status_code == 400


@pytest.mark.parametrize("lines", [
    (b"X-A: v", b" folded"),
    (b"X-A: v", b"\tfolded"),
    (b"X-A: v", b"  "),
])
def test_obs_fold_is_400(lines: tuple[bytes, ...]) -> None:
    # RFC 9112 §5.2: a server MUST reject obs-fold with 400 or replace it; we reject.
    assert rejects(with_fields(*lines)).status_code == 400


def test_whitespace_before_first_field_line_is_400() -> None:
    # RFC 9112 §2.2: whitespace between the start-line and the first field line MUST be
    # rejected (or that line ignored); it would hide a field from some parsers.
    assert rejects(b"GET / HTTP/1.1\r\n Host: example.com\r\n\r\n").status_code == 400
    assert rejects(b"GET / HTTP/1.1\r\n\tHost: example.com\r\n\r\n").status_code == 400


@pytest.mark.parametrize("raw", [b": v", b":", b"No colon here", b"X-A", b" : v"])
def test_empty_name_or_line_without_colon_is_400(raw: bytes) -> None:
    assert rejects(with_fields(raw)).status_code == 400


@pytest.mark.parametrize("name", [b"X A", b"X\"A", b"X(A)", b"X/A", b"X[A]", b"X@A", b"X=A",
                                  b"X{A}", b"X\\A", b"X,A", b"X;A", b"X?A", b"X\x00A",
                                  b"X\x7fA", b"X\xc3\xa9A", b"X\x01A"])
def test_name_outside_token_set_is_400(name: bytes) -> None:
    # RFC 9110 §5.1: field-name = token
    assert rejects(with_fields(name + b": v")).status_code == 400


@pytest.mark.parametrize("value", [b"a\x00b", b"a\x01b", b"a\x08b", b"a\x0bb", b"a\x0cb",
                                   b"a\x1fb", b"a\x7fb", b"\x00", b"a\rb"])
def test_ctl_in_value_is_400(value: bytes) -> None:
    # RFC 9110 §5.5: field-content excludes CTLs other than HTAB; NUL, CR and LF MUST be
    # rejected (or replaced with SP; we reject).
    assert rejects(with_fields(b"X-A: " + value)).status_code == 400


def test_bare_lf_inside_header_section_is_400() -> None:
    # RFC 9112 §2.2: strict mode accepts only CRLF.
    assert rejects(START + b"X-A: v\nX-B: w\r\n\r\n").status_code == 400
    assert rejects(START + b"X-A: v\n\r\n").status_code == 400


def test_bare_cr_inside_header_section_is_400() -> None:
    # RFC 9112 §2.2: a bare CR MUST be treated as invalid or replaced with SP.
    assert rejects(START + b"X-A: v\rX-B: w\r\n\r\n").status_code == 400
    assert rejects(START + b"X-A: v\r\r\n\r\n").status_code == 400
    assert rejects(START + b"\rX-A: v\r\n\r\n").status_code == 400


def test_header_injection_through_bare_cr_does_not_reach_the_app() -> None:
    # A naive CR-as-terminator parser would see a second Host here.
    assert rejects(b"GET / HTTP/1.1\r\nX: a\rHost: evil\r\nHost: good\r\n\r\n").status_code == 400


# -- Host (RFC 9112 §3.2, RFC 9110 §7.2) ------------------------------------------------------

def test_http11_without_host_is_400() -> None:
    # RFC 9112 §3.2: a server MUST respond 400 to an HTTP/1.1 request without Host.
    assert rejects(b"GET / HTTP/1.1\r\n\r\n").status_code == 400


def test_http11_with_two_hosts_is_400() -> None:
    # RFC 9112 §3.2: ... or with more than one Host header field line.
    head = b"GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n"
    assert rejects(head).status_code == 400
    same = b"GET / HTTP/1.1\r\nHost: a.example\r\nHost: a.example\r\n\r\n"
    assert rejects(same).status_code == 400


def test_host_list_value_is_400() -> None:
    assert rejects(b"GET / HTTP/1.1\r\nHost: a.example, b.example\r\n\r\n").status_code == 400


@pytest.mark.parametrize("host", [b"example.com", b"example.com:8080", b"127.0.0.1",
                                  b"[::1]", b"[::1]:80", b"", b"xn--caf-dma.example",
                                  b"a_b.example", b"localhost:"])
def test_valid_hosts(host: bytes) -> None:
    req = one_request(b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
    assert req.headers == [(b"host", host)]


@pytest.mark.parametrize("host", [b"exa mple.com", b"example.com:80:80", b"example.com:http",
                                  b"a/b", b"a@b?c", b"[::1", b"a\"b", b"caf\xc3\xa9.example",
                                  b"a#b"])
def test_invalid_host_is_400(host: bytes) -> None:
    # RFC 9110 §7.2: Host = uri-host [ ":" port ]; RFC 9112 §3.2: invalid Host -> 400.
    assert rejects(b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n\r\n").status_code == 400


def test_http10_does_not_need_host() -> None:
    assert one_request(b"GET / HTTP/1.0\r\n\r\n").headers == []
    assert one_request(b"GET / HTTP/1.0\r\nHost: a\r\n\r\n").headers == [(b"host", b"a")]


def test_http10_with_two_hosts_is_400() -> None:
    # RFC 9112 §3.2: 400 for *any* request with more than one Host field line.
    assert rejects(b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n").status_code == 400


def test_http10_with_invalid_host_is_400() -> None:
    # RFC 9112 §3.2: ... or a Host header field with an invalid field value.
    assert rejects(b"GET / HTTP/1.0\r\nHost: a b\r\n\r\n").status_code == 400


def test_host_is_case_insensitive_name() -> None:
    assert one_request(b"GET / HTTP/1.1\r\nHOST: a\r\n\r\n").headers == [(b"host", b"a")]
    assert rejects(b"GET / HTTP/1.1\r\nHOST: a\r\nhost: a\r\n\r\n").status_code == 400
