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

from aurora_py.model import Tier

TIERS = tuple(t.value for t in Tier)


def problem(description: dict[str, Any]) -> str | None:
    """What is wrong with the job's tier or priority, naming the field, or None."""
    tier = description.get("tier")
    if tier is not None and tier not in TIERS:
        return f"tier: invalid tier {tier!r} (known tiers: {', '.join(TIERS)})"
    if description.get("production") and tier in (Tier.PREEMPTIBLE, Tier.REVOCABLE):
        return f"tier: a production job may not use the {tier} tier (use preferred)"
    priority = description.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool):
        return "priority: must be an integer"
    return None


def tier_of(description: dict[str, Any]) -> Tier:
    """The tier of a description `problem` accepted."""
    tier = description.get("tier")
    if tier:
        return Tier(tier)
    return Tier.PREFERRED if description.get("production") else Tier.PREEMPTIBLE
