"""--env-file parsing: the dotenv dialect, and existing variables win."""

from __future__ import annotations

from pathlib import Path

import pytest

from moreweb.envfile import EnvFileError, load_env_file, parse_env


def test_plain_lines_comments_blank_lines_and_export() -> None:
    text = "# a comment\n\nA=1\nexport B=two\n   C = spaced value   \n"
    assert parse_env(text, environ={}) == {"A": "1", "B": "two", "C": "spaced value"}


def test_inline_comment_needs_leading_whitespace() -> None:
    assert parse_env("A=x # note\nCOLOR=#fff\n", environ={}) == {"A": "x", "COLOR": "#fff"}


def test_single_quotes_are_literal() -> None:
    assert parse_env(r"A='a \n ${B} # not a comment'", environ={"B": "x"}) == {
        "A": r"a \n ${B} # not a comment"
    }


def test_single_quotes_allow_escaped_quote() -> None:
    assert parse_env(r"A='it\'s'", environ={}) == {"A": "it's"}


def test_double_quotes_decode_escapes() -> None:
    text = r'A="tab\tnl\nquote\"backslash\\dollar\$"'
    assert parse_env(text, environ={}) == {"A": 'tab\tnl\nquote"backslash\\dollar$'}


def test_double_quoted_value_may_span_lines() -> None:
    assert parse_env('KEY="line one\nline two"\nNEXT=1\n', environ={}) == {
        "KEY": "line one\nline two", "NEXT": "1",
    }


def test_comment_after_closing_quote() -> None:
    assert parse_env('A="v" # trailing\n', environ={}) == {"A": "v"}


def test_expansion_prefers_existing_environment_then_earlier_lines() -> None:
    text = "HOST=filehost\nURL=http://${HOST}:${PORT:-80}/\nRAW='${HOST}'\n"
    assert parse_env(text, environ={"HOST": "envhost"}) == {
        "HOST": "filehost", "URL": "http://envhost:80/", "RAW": "${HOST}",
    }


def test_crlf_line_endings() -> None:
    assert parse_env("A=1\r\nB='2'\r\n", environ={}) == {"A": "1", "B": "2"}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("JUSTAKEY\n", "line 1: expected KEY=VALUE"),
        ("A=1\n1BAD=2\n", "line 2: expected KEY=VALUE"),
        ('A="unterminated\n', 'line 1: unterminated " quote'),
        ("A='x' junk\n", "line 1: unexpected text after closing quote"),
    ],
)
def test_bad_lines_are_errors_naming_the_line(text: str, reason: str) -> None:
    with pytest.raises(EnvFileError, match=reason):
        parse_env(text, environ={})


def test_load_does_not_override_existing_variables(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("KEEP=from-file\nNEW=from-file\n")
    environ = {"KEEP": "from-env"}
    values = load_env_file(path, environ=environ)
    assert environ == {"KEEP": "from-env", "NEW": "from-file"}
    assert values == {"KEEP": "from-file", "NEW": "from-file"}


def test_load_can_override_when_asked(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("KEEP=from-file\n")
    environ = {"KEEP": "from-env"}
    load_env_file(path, environ=environ, override=True)
    assert environ == {"KEEP": "from-file"}


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(EnvFileError, match="cannot read env file"):
        load_env_file(tmp_path / "absent.env", environ={})
