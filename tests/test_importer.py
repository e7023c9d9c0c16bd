"""import_from_string: the user's typo gets one clear line; the app's own bugs keep their
traceback."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from moreweb.importer import ImportFromStringError, import_from_string

_counter = itertools.count()


def make_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str) -> str:
    name = f"importer_case_{next(_counter)}_{abs(hash(str(tmp_path)))}"
    (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_imports_module_attribute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = make_module(tmp_path, monkeypatch, "class Outer:\n    inner = 42\n")
    assert import_from_string(f"{name}:Outer.inner") == 42


def test_objects_pass_through_untouched() -> None:
    def app() -> None: ...

    assert import_from_string(app) is app


@pytest.mark.parametrize("bad", ["nocolon", ":app", "module:", ""])
def test_malformed_string_says_the_expected_format(bad: str) -> None:
    with pytest.raises(ImportFromStringError, match=r'must be in format "<module>:<attribute>"'):
        import_from_string(bad)


def test_missing_module_is_named() -> None:
    with pytest.raises(ImportFromStringError, match=r'^Could not import module "nope_missing"\.$'):
        import_from_string("nope_missing:app")


def test_missing_parent_package_is_reported_as_the_named_module() -> None:
    with pytest.raises(ImportFromStringError, match=r'Could not import module "nopkg_x\.sub"'):
        import_from_string("nopkg_x.sub:app")


def test_missing_attribute_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = make_module(tmp_path, monkeypatch, "app = 1\n")
    with pytest.raises(ImportFromStringError) as info:
        import_from_string(f"{name}:aap")
    assert str(info.value) == f'Attribute "aap" not found in module "{name}".'


def test_missing_dependency_inside_the_app_keeps_its_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The module exists; what is missing is something *it* imports: a bug to show in full.
    name = make_module(tmp_path, monkeypatch, "import definitely_not_installed_dep\napp = 1\n")
    with pytest.raises(ModuleNotFoundError) as info:
        import_from_string(f"{name}:app")
    assert info.value.name == "definitely_not_installed_dep"


def test_errors_raised_by_the_module_propagate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = make_module(tmp_path, monkeypatch, "raise RuntimeError('boom at import')\n")
    with pytest.raises(RuntimeError, match="boom at import"):
        import_from_string(f"{name}:app")
