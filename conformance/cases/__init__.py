"""All raw-bytes request cases, in the order the report shows them.

Each submodule owns a few categories; this package only concatenates them and guarantees that
case ids are unique (results are keyed by id). It must never filter or alter a case.
"""

from __future__ import annotations

from conformance.cases import connection, fields, framing, request_line
from conformance.model import Case

ALL_CASES: tuple[Case, ...] = (
    *request_line.CASES, *fields.CASES, *framing.CASES, *connection.CASES)

_ids = [case.case_id for case in ALL_CASES]
if len(_ids) != len(set(_ids)):
    raise RuntimeError("duplicate conformance case ids: "
                       + ", ".join(sorted({i for i in _ids if _ids.count(i) > 1})))
