"""Our reading of RFC 9112/9110 applied to each corpus request: valid, invalid or incomplete.

This is the reference that drafted `and_suite.tsv` and that the tests hold the shipped file to,
so the classification can be reviewed as rules (here) and as verdicts (there). It checks
message syntax and the Host/framing rules a server must enforce; it does not judge header
semantics a server does not interpret (a malformed Range or Accept value is still a valid
field). It must never consult a server: it is the expectation, not an observation.

Run `python -m conformance.corpus_rules` to print the classification as TSV.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from conformance.corpus_split import CorpusRequest, split_requests

TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
VERSION = re.compile(r"HTTP/([0-9])\.([0-9])")
# RFC 3986 reg-name characters (unreserved, sub-delims, '%' of pct-encoded).
REG_NAME = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=%]*")
PORT = re.compile(r"[0-9]*")
# Bytes never allowed in a request-target under moreweb's policy (the RFC forbids more, but
# browsers send `{}|^` and backquote raw in queries; see conformance/README.md).
TARGET_FORBIDDEN = re.compile(r'[\x00-\x20\x7f-\xff"<>#]')
FIELD_VALUE_BAD = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(frozen=True)
class Verdict:
    verdict: str  # valid | invalid | incomplete
    ends: str  # for valid requests: keep | close | may (HTTP/1.0 keep-alive is optional)
    reason: str


def _invalid(reason: str) -> Verdict:
    return Verdict("invalid", "-", reason)


def _host_ok(value: str) -> bool:
    if value.startswith("["):
        literal, bracket, rest = value.partition("]")
        if not bracket or not re.fullmatch(r"\[[0-9A-Fa-f:.vV]+", literal):
            return False
        return rest == "" or (rest.startswith(":") and bool(PORT.fullmatch(rest[1:])))
    host, _, port = value.partition(":")
    return bool(REG_NAME.fullmatch(host)) and bool(PORT.fullmatch(port))


def _target_problem(method: str, target: str) -> str:
    if TARGET_FORBIDDEN.search(target):
        return "request-target contains a byte not allowed there (RFC 9112 3.2)"
    if target == "*":
        return "" if method == "OPTIONS" else "asterisk-form is only for OPTIONS (RFC 9112 3.2.4)"
    if target.startswith("/"):
        return ""
    match = re.fullmatch(r"([A-Za-z][A-Za-z0-9+.\-]*)://([^/?]*)(.*)", target)
    if not match:
        return "request-target is none of the four forms (RFC 9112 3.2)"
    scheme, authority, _ = match.groups()
    host = authority.rpartition("@")[2]
    if scheme.lower() in ("http", "https") and host.partition(":")[0] == "":
        return "http URI with an empty host MUST be rejected (RFC 9110 4.2.1)"
    if not _host_ok(host):
        return "absolute-form authority is not host[:port] (RFC 3986 3.2)"
    return ""


def classify(request: CorpusRequest) -> Verdict:
    text = request.raw.decode("latin-1")
    lines = text.split("\n")
    line = lines[0]
    words = line.split()
    if len(words) < 3:
        return _invalid("request line without an HTTP-version (HTTP/0.9 style, RFC 9112 3)")
    parts = line.split(" ")
    if len(parts) != 3 or "\t" in line:
        return _invalid("request line is not method SP target SP version (RFC 9112 3)")
    method, target, version = parts
    if not TOKEN.fullmatch(method):
        return _invalid("method is not a token (RFC 9112 3.1)")
    version_match = VERSION.fullmatch(version)
    if not version_match:
        return _invalid(f"{version!r} is not an HTTP-version (RFC 9112 2.3)")
    if version_match.group(1) != "1":
        return _invalid("major version is not 1: 505 (RFC 9110 15.6.6)")
    problem = _target_problem(method, target)
    if problem:
        return _invalid(problem)
    # Without the empty line, the last line may be partial: judge only the complete ones.
    field_lines = lines[1:] if request.head_complete else lines[1:-1]
    fields: list[tuple[str, str]] = []
    for number, field_line in enumerate(field_lines, start=1):
        if field_line == "":
            break
        if field_line[0] in " \t":
            if number == 1:
                return _invalid("whitespace before the first field line (RFC 9112 2.2)")
            return _invalid("obs-fold line folding (RFC 9112 5.2; moreweb rejects)")
        name, colon, value = field_line.partition(":")
        if not colon:
            return _invalid("field line without a colon (RFC 9112 5)")
        if name != name.rstrip(" \t"):
            return _invalid("whitespace between field name and colon (RFC 9112 5.1)")
        if not TOKEN.fullmatch(name):
            return _invalid("field name is not a token (RFC 9110 5.1)")
        if FIELD_VALUE_BAD.search(value):
            return _invalid("control character in a field value (RFC 9110 5.5)")
        fields.append((name.lower(), value.strip(" \t")))
    if not request.head_complete:
        return Verdict("incomplete", "-", "the file ends before the request head does")
    verdict = _semantics(version_match.group(2), target, fields)
    if verdict.verdict == "valid" and not request.complete:
        return Verdict("incomplete", "-", "the file ends before the body does")
    return verdict


def _semantics(minor: str, target: str, fields: list[tuple[str, str]]) -> Verdict:
    http10 = minor == "0"
    hosts = [value for name, value in fields if name == "host"]
    if not http10 and not hosts:
        return _invalid("HTTP/1.1 request without Host (RFC 9112 3.2)")
    if len(hosts) > 1:
        return _invalid("more than one Host field line (RFC 9112 3.2)")
    if hosts and not _host_ok(hosts[0]):
        return _invalid(f"invalid Host value {hosts[0]!r} (RFC 9112 3.2)")
    codings = [c.strip().lower() for name, value in fields if name == "transfer-encoding"
               for c in value.split(",") if c.strip()]
    lengths = [value for name, value in fields if name == "content-length"]
    if codings:
        if http10:
            return _invalid("Transfer-Encoding in an HTTP/1.0 request (RFC 9112 6.1)")
        if codings[-1] != "chunked":
            return _invalid(f"Transfer-Encoding {','.join(codings)!r}: chunked is not final "
                            "(RFC 9112 6.3)")
        if lengths:
            return _invalid("both Content-Length and Transfer-Encoding (RFC 9112 6.1)")
    values = {item.strip() for value in lengths for item in value.split(",")}
    if any(not value.isdigit() for value in values) or len(values) > 1:
        return _invalid("invalid Content-Length (RFC 9110 8.6)")
    tokens = {t.strip().lower() for name, value in fields if name == "connection"
              for t in value.split(",")}
    notes = []
    if hosts and hosts[0] == "":
        notes.append("empty Host is allowed (RFC 9112 3.2)")
    if not target.startswith("/") and target != "*":
        notes.append("absolute-form; Host is ignored (RFC 9112 3.2.2)")
    if minor not in "01":
        notes.append(f"HTTP/1.{minor} is served as HTTP/1.1 (RFC 9110 6.2)")
    if "close" in tokens:
        ends, why = "close", "Connection: close"
    elif http10 and "keep-alive" in tokens:
        ends, why = "may", "HTTP/1.0 keep-alive, which a server may honour"
    elif http10:
        ends, why = "close", "HTTP/1.0 without keep-alive closes"
    else:
        ends, why = "keep", "persistent"
    reason = "; ".join(["well-formed", why, *notes])
    return Verdict("valid", ends, reason)


def classification_rows(corpus_dir: Path) -> list[tuple[str, int, str, str, str, str]]:
    """(file, index, verdict, ends, first_line, reason) for every request in the corpus."""
    rows = []
    for path in sorted(corpus_dir.iterdir()):
        if not path.is_file() or path.name.endswith(".md"):
            continue
        for request in split_requests(path.read_bytes()):
            verdict = classify(request)
            rows.append((path.name, request.index, verdict.verdict, verdict.ends,
                         request.first_line.encode("unicode_escape").decode("ascii"),
                         verdict.reason))
    return rows


def main() -> None:
    from conformance.corpus import default_corpus_dir, format_tsv

    corpus_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else default_corpus_dir()
    sys.stdout.write(format_tsv(classification_rows(corpus_dir)))


if __name__ == "__main__":
    main()
