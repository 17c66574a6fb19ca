"""Marathon-style placement constraints on `hostname` or an agent attribute.

A constraint is `[field, operator]` or `[field, operator, value]`:
- UNIQUE: no two tasks share the field's value.
- CLUSTER value: every task on that value (without a value: on the value of the first task).
- GROUP_BY [n]: spread evenly over the values: a value not used yet always may take a task; a
  used one only while it has no more tasks than the least used value, and only once at least n
  values are in use (only values seen on placed tasks are known: without n, offers from one
  value alone may all land there, as in Marathon).
- LIKE / UNLIKE regex: the value must (not) match the whole regex.
- MAX_PER n: at most n tasks per value.
- IS value: the value must equal it.
A host without the attribute satisfies none but UNLIKE.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Placement:
    hostname: str
    attributes: dict[str, str] = field(default_factory=dict)

    def value(self, name: str) -> str | None:
        return self.hostname if name == "hostname" else self.attributes.get(name)


def satisfies(constraint: Sequence[str], here: Placement, placed: Sequence[Placement]) -> bool:
    """Whether one more task may be placed `here`, with its siblings already at `placed`."""
    name, operator = constraint[0], constraint[1]
    arg = constraint[2] if len(constraint) > 2 else None
    value = here.value(name)
    if value is None:
        return operator == "UNLIKE"
    values = [v for v in (p.value(name) for p in placed) if v is not None]
    if operator == "UNIQUE":
        return value not in values
    if operator == "CLUSTER":
        target = arg if arg is not None else (values[0] if values else value)
        return value == target
    if operator == "GROUP_BY":
        counts = Counter(values)
        if value not in counts:
            return True
        expected = int(arg) if arg is not None and arg.isdigit() else 0
        return len(counts) >= expected and counts[value] == min(counts.values())
    if operator == "LIKE":
        return arg is not None and re.fullmatch(arg, value) is not None
    if operator == "UNLIKE":
        return arg is None or re.fullmatch(arg, value) is None
    if operator == "MAX_PER":
        return arg is not None and values.count(value) < int(arg)
    if operator == "IS":
        return value == arg
    return False
