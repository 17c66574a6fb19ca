"""Role quotas: production jobs of a role must fit in its quota (cpu cores, ram MB, disk MB).

A role without a quota has none: production jobs are refused there, as in Aurora. Non-production
jobs do not count against quota.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MB = 1024 * 1024


@dataclass(frozen=True)
class Usage:
    cpu: float = 0.0
    ram_mb: float = 0.0
    disk_mb: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.cpu + other.cpu, self.ram_mb + other.ram_mb, self.disk_mb + other.disk_mb)

    def __sub__(self, other: Usage) -> Usage:
        return Usage(self.cpu - other.cpu, self.ram_mb - other.ram_mb, self.disk_mb - other.disk_mb)

    def fits_in(self, other: Usage) -> bool:
        eps = 1e-9
        return self.cpu <= other.cpu + eps and self.ram_mb <= other.ram_mb + eps and self.disk_mb <= other.disk_mb + eps

    def to_json(self) -> dict[str, float]:
        return {"numCpus": self.cpu, "ramMb": self.ram_mb, "diskMb": self.disk_mb}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Usage:
        return cls(float(data.get("numCpus", 0)), float(data.get("ramMb", 0)), float(data.get("diskMb", 0)))

    def describe(self) -> str:
        return f"cpu {self.cpu:g}, ram {self.ram_mb:g} MB, disk {self.disk_mb:g} MB"


def is_production(description: dict[str, Any]) -> bool:
    return bool(description.get("production")) or description.get("tier") == "preferred"


def job_usage(description: dict[str, Any]) -> Usage:
    resources = description.get("task", {}).get("resources", {})
    instances = int(description.get("instances", 1))
    return Usage(float(resources.get("cpu", 0)) * instances, float(resources.get("ram", 0)) / MB * instances,
                 float(resources.get("disk", 0)) / MB * instances)


def refusal(role: str, quota: Usage, used: Usage, asked: Usage) -> str | None:
    """Why `asked` does not fit next to `used` in `quota`, or None when it fits."""
    if (used + asked).fits_in(quota):
        return None
    remaining = quota - used
    return (f"Insufficient resource quota for role {role}: requested {asked.describe()}; "
            f"remaining {remaining.describe()} (quota {quota.describe()})")
