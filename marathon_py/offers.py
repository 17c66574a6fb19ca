"""Marathon's view of offer matching: an app's demand, and the processedOffersSummary funnel.

Marathon checks an offer in a fixed order and reports, for the offers an app saw, how many reached
each check (`processed`) and how many were declined there (`declined`). The reasons it has no use
for here (roles, reservations, maintenance, GPUs, scarce resources) are listed with zero declines
so that clients see Marathon's full list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.placement.offers import CHECK_ORDER, Demand, Shortfall
from marathon_py.appdef import App
from marathon_py.instances import iso_now

REASONS: dict[Shortfall, str] = {
    Shortfall.CONSTRAINT: "UnfulfilledConstraint", Shortfall.CPUS: "InsufficientCpus",
    Shortfall.MEM: "InsufficientMemory", Shortfall.DISK: "InsufficientDisk", Shortfall.PORTS: "InsufficientPorts",
}
# Marathon's full funnel, in its order; None marks checks that never decline here
FUNNEL: tuple[tuple[str, Shortfall | None], ...] = (
    ("UnfulfilledRole", None), ("UnfulfilledConstraint", Shortfall.CONSTRAINT),
    ("NoCorrespondingReservationFound", None), ("AgentMaintenance", None),
    ("InsufficientCpus", Shortfall.CPUS), ("InsufficientMemory", Shortfall.MEM),
    ("InsufficientDisk", Shortfall.DISK), ("InsufficientGpus", None),
    ("InsufficientPorts", Shortfall.PORTS), ("DeclinedScarceResources", None),
)
assert [s for _, s in FUNNEL if s is not None] == list(CHECK_ORDER)


def demand_of(app: App) -> Demand:
    """Host ports: the defined ports with requirePorts, else any free port for each definition."""
    ports = tuple(int(p["port"]) if app["requirePorts"] else 0 for p in app["portDefinitions"])
    constraints = tuple(tuple(str(part) for part in c) for c in app["constraints"])
    return Demand(float(app["cpus"]), float(app["mem"]), float(app["disk"]), ports, constraints)


@dataclass
class OfferStats:
    """Offers one app saw since it entered the launch queue, and where the unused ones failed."""

    processed: int = 0
    unused: int = 0
    declined: dict[Shortfall, int] = field(default_factory=dict)
    last_used_at: str | None = None
    last_unused_at: str | None = None

    def record(self, shortfall: Shortfall | None) -> None:
        """One offer seen: used (None) or declined for `shortfall`."""
        self.processed += 1
        if shortfall is None:
            self.last_used_at = iso_now()
            return
        self.unused += 1
        self.last_unused_at = iso_now()
        self.declined[shortfall] = self.declined.get(shortfall, 0) + 1

    def summary(self) -> dict[str, Any]:
        reached = self.processed
        funnel: list[dict[str, Any]] = []
        for reason, shortfall in FUNNEL:
            declined = self.declined.get(shortfall, 0) if shortfall else 0
            funnel.append({"reason": reason, "declined": declined, "processed": reached})
            reached -= declined
        return {
            "processedOffersCount": self.processed, "unusedOffersCount": self.unused,
            "lastUnusedOfferAt": self.last_unused_at, "lastUsedOfferAt": self.last_used_at,
            "rejectSummaryLastOffers": funnel, "rejectSummaryLaunchAttempt": funnel,
        }
