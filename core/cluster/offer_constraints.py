"""Offer constraints (SUBSCRIBE / UPDATE_FRAMEWORK `offer_constraints`): which agents a role of a
framework wants offers from, as Mesos' allocator filters them.

Rules (Mesos' scheduler.proto and OfferConstraintsFilter):
- Per role, a list of groups: an agent is offered to that role when ANY group matches, and a group
  matches when ALL its attribute constraints do. A role without constraints takes every agent.
- A constraint selects an attribute by name (the first with that name) or a pseudoattribute
  (HOSTNAME; REGION and ZONE never exist here: agents have no fault domain) and applies a
  predicate: `exists`, `not_exists`, `text_equals`, `text_not_equals`, `text_matches`,
  `text_not_matches` (the regex must match the whole value). A missing attribute satisfies only
  `not_exists`, `text_not_equals` and `text_not_matches`.
- Invalid constraints (a role the framework does not have, an empty group or group list, no or
  two selectors, an unknown pseudoattribute or predicate, a bad regex) are refused with a
  message naming the role; nothing is applied then.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from core.driver.types import JSON

PSEUDOATTRIBUTES = ("HOSTNAME", "REGION", "ZONE")
Test = Callable[[str | None], bool]  # the attribute's value, None when it does not exist


class OfferConstraintsError(ValueError):
    """Offer constraints that cannot be applied; the message names the role and the problem."""


@dataclass(frozen=True)
class AttributeConstraint:
    attribute: str  # an attribute name, or a pseudoattribute when `pseudo`
    pseudo: bool
    test: Test

    def holds(self, hostname: str, attributes: Mapping[str, str]) -> bool:
        if self.pseudo:
            return self.test(hostname if self.attribute == "HOSTNAME" else None)
        return self.test(attributes.get(self.attribute))


@dataclass(frozen=True)
class OfferConstraints:
    """Parsed constraints of one framework; `raw` is what it sent (shown in /master/state)."""

    groups: Mapping[str, tuple[tuple[AttributeConstraint, ...], ...]] = field(default_factory=dict)
    raw: JSON = field(default_factory=dict)

    def excludes(self, role: str, hostname: str, attributes: Mapping[str, str]) -> bool:
        """Whether an agent with these hostname and attributes is kept from `role`'s offers."""
        groups = self.groups.get(role)
        if groups is None:
            return False
        return not any(all(c.holds(hostname, attributes) for c in group) for group in groups)

    @classmethod
    def parse(cls, data: object, roles: Collection[str]) -> OfferConstraints:
        """Parse `offer_constraints` JSON for a framework with these roles; raises OfferConstraintsError."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise OfferConstraintsError("'offer_constraints' must be an object")
        by_role = data.get("role_constraints", {})
        if not isinstance(by_role, dict):
            raise OfferConstraintsError("'offer_constraints.role_constraints' must be an object keyed by role")
        groups: dict[str, tuple[tuple[AttributeConstraint, ...], ...]] = {}
        for role, role_constraints in by_role.items():
            if role not in roles:
                raise OfferConstraintsError(
                    f"Offer constraints specify `role_constraints` for a role '{role}' "
                    "not contained in the set of roles")
            groups[role] = _parse_role(role, role_constraints)
        return cls(groups, data)


def _parse_role(role: str, data: object) -> tuple[tuple[AttributeConstraint, ...], ...]:
    groups = data.get("groups", []) if isinstance(data, dict) else None
    if not isinstance(groups, list):
        raise OfferConstraintsError(f"Offer constraints are not valid: role {role}: 'groups' must be a list")
    if not groups:
        raise OfferConstraintsError(
            f"Offer constraints are not valid: 'OfferConstraints::role_constraints' has an empty "
            f"'RoleConstraints::groups' for role {role}")
    parsed = []
    for group in groups:
        constraints = group.get("attribute_constraints", []) if isinstance(group, dict) else None
        if not isinstance(constraints, list) or not constraints:
            raise OfferConstraintsError(
                f"Offer constraints are not valid: 'OfferConstraints::RoleConstraints::groups' for role {role} "
                "contains an empty RoleConstraints::Group")
        try:
            parsed.append(tuple(_parse_constraint(c) for c in constraints))
        except OfferConstraintsError as exc:
            raise OfferConstraintsError(
                f"Offer constraints are not valid: A role {role} has an invalid 'AttributeConstraint': {exc}") from None
    return tuple(parsed)


def _parse_constraint(data: object) -> AttributeConstraint:
    if not isinstance(data, dict):
        raise OfferConstraintsError("an attribute constraint must be an object with 'selector' and 'predicate'")
    selector = data.get("selector")
    if not isinstance(selector, dict) or ("attribute_name" in selector) == ("pseudoattribute_type" in selector):
        raise OfferConstraintsError("Exactly one of 'AttributeConstraint::Selector::name' or "
                                    "'AttributeConstraint::Selector::pseudoattribute_type' must be set")
    if "attribute_name" in selector:
        attribute, pseudo = str(selector["attribute_name"]), False
    else:
        attribute, pseudo = str(selector["pseudoattribute_type"]), True
        if attribute not in PSEUDOATTRIBUTES:
            raise OfferConstraintsError("Unknown pseudoattribute type")
    return AttributeConstraint(attribute, pseudo, _parse_predicate(data.get("predicate")))


def _parse_predicate(data: object) -> Test:
    if not isinstance(data, dict) or len(data) != 1:
        raise OfferConstraintsError("Unknown predicate type")
    [(kind, arg)] = data.items()
    if kind == "exists":
        return lambda value: value is not None
    if kind == "not_exists":
        return lambda value: value is None
    if kind in ("text_equals", "text_not_equals"):
        text = _argument(arg, "value")
        if kind == "text_equals":
            return lambda value: value == text
        return lambda value: value != text
    if kind in ("text_matches", "text_not_matches"):
        pattern = _argument(arg, "regex")
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise OfferConstraintsError(f"Failed to construct regex from pattern '{pattern}': {exc}") from None
        if kind == "text_matches":
            return lambda value: value is not None and regex.fullmatch(value) is not None
        return lambda value: value is None or regex.fullmatch(value) is None
    raise OfferConstraintsError("Unknown predicate type")


def _argument(arg: Any, name: str) -> str:
    if not isinstance(arg, dict) or not isinstance(arg.get(name), str):
        raise OfferConstraintsError(f"the predicate needs a string '{name}'")
    return str(arg[name])
