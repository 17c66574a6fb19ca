"""Who gets offered which agent next: dominant resource fairness, as Mesos' allocator does it.

A framework's dominant share is the largest, over cpus/mem/disk, of (resources it holds or has
been offered) / (the cluster's total). Each free agent goes to the eligible framework with the
smallest dominant share (ties: the one that subscribed first); giving it the agent raises that
share before the next agent is handed out.

An offer goes to one role of the framework. A (framework, role) pair is eligible for an agent
when the role is one the framework takes offers for now (subscribed, not suppressed), no
unexpired decline filter of that role names the agent, and the role's offer constraints do not
exclude the agent. Among a framework's eligible roles, the one holding the least (dominant share)
gets the agent (ties: the framework's order of roles). Unlike Mesos, which shares fairly among
roles first and among the frameworks of a role second, fairness here is between frameworks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from core.cluster.offer_constraints import OfferConstraints
from core.resources import Resources

SHARE_KINDS = ("cpus", "mem", "disk")


@dataclass
class FrameworkClaim:
    framework_id: str
    order: int  # subscription order, for stable ties
    allocated: Resources
    filters: dict[tuple[str, str], float] = field(default_factory=dict)  # (agent_id, role) -> refused until
    roles: tuple[str, ...] = ("*",)  # the roles that may be offered to now
    role_allocated: dict[str, Resources] = field(default_factory=dict)
    constraints: OfferConstraints = field(default_factory=OfferConstraints)


@dataclass(frozen=True)
class FreeAgent:
    agent_id: str
    free: Resources
    hostname: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Allocation:
    framework_id: str
    role: str
    agent_id: str
    resources: Resources


def dominant_share(allocated: Resources, total: Resources) -> float:
    return max(
        (allocated.scalars.get(kind, 0.0) / total.scalars[kind]
         for kind in SHARE_KINDS if total.scalars.get(kind, 0.0) > 0),
        default=0.0,
    )


def allocate(agents: Iterable[FreeAgent], frameworks: list[FrameworkClaim], total: Resources,
             now: float) -> list[Allocation]:
    """Return the offers to make; mutates each winning claim's `allocated` and `role_allocated`."""
    offers: list[Allocation] = []
    for agent in agents:
        if agent.free.is_empty():
            continue
        eligible = [
            (claim, role) for claim in frameworks for role in claim.roles
            if claim.filters.get((agent.agent_id, role), 0.0) <= now
            and not claim.constraints.excludes(role, agent.hostname, agent.attributes)
        ]
        if not eligible:
            continue
        claim, role = min(eligible, key=lambda pair: (
            dominant_share(pair[0].allocated, total), pair[0].order,
            dominant_share(pair[0].role_allocated.get(pair[1], Resources()), total), pair[0].roles.index(pair[1])))
        claim.allocated = claim.allocated + agent.free
        claim.role_allocated[role] = claim.role_allocated.get(role, Resources()) + agent.free
        offers.append(Allocation(claim.framework_id, role, agent.agent_id, agent.free))
    return offers
