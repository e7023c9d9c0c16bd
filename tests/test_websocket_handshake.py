"""The server's opening handshake (RFC 6455 4.2) as pure functions over parsed headers."""

from __future__ import annotations

import pytest

from moreweb.websocket import (
    DeflateOptions,
    HandshakeError,
    HandshakeRequest,
    LocalProtocolError,
    accept,
    accept_key,
    build_response_headers,
    is_websocket_upgrade,
    parse_subprotocols,
    validate_request,
)

Headers = list[tuple[bytes, bytes]]

SAMPLE_KEY = b"dGhlIHNhbXBsZSBub25jZQ=="


def good_headers(**replace: bytes | None) -> Headers:
    """A valid client handshake's headers (RFC 6455 1.2), with some replaced or removed."""
    headers = {
        b"host": b"server.example.com",
        b"upgrade": b"websocket",
        b"connection": b"Upgrade",
        b"sec-websocket-key": SAMPLE_KEY,
        b"sec-websocket-version": b"13",
    }
    for name, value in replace.items():
        key = name.replace("_", "-").encode()
        if value is None:
            headers.pop(key, None)
        else:
            headers[key] = value
    return list(headers.items())


def refused(headers: Headers, method: bytes = b"GET", version: bytes = b"1.1") -> HandshakeError:
    with pytest.raises(HandshakeError) as info:
        validate_request(method, version, headers)
    return info.value


def test_accept_key_of_the_rfc_example() -> None:
    # RFC 6455 1.3 / 4.2.2: the sample nonce and its accept value.
    assert accept_key(SAMPLE_KEY) == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_valid_request() -> None:
    request = validate_request(b"GET", b"1.1", good_headers())
    assert request == HandshakeRequest(key=SAMPLE_KEY, subprotocols=[], extensions=[])


def test_tokens_are_case_insensitive_and_listed() -> None:
    # RFC 6455 4.2.1 items 3-4: Upgrade contains "websocket", Connection contains "Upgrade",
    # both compared case-insensitively, among other tokens.
    headers = good_headers(upgrade=b"WebSocket", connection=b"keep-alive, UPGRADE")
    assert validate_request(b"GET", b"1.1", headers).key == SAMPLE_KEY
    headers = [
        *good_headers(connection=None),
        (b"connection", b"keep-alive"),
        (b"connection", b"upgrade"),
    ]
    assert validate_request(b"GET", b"1.1", headers).key == SAMPLE_KEY


def test_later_http_versions_are_fine() -> None:
    assert validate_request(b"GET", b"1.2", good_headers()).key == SAMPLE_KEY


@pytest.mark.parametrize("method", [b"POST", b"HEAD", b"get"])
def test_method_must_be_get(method: bytes) -> None:
    # RFC 6455 4.2.1 item 1.
    assert refused(good_headers(), method=method).status_code == 400


@pytest.mark.parametrize("version", [b"1.0", b"0.9", b"x"])
def test_http_version_must_be_1_1_or_later(version: bytes) -> None:
    # RFC 6455 4.2.1 item 1.
    assert refused(good_headers(), version=version).status_code == 400


@pytest.mark.parametrize(
    "headers",
    [
        good_headers(upgrade=None),
        good_headers(upgrade=b"h2c"),
        good_headers(upgrade=b"websockets"),
        good_headers(connection=None),
        good_headers(connection=b"keep-alive"),
        good_headers(sec_websocket_key=None),
        good_headers(sec_websocket_key=b"not base64!"),
        good_headers(sec_websocket_key=b"dGhlIHNhbXBsZSBub25j"),  # 14 bytes
        good_headers(sec_websocket_key=b"dGhlIHNhbXBsZSBub25jZQ"),  # missing padding
        [*good_headers(), (b"sec-websocket-key", SAMPLE_KEY)],
    ],
)
def test_bad_handshakes_get_400_with_a_reason(headers: Headers) -> None:
    # RFC 6455 4.2.1 items 3-5; 4.2.2: otherwise answer with an HTTP error (400).
    error = refused(headers)
    assert error.status_code == 400
    assert error.reason
    assert error.headers == []


@pytest.mark.parametrize(
    "headers",
    [
        good_headers(sec_websocket_version=b"8"),
        good_headers(sec_websocket_version=b"13, 8"),
        good_headers(sec_websocket_version=None),
        [*good_headers(), (b"sec-websocket-version", b"13")],
    ],
)
def test_other_versions_get_426_naming_13(headers: Headers) -> None:
    # RFC 6455 4.2.2 item 4: 426 Upgrade Required with the versions we understand.
    error = refused(headers)
    assert error.status_code == 426
    assert error.headers == [(b"sec-websocket-version", b"13")]


def test_key_whitespace_is_trimmed() -> None:
    headers = good_headers(sec_websocket_key=b" " + SAMPLE_KEY + b" ")
    assert validate_request(b"GET", b"1.1", headers).key == SAMPLE_KEY


def test_subprotocols_in_order_across_lines() -> None:
    # RFC 6455 4.1 item 10 / 11.3.4: a comma-separated list, in order of preference.
    headers = [
        *good_headers(),
        (b"sec-websocket-protocol", b"chat, superchat"),
        (b"sec-websocket-protocol", b" v2.json ,,"),
    ]
    assert parse_subprotocols(headers) == ["chat", "superchat", "v2.json"]
    assert validate_request(b"GET", b"1.1", headers).subprotocols == [
        "chat",
        "superchat",
        "v2.json",
    ]


def test_extensions_are_kept_raw_for_negotiation() -> None:
    headers = [
        *good_headers(),
        (b"sec-websocket-extensions", b"permessage-deflate; client_max_window_bits"),
        (b"sec-websocket-extensions", b"foo"),
    ]
    assert validate_request(b"GET", b"1.1", headers).extensions == [
        b"permessage-deflate; client_max_window_bits",
        b"foo",
    ]


def test_is_websocket_upgrade() -> None:
    assert is_websocket_upgrade(good_headers())
    assert is_websocket_upgrade([(b"upgrade", b"foo, WebSocket")])
    assert not is_websocket_upgrade([(b"upgrade", b"h2c")])
    assert not is_websocket_upgrade([(b"host", b"x")])


# -- the 101 response ---------------------------------------------------------------------------


def request_with(*protocols: str) -> HandshakeRequest:
    return HandshakeRequest(key=SAMPLE_KEY, subprotocols=list(protocols), extensions=[])


def test_response_headers() -> None:
    # RFC 6455 4.2.2 item 5.
    assert build_response_headers(request_with()) == [
        (b"upgrade", b"websocket"),
        (b"connection", b"Upgrade"),
        (b"sec-websocket-accept", b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
    ]


def test_response_with_subprotocol_extension_and_extra_headers() -> None:
    headers = build_response_headers(
        request_with("chat", "superchat"),
        "superchat",
        b"permessage-deflate",
        [(b"X-Server", b"moreweb"), (b"set-cookie", b"a=b")],
    )
    assert headers[3:] == [
        (b"sec-websocket-protocol", b"superchat"),
        (b"sec-websocket-extensions", b"permessage-deflate"),
        (b"x-server", b"moreweb"),
        (b"set-cookie", b"a=b"),
    ]


def test_subprotocol_must_be_one_the_client_offered() -> None:
    # RFC 6455 4.2.2 item 5.4 (/subprotocol/): one of the client's values.
    with pytest.raises(LocalProtocolError):
        build_response_headers(request_with("chat"), "other")
    with pytest.raises(LocalProtocolError):
        build_response_headers(request_with(), "chat")


@pytest.mark.parametrize(
    "name",
    [
        b"Sec-WebSocket-Protocol",
        b"sec-websocket-accept",
        b"upgrade",
        b"connection",
        b"sec-websocket-extensions",
    ],
)
def test_extra_headers_cannot_override_the_handshake(name: bytes) -> None:
    # ASGI: subprotocols go through `subprotocol`, never through headers.
    with pytest.raises(LocalProtocolError):
        build_response_headers(request_with("chat"), None, None, [(name, b"x")])


def test_accept_negotiates_deflate_only_when_enabled() -> None:
    request = HandshakeRequest(
        key=SAMPLE_KEY,
        subprotocols=[],
        extensions=[b"permessage-deflate; client_max_window_bits"],
    )
    headers, codec = accept(request)
    assert codec is None
    assert all(name != b"sec-websocket-extensions" for name, _ in headers)

    headers, codec = accept(request, deflate=DeflateOptions(client_max_window_bits=10))
    assert codec is not None
    assert (b"sec-websocket-extensions", b"permessage-deflate; client_max_window_bits=10") in (
        headers
    )


def test_accept_without_acceptable_offer_runs_uncompressed() -> None:
    request = HandshakeRequest(key=SAMPLE_KEY, subprotocols=[], extensions=[b"foo"])
    headers, codec = accept(request, deflate=DeflateOptions())
    assert codec is None
    assert len(headers) == 3
