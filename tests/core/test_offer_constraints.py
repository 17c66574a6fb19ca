"""Offer constraints and role names, checked directly (the end-to-end shapes are in test_scheduler_api)."""

from __future__ import annotations

from typing import Any

import pytest

from core.cluster.allocator import FrameworkClaim, FreeAgent, allocate
from core.cluster.offer_constraints import OfferConstraints, OfferConstraintsError
from core.cluster.roles import framework_info_problem, role_problem
from core.resources import Resources


def only(role: str, *groups: list[dict[str, Any]]) -> OfferConstraints:
    data = {"role_constraints": {role: {"groups": [{"attribute_constraints": g} for g in groups]}}}
    return OfferConstraints.parse(data, [role])


def attr(name: str, predicate: dict[str, Any]) -> dict[str, Any]:
    return {"selector": {"attribute_name": name}, "predicate": predicate}


@pytest.mark.parametrize(("predicate", "rack_a", "rack_b", "missing"), [
    ({"exists": {}}, True, True, False),
    ({"not_exists": {}}, False, False, True),
    ({"text_equals": {"value": "a"}}, True, False, False),
    ({"text_not_equals": {"value": "a"}}, False, True, True),
    ({"text_matches": {"regex": "[ab]"}}, True, True, False),
    ({"text_matches": {"regex": "a|"}}, True, False, False),  # the whole value must match
    ({"text_not_matches": {"regex": "a"}}, False, True, True),
])
def test_each_predicate_on_present_and_missing_attributes(predicate: dict[str, Any], rack_a: bool, rack_b: bool,
                                                          missing: bool) -> None:
    constraints = only("r", [attr("rack", predicate)])
    offered = [not constraints.excludes("r", "h", attrs) for attrs in ({"rack": "a"}, {"rack": "b"}, {})]
    assert offered == [rack_a, rack_b, missing]


def test_groups_are_or_and_constraints_within_a_group_are_and() -> None:
    constraints = only("r",
                       [attr("rack", {"text_equals": {"value": "a"}}), attr("zone", {"text_equals": {"value": "z"}})],
                       [{"selector": {"pseudoattribute_type": "HOSTNAME"},
                         "predicate": {"text_equals": {"value": "h2"}}}])
    assert not constraints.excludes("r", "h1", {"rack": "a", "zone": "z"})
    assert constraints.excludes("r", "h1", {"rack": "a"})
    assert not constraints.excludes("r", "h2", {})
    assert not constraints.excludes("other-role", "h1", {})  # roles without constraints take every agent
    zone = only("r", [{"selector": {"pseudoattribute_type": "ZONE"}, "predicate": {"not_exists": {}}}])
    assert not zone.excludes("r", "h", {"ZONE": "x"})  # agents have no fault domain


@pytest.mark.parametrize(("data", "message"), [
    ({"role_constraints": {"x": {"groups": [{"attribute_constraints": [attr("a", {"exists": {}})]}]}}},
     "for a role 'x' not contained in the set of roles"),
    ({"role_constraints": {"r": {"groups": []}}}, "has an empty 'RoleConstraints::groups' for role r"),
    ({"role_constraints": {"r": {"groups": [{"attribute_constraints": []}]}}},
     "contains an empty RoleConstraints::Group"),
    ({"role_constraints": {"r": {"groups": [{"attribute_constraints": [{"predicate": {"exists": {}}}]}]}}},
     "Exactly one of 'AttributeConstraint::Selector::name'"),
    ({"role_constraints": {"r": {"groups": [{"attribute_constraints": [
        {"selector": {"pseudoattribute_type": "RACK"}, "predicate": {"exists": {}}}]}]}}},
     "Unknown pseudoattribute type"),
    ({"role_constraints": {"r": {"groups": [{"attribute_constraints": [attr("a", {"near": {}})]}]}}},
     "A role r has an invalid 'AttributeConstraint': Unknown predicate type"),
    ({"role_constraints": {"r": {"groups": [{"attribute_constraints": [attr("a", {"text_equals": {}})]}]}}},
     "needs a string 'value'"),
    ({"role_constraints": []}, "must be an object keyed by role"),
])
def test_invalid_constraints_name_the_role_and_problem(data: dict[str, Any], message: str) -> None:
    with pytest.raises(OfferConstraintsError) as info:
        OfferConstraints.parse(data, ["r"])
    assert message in str(info.value)


def test_role_names_follow_mesos() -> None:
    assert role_problem("*") is None and role_problem("eng/web") is None
    assert "cannot start with a slash" in (role_problem("/a") or "")
    assert "cannot include '..'" in (role_problem("a/../b") or "")
    assert "starts with a dash" in (role_problem("-a") or "")
    assert "whitespace" in (role_problem("a b") or "")
    assert "cannot include '*'" in (role_problem("a/*") or "")
    multi = [{"type": "MULTI_ROLE"}]
    assert framework_info_problem({"roles": ["a", "a"], "capabilities": multi}) == (
        "'FrameworkInfo.roles' contains duplicate items: { a }")
    assert framework_info_problem({"roles": [], "capabilities": multi}) is None
    assert framework_info_problem({"role": "a"}) is None and framework_info_problem({}) is None


def test_a_framework_with_two_roles_spreads_agents_between_them() -> None:
    total = Resources.of(cpus=8, mem=800)
    agents = [FreeAgent(f"a{i}", Resources.of(cpus=2, mem=200)) for i in range(4)]
    claim = FrameworkClaim("f", 0, Resources(), roles=("x", "y"))
    offers = allocate(agents, [claim], total, now=0.0)
    assert [(o.agent_id, o.role) for o in offers] == [("a0", "x"), ("a1", "y"), ("a2", "x"), ("a3", "y")]
    # a decline filter is per agent and role: the other role still gets that agent
    claim = FrameworkClaim("f", 0, Resources(), roles=("x", "y"), filters={("a0", "x"): 10.0})
    assert [(o.agent_id, o.role) for o in allocate(agents[:1], [claim], total, now=0.0)] == [("a0", "y")]
