"""Turn a "module:attribute" string into the object it names.

This is how the command line finds the ASGI app. It must never hide a real error raised while
the app's own module runs (a failing import inside the app, a syntax error): only "the module
you named does not exist" and "the attribute you named does not exist" become the short,
one-line ImportFromStringError; everything else propagates with its traceback.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["ImportFromStringError", "import_from_string"]


class ImportFromStringError(Exception):
    """The import string is malformed or names something that does not exist."""


def import_from_string(import_str: Any) -> Any:
    """Return the object named by "package.module:attr.subattr"; non-strings pass through.

    Passing objects through lets callers accept either an app object or its import string.
    """
    if not isinstance(import_str, str):
        return import_str

    module_str, sep, attrs_str = import_str.partition(":")
    if not sep or not module_str or not attrs_str:
        raise ImportFromStringError(
            f'Import string "{import_str}" must be in format "<module>:<attribute>".'
        )

    try:
        module = importlib.import_module(module_str)
    except ModuleNotFoundError as exc:
        # Only a missing module *that the user named* (or one of its parent packages) is the
        # user's typo; a missing dependency imported by their module is a bug in their code and
        # deserves the full traceback.
        if exc.name is None or not _is_self_or_parent(exc.name, module_str):
            raise
        raise ImportFromStringError(f'Could not import module "{module_str}".') from None

    instance: Any = module
    for attr in attrs_str.split("."):
        try:
            instance = getattr(instance, attr)
        except AttributeError:
            raise ImportFromStringError(
                f'Attribute "{attrs_str}" not found in module "{module_str}".'
            ) from None
    return instance


def _is_self_or_parent(missing: str, wanted: str) -> bool:
    return wanted == missing or wanted.startswith(missing + ".")
