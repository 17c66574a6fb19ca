"""Aurora's tiers: what a job's `tier` (and the older `production` flag) means for scheduling.

Rules (Aurora's default tier configuration):
- `preferred`: not preemptible, not revocable. This is production: it counts against the role's
  quota and may preempt others.
- `preemptible`: may be preempted. `revocable`: may be preempted and runs on revocable resources
  (the embedded cluster has no revocable resources, so it is scheduled as preemptible).
- A job without `tier` is `preferred` when `production=True`, otherwise `preemptible`.
- An unknown tier, or `production=True` with a preemptible tier, is refused naming the field.
"""

from __future__ import annotations

from typing import Any

TIERS = ("preferred", "preemptible", "revocable")
PREEMPTIBLE = frozenset({"preemptible", "revocable"})


def tier_of(description: dict[str, Any]) -> str:
    tier = description.get("tier")
    if tier:
        return str(tier)
    return "preferred" if description.get("production") else "preemptible"


def is_preemptible(description: dict[str, Any]) -> bool:
    return tier_of(description) in PREEMPTIBLE


def priority_of(description: dict[str, Any]) -> int:
    value = description.get("priority", 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def problem(description: dict[str, Any]) -> str | None:
    """What is wrong with the job's tier or priority, naming the field, or None."""
    tier = description.get("tier")
    if tier is not None and tier not in TIERS:
        return f"tier: invalid tier {tier!r} (known tiers: {', '.join(TIERS)})"
    if description.get("production") and tier in PREEMPTIBLE:
        return f"tier: a production job may not use the {tier} tier (use preferred)"
    priority = description.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool):
        return "priority: must be an integer"
    return None
