"""A fix for pystachio's `Choice` type check, applied when the schema is imported.

pystachio 0.8's `ChoiceContainer.check` returns None (and its caller then fails with an
AttributeError) when the value already is one of the alternatives but fails that
alternative's own check, e.g. `sla_policy=CountSlaPolicy(count=1)` without `duration_secs`.
Rule: a value that is already an alternative is judged by that alternative's check, whose
message names the missing or wrong field; other values keep pystachio's behaviour.
"""

from __future__ import annotations

from typing import Any

from pystachio.choice import ChoiceContainer

_original_check = ChoiceContainer.check


def _check(self: Any) -> Any:
    for alternative in self.CHOICES:
        if isinstance(self._value, alternative):
            return self._value.in_scope(*self.scopes()).check()
    return _original_check(self)


def install() -> None:
    ChoiceContainer.check = _check
