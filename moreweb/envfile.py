"""Read a `.env` file (``--env-file``) into the process environment.

The format is the common dotenv dialect: ``KEY=VALUE`` lines, ``#`` comments, an optional
``export`` prefix, single quotes (literal), double quotes (backslash escapes, may span lines)
and ``${NAME}`` / ``${NAME:-default}`` expansion outside single quotes. Existing environment
variables win over the file, as with python-dotenv's default, so a deployment can always
override a checked-in file.

It must never execute anything from the file, and never guess: a line it cannot parse is an
error naming the line, not a silently skipped setting.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, MutableMapping

__all__ = ["EnvFileError", "load_env_file", "parse_env"]


class EnvFileError(ValueError):
    """The env file is missing or has a line that is not valid dotenv syntax."""


_KEY = re.compile(r"[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_.\-]*)[ \t]*=[ \t]*")
_BLANK_OR_COMMENT = re.compile(r"[ \t]*(?:#[^\n]*)?(?:\n|$)")
_EXPANSION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_.\-]*)(?::-([^}]*))?\}")
_Expander = Callable[[str], str]
_DOUBLE_QUOTE_ESCAPES = {
    "n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "'": "'", "$": "$",
    "a": "\a", "b": "\b", "f": "\f", "v": "\v",
}


def load_env_file(
    path: str | os.PathLike[str],
    *,
    override: bool = False,
    environ: MutableMapping[str, str] | None = None,
) -> dict[str, str]:
    """Parse `path` and copy its values into `environ` (default os.environ).

    Returns every value the file defines, including those not applied because the variable
    already existed.
    """
    target = os.environ if environ is None else environ
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise EnvFileError(f"cannot read env file {os.fspath(path)!r}: {exc.strerror}") from None
    values = parse_env(text, environ=target, source=os.fspath(path))
    for key, value in values.items():
        if override or key not in target:
            target[key] = value
    return values


def parse_env(
    text: str, environ: Mapping[str, str] | None = None, source: str = "<env>"
) -> dict[str, str]:
    """Return the KEY -> VALUE pairs of a dotenv text, expansions resolved.

    `environ` is consulted for ``${NAME}`` before the file's own earlier values, matching the
    rule that the existing environment wins.
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    values: dict[str, str] = {}
    pos = 0
    text = text.replace("\r\n", "\n")

    def lookup(name: str, default: str | None) -> str:
        value = env.get(name, values.get(name))
        if value is None or (value == "" and default is not None):
            return default or ""
        return value

    def expand(raw: str) -> str:
        return _EXPANSION.sub(lambda m: lookup(m.group(1), m.group(2)), raw)

    while pos < len(text):
        line_no = text.count("\n", 0, pos) + 1
        blank = _BLANK_OR_COMMENT.match(text, pos)
        if blank is not None and blank.end() > pos:
            pos = blank.end()
            continue
        key_match = _KEY.match(text, pos)
        if key_match is None:
            raise EnvFileError(f"{source} line {line_no}: expected KEY=VALUE")
        key = key_match.group(1)
        pos = key_match.end()
        quote = text[pos:pos + 1]
        if quote in ("'", '"'):
            value, pos = _read_quoted(text, pos, quote, expand, source, line_no)
            rest = _BLANK_OR_COMMENT.match(text, pos)
            if rest is None or (rest.end() == pos and pos < len(text)):
                raise EnvFileError(f"{source} line {line_no}: unexpected text after closing quote")
            pos = rest.end()
        else:
            end = text.find("\n", pos)
            end = len(text) if end == -1 else end
            raw = text[pos:end]
            # An unquoted value ends at a comment only when `#` follows whitespace, so
            # `COLOR=#fff` keeps its value.
            comment = re.search(r"[ \t]#", raw)
            if comment is not None:
                raw = raw[:comment.start()]
            value = expand(raw.strip())
            pos = end + 1
        values[key] = value
    return values


def _read_quoted(text: str, pos: int, quote: str, expand: _Expander, source: str,
                 line_no: int) -> tuple[str, int]:
    """Read a quoted value starting at the opening quote; return (value, index after it)."""
    out: list[str] = []
    i = pos + 1
    segment_start = i
    while i < len(text):
        ch = text[i]
        if ch == quote:
            out.append(_finish(text[segment_start:i], quote, expand))
            return "".join(out), i + 1
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            escaped: str | None
            if quote == '"':
                escaped = _DOUBLE_QUOTE_ESCAPES.get(nxt)
            else:
                escaped = nxt if nxt in ("\\", "'") else None
            if escaped is not None:
                out.append(_finish(text[segment_start:i], quote, expand))
                out.append(escaped)
                i += 2
                segment_start = i
                continue
        i += 1
    raise EnvFileError(f"{source} line {line_no}: unterminated {quote} quote")


def _finish(raw: str, quote: str, expand: _Expander) -> str:
    # Escaped characters are appended separately, so an escaped `\$` never starts an expansion.
    return expand(raw) if quote == '"' else raw
