"""Offer matching: which queued requests go into which offers (no side effects).

Rules:
- Requests are taken in tiers of equal priority, highest first. Within a tier, offers are
  filled one after the other, and each offer takes requests in queue order, as many tasks of
  each as fit (`core.placement.offers.OfferSpace`: constraints, cpus, mem, disk, ports).
- Constraints see a request's siblings: the tasks of its group already running (`siblings`)
  plus those placed earlier in this same round, on any offer.
- After a tier, if a `holds_queue` request still has tasks left, lower tiers get nothing this
  round (Chronos' high-priority head of line): they must not take what it waits for.
- For each offer a request saw, the result says whether it was used or at which check it
  failed first (`seen`), for the request's `OfferFunnel`.
- A request whose matching raises (a constraint that cannot be evaluated) is set aside in
  `failed` with its error, and the other requests are matched as if it were not there.
- The result keeps the round's offers, so that what is `left` of each (by offer id) can be
  tied to its agent (e.g. to decide preemption there).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import groupby

from core.driver.types import Offer
from core.framework.launch_queue import LaunchRequest
from core.placement.constraints import Placement
from core.placement.offers import Fit, OfferSpace, Rejection, Shortfall
from core.resources import Resources

Siblings = Callable[[str], Sequence[Placement]]


@dataclass
class Match:
    offers: list[Offer] = field(default_factory=list)  # the offers of the round, in the order matched
    placed: list[tuple[LaunchRequest, Offer, Fit]] = field(default_factory=list)
    seen: list[tuple[LaunchRequest, Shortfall | None, str]] = field(default_factory=list)
    left: dict[str, Resources] = field(default_factory=dict)  # by offer id: what no request took
    failed: list[tuple[LaunchRequest, Exception]] = field(default_factory=list)  # matching it raised

    def used(self, offer_id: str) -> list[tuple[LaunchRequest, Fit]]:
        return [(r, f) for r, o, f in self.placed if o.id == offer_id]


def placement_of(offer: Offer) -> Placement:
    return Placement(offer.hostname, {a.name: a.value for a in offer.attributes})


def match(offers: Sequence[Offer], requests: Sequence[LaunchRequest], siblings: Siblings) -> Match:
    """Place `requests` (in queue order) into `offers`; see the module rules."""
    result = Match(offers=list(offers))
    spaces = {o.id: OfferSpace(o.resources, placement_of(o)) for o in offers}
    wanted = {r.key: r.count for r in requests}
    known: dict[str, list[Placement]] = {}  # by group: running siblings, then those placed this round
    for _, tier_iter in groupby(requests, key=lambda r: r.priority):
        tier = list(tier_iter)
        for offer in offers:
            space = spaces[offer.id]
            for request in tier:
                if wanted[request.key] <= 0:
                    continue
                before = wanted[request.key]
                first: Rejection | None = None
                while wanted[request.key] > 0:
                    placed = known.get(request.group)
                    if placed is None:
                        placed = known[request.group] = list(siblings(request.group))
                    try:
                        fit = space.fit(request.demand, placed)
                    except Exception as exc:
                        result.failed.append((request, exc))
                        wanted[request.key] = 0
                        break
                    if isinstance(fit, Rejection):
                        first = fit if wanted[request.key] == before else None
                        break
                    # OfferSpace.place would also remember the task for its own sibling count
                    space.resources = space.resources - request.demand.resources(fit.host_ports)
                    placed.append(space.here)
                    result.placed.append((request, offer, fit))
                    wanted[request.key] -= 1
                if result.failed and result.failed[-1][0] is request:
                    continue
                used = wanted[request.key] < before
                result.seen.append((request, None if used else first.shortfall if first else None,
                                    "" if used or first is None else first.detail))
        if any(r.holds_queue and wanted[r.key] > 0 for r in tier):
            break
    result.left = {offer_id: space.resources for offer_id, space in spaces.items()}
    return result
