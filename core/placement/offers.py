"""Matching task demands against one offer, and saying why a demand does not fit.

Rules:
- Checks run in a fixed order (`CHECK_ORDER`): constraints, cpus, mem, disk, ports. The first that
  fails is the `Rejection`; a scheduler that counts rejections per check gets a funnel of how far
  offers got (Marathon's `processedOffersSummary` is such a funnel).
- A demanded port of 0 takes any free port of the offer (lowest first); any other value must be
  in the offer and not yet taken. Ports are returned in the order they were demanded.
- Several demands may be placed in one offer: `OfferSpace.place` takes what a fit uses, so the
  next demand sees only what is left, and its constraints see the tasks placed before it.
- Nothing here knows a framework: demands and placements are plain values.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import islice

from core.placement.constraints import Placement, satisfies
from core.resources import Resources, iter_ports, ranges_contain

_EPSILON = 1e-9


class Shortfall(enum.Enum):
    """What an offer lacked for a demand."""

    CONSTRAINT = "constraint"
    CPUS = "cpus"
    MEM = "mem"
    DISK = "disk"
    PORTS = "ports"


CHECK_ORDER: tuple[Shortfall, ...] = tuple(Shortfall)


@dataclass(frozen=True)
class Demand:
    """What one task needs. `ports`: 0 for any free port, else that exact port."""

    cpus: float
    mem: float
    disk: float = 0.0
    ports: tuple[int, ...] = ()
    constraints: tuple[tuple[str, ...], ...] = ()

    def resources(self, host_ports: Sequence[int]) -> Resources:
        return Resources.of(self.cpus, self.mem, self.disk, ports=list(host_ports))


@dataclass(frozen=True)
class Fit:
    host_ports: tuple[int, ...]


@dataclass(frozen=True)
class Rejection:
    shortfall: Shortfall
    detail: str


@dataclass
class OfferSpace:
    """What is left of one offer while tasks are placed into it."""

    resources: Resources
    here: Placement
    placed_here: list[tuple[str, Placement]] = field(default_factory=list)  # (group, where) placed in this offer

    def fit(self, demand: Demand, placed: Sequence[Placement], group: str = "") -> Fit | Rejection:
        """Whether `demand` fits in what is left, with its siblings already running at `placed`.

        `group` names the demand's siblings (e.g. an app id) so that tasks placed earlier in this
        same offer count for its constraints too.
        """
        siblings = [*placed, *(p for g, p in self.placed_here if g == group)] if demand.constraints else []
        for constraint in demand.constraints:
            if not satisfies(constraint, self.here, siblings):
                return Rejection(Shortfall.CONSTRAINT, " ".join(constraint))
        for shortfall, need, have in ((Shortfall.CPUS, demand.cpus, self.resources.cpus),
                                      (Shortfall.MEM, demand.mem, self.resources.mem),
                                      (Shortfall.DISK, demand.disk, self.resources.disk)):
            if need > have + _EPSILON:
                return Rejection(shortfall, f"needs {need:g} {shortfall.value}, offer has {have:g}")
        if not demand.ports:
            return Fit(())
        specific = {p for p in demand.ports if p}
        missing = sorted(p for p in specific if not ranges_contain(self.resources.ports, p))
        if missing:
            return Rejection(Shortfall.PORTS, f"port {missing[0]} is not offered")
        wanted = demand.ports.count(0)
        anywhere = list(islice((p for p in iter_ports(self.resources.ports) if p not in specific), wanted))
        if len(anywhere) < wanted:
            return Rejection(Shortfall.PORTS, f"needs {wanted} ports, offer has {len(anywhere)}")
        pick = iter(anywhere)
        return Fit(tuple(p if p else next(pick) for p in demand.ports))

    def place(self, demand: Demand, fit: Fit, group: str = "") -> None:
        self.resources = self.resources - demand.resources(fit.host_ports)
        self.placed_here.append((group, self.here))
