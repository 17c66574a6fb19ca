"""The cluster page: agents and their resources, frameworks with their DRF shares, outstanding
offers and each framework's supervision state (`/master/state`, `/health`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from core.ui import format as fmt
from core.ui.client import Api, ApiError
from core.ui.pages import Pages

SCALARS = ("cpus", "mem", "disk")


@dataclass(frozen=True)
class Usage:
    name: str
    used: float
    total: float

    @property
    def label(self) -> str:
        if self.name == "ports":
            return f"{self.used:.0f} of {self.total:.0f} ports"
        show = fmt.megabytes if self.name in ("mem", "disk") else fmt.number
        return f"{show(self.used)} of {show(self.total)} {self.name if self.name == 'cpus' else ''}".rstrip()


def agent_usage(agent: dict[str, Any]) -> list[Usage]:
    total = agent.get("resources") or {}
    used = agent.get("used_resources") or {}
    rows = [Usage(name, float(used.get(name) or 0), float(total.get(name) or 0)) for name in SCALARS]
    rows.append(Usage("ports", float(fmt.port_count(used.get("ports"))), float(fmt.port_count(total.get("ports")))))
    return rows


def drf_share(used: dict[str, Any], totals: dict[str, float]) -> tuple[float, str]:
    """A framework's dominant share (DRF): its largest fraction of any of the cluster's scalar
    resources, with the resource it is of."""
    best, dominant = 0.0, ""
    for name in SCALARS:
        total = totals.get(name, 0.0)
        if total > 0:
            share = float(used.get(name) or 0) / total
            if share > best:
                best, dominant = share, name
    return best, dominant


def cluster_totals(agents: list[dict[str, Any]]) -> dict[str, float]:
    return {name: sum(float((a.get("resources") or {}).get(name) or 0) for a in agents) for name in SCALARS}


class ClusterPages:
    def __init__(self, pages: Pages) -> None:
        self.pages = pages

    def routes(self) -> list[Route]:
        return [Route("/ui", self.pages.page("cluster.html", self.cluster, "Cluster"))]

    async def cluster(self, request: Request, api: Api) -> dict[str, Any]:
        state = await api.get("/master/state")
        status, body = await api.get_raw("/health")  # 503 when a framework is not running: still its answer
        if status not in (200, 503):
            raise ApiError("/health", status, body.decode("utf-8", "replace")[:200])
        health = json.loads(body)
        agents = state.get("slaves", [])
        totals = cluster_totals(agents)
        frameworks = []
        for fw in state.get("frameworks", []):
            share, dominant = drf_share(fw.get("used_resources") or {}, totals)
            frameworks.append({"fw": fw, "share": share, "dominant": dominant,
                               "health": health.get("frameworks", {}).get(fw.get("name"), {})})
        frameworks.sort(key=lambda f: -f["share"])
        offers = [dict(o, framework=fw.get("name"), summary=resource_summary(o.get("resources", [])))
                  for fw in state.get("frameworks", []) for o in fw.get("offers", [])]
        known = {f["fw"].get("name") for f in frameworks}
        unsubscribed = {name: h for name, h in health.get("frameworks", {}).items() if name not in known}
        return {"agents": [{"agent": a, "usage": agent_usage(a)} for a in agents], "frameworks": frameworks,
                "offers": offers, "health": health, "unsubscribed": unsubscribed, "totals": totals}


def resource_summary(resources: list[dict[str, Any]]) -> str:
    """Mesos' resource list (an offer's) in a few words: `cpus 1.5, mem 2 GB, ports 31000-31099`."""
    parts = []
    for r in resources:
        name = r.get("name", "")
        if "scalar" in r:
            value = float(r["scalar"].get("value", 0))
            parts.append(f"{name} {fmt.megabytes(value) if name in ('mem', 'disk') else fmt.number(value)}")
        elif "ranges" in r:
            ranges = r["ranges"].get("range", [])
            parts.append(f"{name} " + ", ".join(f"{x.get('begin')}-{x.get('end')}" for x in ranges))
    return ", ".join(parts)
