"""Who gets offered which agent next: dominant resource fairness, as Mesos' allocator does it.

A framework's dominant share is the largest, over cpus/mem/disk, of (resources it holds or has
been offered) / (the cluster's total). Each free agent goes to the eligible framework with the
smallest dominant share (ties: the one that subscribed first); giving it the agent raises that
share before the next agent is handed out. A framework is eligible for an agent when it is
subscribed, not suppressed, and has no unexpired decline filter for that agent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from core.resources import Resources

SHARE_KINDS = ("cpus", "mem", "disk")


@dataclass
class FrameworkClaim:
    framework_id: str
    order: int  # subscription order, for stable ties
    allocated: Resources
    filters: dict[str, float] = field(default_factory=dict)  # agent_id -> refused until (monotonic)


@dataclass(frozen=True)
class FreeAgent:
    agent_id: str
    free: Resources


def dominant_share(allocated: Resources, total: Resources) -> float:
    return max(
        (allocated.scalars.get(kind, 0.0) / total.scalars[kind]
         for kind in SHARE_KINDS if total.scalars.get(kind, 0.0) > 0),
        default=0.0,
    )


def allocate(agents: Iterable[FreeAgent], frameworks: list[FrameworkClaim], total: Resources,
             now: float) -> list[tuple[str, str, Resources]]:
    """Return (framework_id, agent_id, resources) offers to make; mutates each claim's `allocated`."""
    offers: list[tuple[str, str, Resources]] = []
    for agent in agents:
        if agent.free.is_empty():
            continue
        eligible = [f for f in frameworks if f.filters.get(agent.agent_id, 0.0) <= now]
        if not eligible:
            continue
        winner = min(eligible, key=lambda f: (dominant_share(f.allocated, total), f.order))
        winner.allocated = winner.allocated + agent.free
        offers.append((winner.framework_id, agent.agent_id, agent.free))
    return offers
