"""Why pending instances wait: the offers each one saw, and Aurora's pending reason.

Rules:
- From the moment an instance is pending until it launches, every offer it is matched against is
  counted, and a declined one by the first check it failed, in the order offers are checked
  (constraints, CPU, RAM, disk, ports): a funnel, as Marathon's queue gives it
  (`processedOffersSummary`), with Aurora's words for the checks.
- The reason is Aurora's (its scheduler's getPendingReason): the vetoes against the offer that came
  nearest to fitting, joined by ',' ("Insufficient: CPU,Insufficient: RAM"). Nearest is scored as
  Aurora's NearestFit does: a missing resource scores up to 1000 in proportion to how much is
  missing (CPU over 16 cores, RAM over 24 GB, disk over 450 GB, ports over 1000), an unmet
  constraint 10000; the lowest total wins. Before any offer: "Waiting for an offer".
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from core.placement.offers import CHECK_ORDER, Demand, Fit, Rejection, Shortfall
from core.resources import Resources

Slot = tuple[Any, int]  # (job key, instance)
NO_OFFER_YET = "Waiting for an offer"
INSUFFICIENT_SCORE = 1000
CONSTRAINT_SCORE = 10_000
# Aurora's names of the checks (its resource types' display names) and, for resources, the
# amount over which a shortfall scores the whole INSUFFICIENT_SCORE
CHECKS: dict[Shortfall, tuple[str, float]] = {
    Shortfall.CONSTRAINT: ("Constraint not satisfied", 1.0),
    Shortfall.CPUS: ("Insufficient: CPU", 16.0),
    Shortfall.MEM: ("Insufficient: RAM", 24 * 1024.0),
    Shortfall.DISK: ("Insufficient: disk", 450 * 1024.0),
    Shortfall.PORTS: ("Insufficient: ports", 1000.0),
}
assert list(CHECKS) == list(CHECK_ORDER)


def vetoes(demand: Demand, free: Resources, rejection: Rejection | None) -> tuple[list[str], int]:
    """Aurora's vetoes of one offer for `demand`, with their score."""
    if rejection is not None and rejection.shortfall is Shortfall.CONSTRAINT:
        return [f"{CHECKS[Shortfall.CONSTRAINT][0]}: {rejection.detail}"], CONSTRAINT_SCORE
    found: list[str] = []
    score = 0
    for shortfall, need, have in ((Shortfall.CPUS, demand.cpus, free.cpus), (Shortfall.MEM, demand.mem, free.mem),
                                  (Shortfall.DISK, demand.disk, free.disk),
                                  (Shortfall.PORTS, float(len(demand.ports)), float(free.port_count()))):
        missing = need - have
        if missing > 1e-9:
            name, scale = CHECKS[shortfall]
            found.append(name)
            score += min(INSUFFICIENT_SCORE, int(INSUFFICIENT_SCORE * missing / scale))
    return found, score


@dataclass
class Waiting:
    """One pending instance's offers since it became pending."""

    since: float = field(default_factory=time.time)
    processed: int = 0
    declined: dict[Shortfall, int] = field(default_factory=dict)
    nearest: list[str] = field(default_factory=list)
    nearest_score: int | None = None

    def seen(self, demand: Demand, free: Resources, result: Fit | Rejection) -> None:
        """One offer matched against the instance: used (a Fit) or declined."""
        self.processed += 1
        if isinstance(result, Fit):
            return
        self.declined[result.shortfall] = self.declined.get(result.shortfall, 0) + 1
        found, score = vetoes(demand, free, result)
        if self.nearest_score is None or score < self.nearest_score:
            self.nearest, self.nearest_score = found, score

    @property
    def reason(self) -> str:
        return ",".join(self.nearest) if self.nearest else NO_OFFER_YET

    def to_json(self) -> dict[str, Any]:
        funnel = []
        reached = self.processed
        for shortfall, (name, _) in CHECKS.items():
            declined = self.declined.get(shortfall, 0)
            funnel.append({"reason": name, "processed": reached, "declined": declined})
            reached -= declined
        return {"since": self.since, "processed": self.processed, "declined": sum(self.declined.values()),
                "funnel": funnel}


class PendingInstances:
    """The `Waiting` record of every instance that is pending now."""

    def __init__(self) -> None:
        self._waiting: dict[Slot, Waiting] = {}

    def now_pending(self, slots: list[Slot]) -> None:
        """Starts records for newly pending instances and drops those no longer pending."""
        current = set(slots)
        for slot in [s for s in self._waiting if s not in current]:
            del self._waiting[slot]
        for slot in slots:
            self._waiting.setdefault(slot, Waiting())

    def seen(self, slot: Slot, demand: Demand, free: Resources, result: Fit | Rejection) -> None:
        self._waiting.setdefault(slot, Waiting()).seen(demand, free, result)

    def launched(self, slot: Slot) -> None:
        self._waiting.pop(slot, None)

    def get(self, slot: Slot) -> Waiting:
        return self._waiting.get(slot) or Waiting()
