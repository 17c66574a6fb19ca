"""Small pure helpers the templates use: times, durations, sizes, bars and resource ranges."""

from __future__ import annotations

import datetime
import json
from typing import Any
from zoneinfo import ZoneInfo

UTC = datetime.UTC


def parse_time(value: Any) -> datetime.datetime | None:
    """An ISO 8601 string (Marathon's, Chronos') or epoch seconds (Aurora's), as an aware datetime."""
    if value in (None, ""):
        return None
    if isinstance(value, int | float):
        return datetime.datetime.fromtimestamp(float(value), UTC)
    try:
        parsed = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def when(value: Any, zone: str | None = None) -> str:
    """A moment as `2026-12-03 13:57:28 UTC` (or in `zone`); '' for none."""
    moment = parse_time(value)
    if moment is None:
        return ""
    tz: datetime.tzinfo = UTC
    if zone:
        try:
            tz = ZoneInfo(zone)
        except (KeyError, ValueError):
            tz = UTC
    local = moment.astimezone(tz)
    return local.strftime("%Y-%m-%d %H:%M:%S ") + (local.tzname() or "UTC")


def duration(seconds: float | None) -> str:
    """A length of time for people: 850 ms, 12.5 s, 3 min 20 s, 2 h 5 min, 3 d 4 h."""
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s".replace(".0 s", " s")
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def megabytes(value: float | None) -> str:
    """A size given in MB: 512 MB, 1.5 GB."""
    if value is None:
        return ""
    if value >= 1024:
        return f"{value / 1024:.1f} GB".replace(".0 GB", " GB")
    return f"{value:.0f} MB"


def number(value: float | None) -> str:
    """A resource amount without noise: 2, 0.25, 0.1."""
    if value is None:
        return ""
    return f"{value:.2f}".rstrip("0").rstrip(".") or "0"


def port_count(ranges: Any) -> int:
    """How many ports `[31000-31009, 31020-31020]` (Mesos' text form) or a list of ranges hold."""
    if not ranges:
        return 0
    if isinstance(ranges, list):
        return sum(int(r.get("end", 0)) - int(r.get("begin", 0)) + 1 for r in ranges if isinstance(r, dict))
    total = 0
    for part in str(ranges).strip("[]").split(","):
        low, _, high = part.strip().partition("-")
        if low.strip().isdigit():
            total += int(high or low) - int(low) + 1
    return total


def percent(used: float, total: float) -> float:
    """`used` of `total` in percent, within 0..100 (0 of nothing is 0)."""
    if total <= 0:
        return 0.0
    return max(0.0, min(100.0, used * 100.0 / total))


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=False, ensure_ascii=False)
