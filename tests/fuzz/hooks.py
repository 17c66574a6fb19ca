"""Schemathesis hooks of the fuzz run (SCHEMATHESIS_HOOKS=tests.fuzz.hooks).

A SUBSCRIBE that the master accepts answers with an event stream that lasts as long as the
subscription, so the fuzzer would wait for its end forever. Each SUBSCRIBE is sent with a
`Mesos-Stream-Id` header, which a SUBSCRIBE must not carry: the master answers 400 at once, after
checking the call's JSON types (`core.driver.calls`), which is what is fuzzed here. What the master
does with valid subscriptions is tested in tests/core/test_scheduler_api*.py.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis import Case


@schemathesis.hook
def before_call(context: Any, case: Case[Any], kwargs: dict[str, Any]) -> None:
    body = case.body if isinstance(case.body, dict) else {}
    if case.operation.path == "/api/v1/scheduler" and body.get("type") == "SUBSCRIBE":
        # on the case, not in `kwargs`: the coverage phase passes its own headers beside them
        case.headers = {**(case.headers or {}), "Mesos-Stream-Id": "fuzz"}
