"""Role quotas: production jobs of a role must fit in its quota (cpu cores, ram MB, disk MB).

A role without a quota has none: production jobs are refused there, as in Aurora. Non-production
jobs do not count against quota, nor does the executor's overhead (the cluster's cost).
"""

from __future__ import annotations

from aurora_py.model import JobConfig, Quota


def job_usage(config: JobConfig) -> Quota:
    r, n = config.resources, config.instances
    return Quota(r.cpu * n, r.ram_mb * n, r.disk_mb * n)


def refusal(role: str, quota: Quota, used: Quota, asked: Quota) -> str | None:
    """Why `asked` does not fit next to `used` in `quota`, or None when it fits."""
    if (used + asked).fits_in(quota):
        return None
    remaining = quota - used
    return (f"Insufficient resource quota for role {role}: requested {asked.describe()}; "
            f"remaining {remaining.describe()} (quota {quota.describe()})")


def check(role: str, quota: Quota, consumed: Quota, config: JobConfig, replacing: JobConfig | None) -> str | None:
    """Why the production job `config` (perhaps replacing `replacing`) does not fit the role's
    quota next to what the role's production jobs consume; None when it fits or is not production."""
    if not config.production:
        return None
    used = consumed - job_usage(replacing) if replacing is not None and replacing.production else consumed
    return refusal(role, quota, used, job_usage(config))
