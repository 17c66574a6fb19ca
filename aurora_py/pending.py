"""Why pending instances wait: Aurora's pending reason, and the offers each one saw.

Rules:
- From the moment an instance is queued until it launches, every offer it is matched against is
  counted by the kit's launch queue (`OfferFunnel`), a declined one by the first check it failed,
  in the order offers are checked (constraints, CPU, RAM, disk, ports): shown here with
  Aurora's words for the checks.
- The reason is Aurora's (its scheduler's getPendingReason): the vetoes against the offer that came
  nearest to fitting, joined by ',' ("Insufficient: CPU,Insufficient: RAM"), judged against what
  each offer had left once the round placed what it could. Nearest is scored as Aurora's
  NearestFit does: a missing resource scores up to 1000 in proportion to how much is missing
  (CPU over 16 cores, RAM over 24 GB, disk over 450 GB, ports over 1000), an unmet constraint
  10000; the lowest total wins. Before any offer: "Waiting for an offer".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.framework.launch_queue import OfferFunnel
from core.placement.offers import CHECK_ORDER, Demand, Rejection, Shortfall
from core.resources import Resources

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
class NearestFit:
    """The vetoes of the offer that came nearest to fitting one pending instance."""

    nearest: list[str] = field(default_factory=list)
    score: int | None = None

    def declined(self, demand: Demand, free: Resources, rejection: Rejection) -> None:
        found, score = vetoes(demand, free, rejection)
        if self.score is None or score < self.score:
            self.nearest, self.score = found, score

    @property
    def reason(self) -> str:
        return ",".join(self.nearest) if self.nearest else NO_OFFER_YET


@dataclass(frozen=True)
class Pending:
    """Why one pending instance waits: Aurora's reason, and the offers it saw since `since`."""

    instance: int
    reason: str
    funnel: OfferFunnel | None
    since: float


def pending_json(pending: Pending) -> dict[str, Any]:
    """A pending instance as `job status` shows it."""
    return {"instance": pending.instance, "reason": pending.reason,
            "offers": offers_json(pending.funnel, pending.since)}


def offers_json(funnel: OfferFunnel | None, since: float) -> dict[str, Any]:
    """The offers one pending instance saw, as `job status` shows them."""
    funnel = funnel or OfferFunnel()
    steps = []
    reached = funnel.processed
    for shortfall, (name, _) in CHECKS.items():
        declined = funnel.declined.get(shortfall, 0)
        steps.append({"reason": name, "processed": reached, "declined": declined})
        reached -= declined
    return {"since": since, "processed": funnel.processed, "declined": sum(funnel.declined.values()),
            "funnel": steps}
