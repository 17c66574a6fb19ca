"""Relaunch backoff: after a task of an object fails, its next launch waits, longer each time.

Marathon's model, used by every framework of the kit: the n-th failure in a row delays the next
launch by `seconds * factor ** (n - 1)`, at most `max_seconds`. A task that reaches RUNNING and
stays up does not reset the count by itself: the framework calls `reset` when the object's
configuration changes (a new version starts afresh) or when it decides the task was healthy.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BackoffPolicy:
    seconds: float = 1.0
    factor: float = 1.15
    max_seconds: float = 300.0

    def delay(self, failures: int) -> float:
        if failures <= 0:
            return 0.0
        try:
            delay = self.seconds * self.factor ** (failures - 1)
        except OverflowError:
            return self.max_seconds
        return min(delay, self.max_seconds)


@dataclass
class _Entry:
    failures: int = 0
    until: float = 0.0


class Backoff:
    """Failures and the earliest next launch, per key (an app id, a job key and instance)."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def failed(self, key: str, policy: BackoffPolicy, now: float) -> float:
        """Count one failure at `now`; returns the instant before which `key` may not launch."""
        entry = self._entries.setdefault(key, _Entry())
        entry.failures += 1
        entry.until = now + policy.delay(entry.failures)
        return entry.until

    def until(self, key: str) -> float:
        entry = self._entries.get(key)
        return 0.0 if entry is None else entry.until

    def failures(self, key: str) -> int:
        entry = self._entries.get(key)
        return 0 if entry is None else entry.failures

    def reset(self, key: str) -> None:
        self._entries.pop(key, None)

    def delayed(self, now: float) -> list[tuple[str, float]]:
        """Keys still waiting at `now`, with the instant each may launch again."""
        return [(k, e.until) for k, e in self._entries.items() if e.until > now]
