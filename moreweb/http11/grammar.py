"""RFC 9110 / 9112 grammar, compiled once into regular expressions.

Hot path: the engine validates a whole request head with two regex passes in C (request line,
then all field lines at once) instead of looping over bytes in Python; `bench/engine.py` guards
this. Each pattern names the ABNF production it implements so it can be checked against the RFC.
"""

from __future__ import annotations

import re

# RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
#                          "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
TCHAR = rb"[-!#$%&'*+.^_`|~0-9A-Za-z]"
TOKEN = TCHAR + rb"+"

# RFC 9110 §5.5: field-value = *field-content; field-vchar = VCHAR / obs-text. SP and HTAB
# may appear inside a value but not at its edges (those are OWS and get stripped). Everything
# else (NUL, CR, LF, other CTLs, DEL) is excluded, which is what defeats header injection.
_VCHAR = rb"[\x21-\x7e\x80-\xff]"
FIELD_VALUE = rb"(?:" + _VCHAR + rb"(?:[\t \x21-\x7e\x80-\xff]*" + _VCHAR + rb")?)?"

# RFC 9112 §5: field-line = field-name ":" OWS field-value OWS. No whitespace before the colon
# (§5.1: MUST reject), no obs-fold (§5.2: we reject rather than unfold).
# Each match must start a line (MULTILINE `^`) and ends with its line's LF; a header block is
# valid exactly when the number of matches equals the number of LFs (see `field_lines`).
FIELD_LINE_RE = re.compile(rb"(?m)^(" + TOKEN + rb"):[ \t]*(" + FIELD_VALUE + rb")[ \t]*\r\n")


def field_lines(data: bytes, start: int, end: int) -> list[tuple[bytes, bytes]] | None:
    """The (lowercased name, value) pairs of data[start:end], or None if any line is invalid.

    `start` must begin a line and `end` follow a CRLF. Hot path (header and trailer sections):
    one regex scan in C. Every match is one whole line ending in CRLF, so one match per LF
    proves that no line was skipped as invalid, without a second validating pass.
    """
    fields = FIELD_LINE_RE.findall(data, start, end)
    if len(fields) != data.count(b"\n", start, end):
        return None
    return [(name.lower(), value) for name, value in fields]

# RFC 9112 §3: request-line = method SP request-target SP HTTP-version, then CRLF.
# The request-target may hold any visible ASCII except `"`, `#`, `<` and `>`, which no URI
# contains (RFC 3986) and no browser sends unescaped; `|{}^` and backquote are tolerated
# because browsers do send them raw in query strings.
TARGET_CHAR = rb"[!$-;=?-~]"
REQUEST_LINE_RE = re.compile(
    rb"(" + TOKEN + rb") (" + TARGET_CHAR + rb"+) HTTP/([0-9])\.([0-9])\r\n")

# RFC 9112 §3.2.2 absolute-form, restricted to URIs with an authority (scheme "://").
ABSOLUTE_FORM_RE = re.compile(rb"[A-Za-z][A-Za-z0-9+.-]*://[^/?]*")
# RFC 9112 §3.2.3 authority-form: uri-host ":" port.
AUTHORITY_FORM_RE = re.compile(rb"(?:\[[0-9A-Fa-f:.]+\]|[-A-Za-z0-9._~!$&'()*+,;=%]+):[0-9]+")

# RFC 9110 §7.2: Host = uri-host [ ":" port ]; it may be empty (RFC 9112 §3.2).
HOST_RE = re.compile(rb"(?:\[[0-9A-Fa-f:.vV]+\]|[-A-Za-z0-9._~!$&'()*+,;=%]*)(?::[0-9]*)?")

# RFC 9112 §6: Content-Length = 1*DIGIT.
DIGITS_RE = re.compile(rb"[0-9]+")

# RFC 9112 §7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
#   chunk-size = 1*HEXDIG; chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )
#   ext-val = token / quoted-string (RFC 9110 §5.6.4: qdtext excludes CTLs and DEL).
_QUOTED_STRING = rb'"(?:[\t !#-\[\]-~\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
_CHUNK_EXT = (rb"(?:[ \t]*;[ \t]*" + TOKEN + rb"(?:[ \t]*=[ \t]*(?:" + TOKEN + rb"|"
              + _QUOTED_STRING + rb"))?)*")
# No whitespace after the size unless an extension follows: "5 \r\n" is outside the grammar,
# and disagreements over such bytes between hops are how chunked smuggling starts.
CHUNK_HEADER_RE = re.compile(rb"([0-9A-Fa-f]+)" + _CHUNK_EXT + rb"\r\n")
