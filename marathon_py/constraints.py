"""Marathon's rules for an app's placement constraints (its SchedulingValidation), checked when
the app is posted so that no constraint reaches the placement matcher that it cannot apply.

Rules (`[field, operator]` or `[field, operator, value]`):
- the field is not empty; the operator is one of `OPERATORS`;
- UNIQUE takes no value; CLUSTER takes one or none;
- GROUP_BY takes a whole number or none, MAX_PER a whole number (a Java int, as Marathon reads it);
- LIKE and UNLIKE take a regular expression, compiled here as the matcher compiles it (a bad
  one would otherwise fail every placement of the app);
- IS takes a Mesos text or scalar value (letters, digits, `_`, `/`, `.`, `-`).
Messages are Marathon's, each at `/constraints(i)`.
"""

from __future__ import annotations

import re

OPERATORS = ("UNIQUE", "CLUSTER", "GROUP_BY", "LIKE", "UNLIKE", "MAX_PER", "IS")
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
_WHOLE = re.compile(r"[+-]?[0-9]+")
_MESOS_TEXT = re.compile(r"[a-zA-Z0-9_/.-]*")


def _whole(value: str) -> bool:
    return _WHOLE.fullmatch(value) is not None and INT_MIN <= int(value) <= INT_MAX


def constraint_problem(constraint: list[str]) -> str | None:
    """Why Marathon refuses `constraint` (two or three strings), or None."""
    field, operator = constraint[0], constraint[1]
    value = constraint[2] if len(constraint) > 2 else None
    if not field:
        return "missing field for constraint declaration"
    if operator not in OPERATORS:
        return f"operator must be one of the following {', '.join(OPERATORS)}"
    if operator == "UNIQUE" and value is not None:
        return "UNIQUE does not accept a value"
    if operator == "GROUP_BY" and value is not None and not _whole(value):
        return "GROUP BY must define an integer value or else no value at all"
    if operator == "MAX_PER" and (value is None or not _whole(value)):
        return "MAX_PER requires an integer value"
    if operator in ("LIKE", "UNLIKE"):
        if not value:
            return "LIKE and UNLIKE require a non-empty, regular expression value"
        try:
            re.compile(value)
        except (re.error, RecursionError, OverflowError) as exc:
            return f"'{value}' is not a valid regular expression ({exc})"
    if operator == "IS" and not _MESOS_TEXT.fullmatch(value or ""):
        return ("IS only supports Mesos text and float values "
                "(see http://mesos.apache.org/documentation/latest/attributes-resources/)")
    return None
