"""Replay of the And-HTTP request corpus (../shared/corpora/and_suite) at engine level.

Each file is replayed twice: as-is (bare LF) with `lenient_lf`, and converted to CRLF (as
Mongrel2's own run did with `nc -C`) in strict mode. Files are fed as a client would send them
(pipelined, answered request by request), and each request is also fed alone, so that the
summary classifies every request rather than stopping at a file's first error.

Invariants: no exception other than the engine's own protocol error on any input; every
rejection carries a status the engine is allowed to answer with; feeding in small pieces gives
the same result as feeding whole; both modes agree (the corpus has no chunked body that LF would
break). A few files are anchors whose verdict is checked against the RFC by hand.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from http11_driver import SUMMARY_KEY, Outcome, feed

from moreweb.http11 import ConnectionClosed, Limits

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpora" / "and_suite"
pytestmark = pytest.mark.skipif(
    not CORPUS.is_dir(),
    reason=f"And-HTTP corpus not found at {CORPUS} (../shared is absent in this checkout)")

ALLOWED_STATUSES = {400, 414, 431, 501, 505}


def to_crlf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


@dataclass(frozen=True)
class Mode:
    name: str
    limits: Limits
    convert: Callable[[bytes], bytes]


MODES = {
    "lenient": Mode("lenient_lf, as-is (LF)", Limits(lenient_lf=True), lambda raw: raw),
    "strict": Mode("strict, LF->CRLF", Limits(), to_crlf),
}


def corpus_files() -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in sorted(CORPUS.iterdir()) if p.is_file()]


def requests_of(raw: bytes) -> list[bytes]:
    """Cut a file into its requests at blank lines (the corpus's bodies are all empty)."""
    return [part.lstrip(b"\n") + b"\n\n" for part in raw.split(b"\n\n") if part.strip(b"\n")]


@dataclass
class Replay:
    files: dict[str, Outcome] = field(default_factory=dict)
    per_request: list[tuple[str, Outcome]] = field(default_factory=list)

    def summary(self, mode: Mode) -> list[str]:
        parsed_in_streams = sum(len(o.requests) for o in self.files.values())
        clean = sum(o.error is None for o in self.files.values())
        reasons = Counter((o.error.status_code, o.error.reason)
                          for _, o in self.per_request if o.error is not None)
        accepted = sum(o.error is None and bool(o.requests) for _, o in self.per_request)
        lines = [
            f"{mode.name}: {len(self.files)} files ({clean} without error), "
            f"{parsed_in_streams} requests parsed as pipelined streams",
            f"  requests one by one: {len(self.per_request)} total, {accepted} parsed, "
            f"{sum(reasons.values())} rejected:",
        ]
        lines += [f"    {count:4d} x {status} {reason}"
                  for (status, reason), count in reasons.most_common()]
        return lines


@functools.cache
def replay(mode_key: str) -> Replay:
    """Replay the whole corpus in one mode; any exception but RemoteProtocolError escapes."""
    mode = MODES[mode_key]
    result = Replay()
    for name, raw in corpus_files():
        result.files[name] = feed(mode.convert(raw), mode.limits)
        for request in requests_of(raw):
            result.per_request.append((name, feed(mode.convert(request), mode.limits)))
    return result


@pytest.mark.parametrize("mode_key", list(MODES))
def test_corpus_replays_with_only_protocol_errors(mode_key: str,
                                                   pytestconfig: pytest.Config) -> None:
    result = replay(mode_key)  # raises if anything but the engine's protocol error escapes
    assert len(result.files) >= 131  # the corpus as described in its README
    for name, out in [*result.files.items(), *result.per_request]:
        if out.error is not None:
            assert out.error.status_code in ALLOWED_STATUSES, (name, out.error)
            assert out.error.reason and len(out.error.reason) < 100
        else:
            assert out.events[-1] == ConnectionClosed(), name
    lines = result.summary(MODES[mode_key])
    print("\n".join(lines))
    pytestconfig.stash.setdefault(SUMMARY_KEY, []).extend(lines)


@pytest.mark.parametrize("mode_key", list(MODES))
def test_corpus_gives_the_same_result_fed_in_small_pieces(mode_key: str) -> None:
    mode = MODES[mode_key]
    for name, raw in corpus_files():
        data = mode.convert(raw)
        whole = replay(mode_key).files[name]
        split = feed([data[i:i + 7] for i in range(0, len(data), 7)], mode.limits)
        assert split.requests == whole.requests, name
        assert (split.error is None) == (whole.error is None), name
        if whole.error is not None and split.error is not None:
            assert split.error.status_code == whole.error.status_code, name


def test_lenient_lf_on_lf_agrees_with_strict_on_crlf() -> None:
    lenient, strict = replay("lenient"), replay("strict")
    for name, out in lenient.files.items():
        assert out.requests == strict.files[name].requests, name
        assert (out.error and out.error.reason) == (
            strict.files[name].error and strict.files[name].error.reason), name


def test_strict_mode_refuses_the_lf_files_as_they_are() -> None:
    # RFC 9112 §2.2: bare LF is only accepted when lenient_lf is on.
    raw = (CORPUS / "ex_httpd_conf_10_tst_1").read_bytes()
    out = feed(raw)
    assert out.requests == [] and out.error is not None and out.error.status_code == 400


# -- anchors: verdicts checked by hand against the RFCs -----------------------------------------

@pytest.mark.parametrize("mode_key", list(MODES))
@pytest.mark.parametrize(("name", "parsed", "status", "reason_word"), [
    # 39 well-formed HTTP/1.1 HEAD requests with an (empty, allowed) Host: all accepted.
    ("ex_httpd_conf_10_tst_1", 39, None, None),
    # 45 valid requests, then a "HOST" line without a colon: RFC 9112 §5 field-line -> 400.
    ("ex_httpd_conf_13_tst_3", 45, 400, "colon"),
    # obs-fold in the first request: RFC 9112 §5.2 -> 400.
    ("ex_httpd_conf_5_tst_2", 0, 400, "fold"),
    # "Host           : default": whitespace before the colon, RFC 9112 §5.1 MUST reject.
    ("ex_httpd_tst_12", 0, 400, "colon"),
    # Absolute-form GET is fine (§3.2.2); then "PUT *": asterisk-form only for OPTIONS (§3.2.4).
    ("odd_http_tests", 1, 400, "asterisk"),
    # Not HTTP at all (Flash policy request, NUL-separated JSON).
    ("json_socket_tests", 0, 400, None),
    # HTTP/2.1 on an HTTP/1.1 connection: RFC 9110 §15.6.6 -> 505.
    ("ex_httpd_errs_tst_13", 0, 505, "version"),
    # Content-Length with Transfer-Encoding: RFC 9112 §6.1, rejected (smuggling).
    ("ex_httpd_errs_tst_41", 0, 400, "Transfer-Encoding"),
    # HTTP/1.1 without Host: RFC 9112 §3.2 -> 400.
    ("ex_httpd_errs_tst_15", 0, 400, "Host"),
    # HTTP/1.0 without keep-alive: one request, then the connection closes (RFC 9112 §9.3);
    # the second request is never read.
    ("ex_httpd_none_tst_3", 1, None, None),
    # An empty file: the client connected and closed.
    ("ex_httpd_null_tst_1", 0, None, None),
])
def test_anchor_files(mode_key: str, name: str, parsed: int, status: int | None,
                      reason_word: str | None) -> None:
    out = replay(mode_key).files[name]
    assert len(out.requests) == parsed
    if status is None:
        assert out.error is None
    else:
        assert out.error is not None and out.error.status_code == status
        if reason_word is not None:
            assert reason_word.lower() in out.error.reason.lower()
