"""Cron schedules of Aurora jobs (UTC), on the core's cron code (shared with Chronos)."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo

from core.clock import Clock, TimerHandle
from core.schedule.base import ScheduleError
from core.schedule.cron import CronCursor, CronSchedule

UTC = ZoneInfo("UTC")
K = TypeVar("K", bound=Hashable)


def parse(text: str) -> CronSchedule | str:
    """The schedule, or the problem with it."""
    try:
        return CronSchedule.parse(text, UTC)
    except ScheduleError as exc:
        return f"cron_schedule: {exc}"


def cursor_after(text: str, now: float) -> CronCursor | None:
    """A cursor at the first instant of the schedule after `now`."""
    schedule = parse(text)
    return schedule.cursor(now) if isinstance(schedule, CronSchedule) else None


class CronTimers(Generic[K]):
    """One timer per cron job on the clock: `on_due(key)` runs at each instant of its schedule
    (instants missed while the process was busy are skipped, never run in a burst)."""

    def __init__(self, clock: Clock, on_due: Callable[[K], None]) -> None:
        self._clock = clock
        self._on_due = on_due
        self._cursors: dict[K, CronCursor] = {}
        self._timers: dict[K, TimerHandle] = {}

    def arm(self, key: K, text: str | None) -> None:
        """(Re)start `key`'s schedule from now; without a (valid) schedule it has no timer."""
        self.disarm(key)
        cursor = cursor_after(text, self._clock.time()) if text else None
        if cursor is not None:
            self._cursors[key] = cursor
            self._set(key)

    def disarm(self, key: K) -> None:
        self._cursors.pop(key, None)
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    def next_run(self, key: K) -> float | None:
        cursor = self._cursors.get(key)
        return cursor.peek() if cursor is not None else None

    def close(self) -> None:
        for key in list(self._timers):
            self.disarm(key)

    def _set(self, key: K) -> None:
        due = self._cursors[key].peek()
        if due is not None:
            self._timers[key] = self._clock.call_at(due, lambda: self._fire(key))

    def _fire(self, key: K) -> None:
        cursor = self._cursors.get(key)
        if cursor is None:
            return
        cursor.skip_through(self._clock.time())
        try:
            self._on_due(key)
        finally:
            self._set(key)
