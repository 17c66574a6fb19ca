"""The Thermos executor's own resources, added on top of every task's, as Aurora's scheduler adds them.

Rules (Aurora's `-thermos_executor_cpu` and `-thermos_executor_ram` scheduler flags):
- Every task is offered, launched and limited with its `Resources` plus the executor's overhead:
  0.25 CPU and 128 MB of RAM unless configured otherwise. Disk and ports get nothing extra.
- The overhead is set in the server's environment: `TRIREME_AURORA_THERMOS_EXECUTOR_CPU` (cores,
  e.g. `0.5`) and `TRIREME_AURORA_THERMOS_EXECUTOR_RAM` (`256MB`, `1GB`, or a plain number of MB).
- Quota counts a task's own resources only, as in Aurora; the overhead is the cluster's cost.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from aurora_py.errors import OverheadSettingInvalid
from aurora_py.model import JobConfig
from core.placement.offers import Demand

log = logging.getLogger(__name__)
CPU_ENV = "TRIREME_AURORA_THERMOS_EXECUTOR_CPU"
RAM_ENV = "TRIREME_AURORA_THERMOS_EXECUTOR_RAM"
_AMOUNT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB)?\s*$", re.IGNORECASE)
_MB_PER_UNIT = {"B": 1 / 2**20, "KB": 1 / 1024, "MB": 1.0, "GB": 1024.0, "TB": 1024.0**2}


@dataclass(frozen=True)
class ExecutorOverhead:
    cpus: float = 0.25
    mem_mb: float = 128.0

    def demand(self, config: JobConfig, constraints: tuple[tuple[str, ...], ...] = ()) -> Demand:
        """What one instance of `config` takes from an offer: its task's resources plus this
        overhead, any free port for each named port, and the placement `constraints`."""
        resources = config.resources
        return Demand(cpus=resources.cpu + self.cpus, mem=resources.ram_mb + self.mem_mb, disk=resources.disk_mb,
                      ports=tuple(0 for _ in config.ports), constraints=constraints)

    @classmethod
    def parse(cls, environ: Mapping[str, str]) -> ExecutorOverhead:
        """The overhead the environment configures; raises OverheadSettingInvalid naming a bad variable."""
        default = cls()
        cpus, mem_mb = default.cpus, default.mem_mb
        if environ.get(CPU_ENV, "").strip():
            text = environ[CPU_ENV]
            try:
                cpus = float(text)
            except ValueError:
                raise OverheadSettingInvalid(f"{CPU_ENV}: {text!r} is not a number of CPU cores (e.g. 0.25)") from None
            if not cpus >= 0 or cpus == float("inf"):
                raise OverheadSettingInvalid(f"{CPU_ENV}: {text!r} must be a non-negative number of CPU cores")
        if environ.get(RAM_ENV, "").strip():
            text = environ[RAM_ENV]
            match = _AMOUNT.match(text)
            if match is None:
                raise OverheadSettingInvalid(f"{RAM_ENV}: {text!r} is not an amount of memory (e.g. 128MB, 1GB)")
            mem_mb = float(match.group(1)) * _MB_PER_UNIT[(match.group(2) or "MB").upper()]
        return cls(cpus, mem_mb)

    @classmethod
    def from_environment(cls) -> ExecutorOverhead:
        """The configured overhead; a bad setting is logged and Aurora's default is used instead."""
        try:
            return cls.parse(os.environ)
        except OverheadSettingInvalid as exc:
            default = cls()
            log.error("%s; using Aurora's default executor overhead (%g CPU, %g MB)", exc, default.cpus,
                      default.mem_mb)
            return default
