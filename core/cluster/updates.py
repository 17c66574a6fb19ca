"""At-least-once delivery of one task's status updates, in order.

Rules: updates are sent in the order they were produced; only the oldest unacknowledged one is
in flight; it is re-sent with exponential backoff until acknowledged by its uuid; the next one
is sent as soon as the previous one is acknowledged. An acknowledgement for any other uuid is
ignored (it is a duplicate of an older, already acknowledged update).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from core.driver.types import TaskStatus

RETRY_MAX_SECONDS = 600.0


class UpdateStream:
    def __init__(self, loop: asyncio.AbstractEventLoop, send: Callable[[TaskStatus], None],
                 retry_seconds: float) -> None:
        self._loop = loop
        self._send = send
        self._retry_seconds = retry_seconds
        self._pending: deque[TaskStatus] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._backoff = retry_seconds

    @property
    def pending(self) -> list[TaskStatus]:
        return list(self._pending)

    def push(self, status: TaskStatus) -> None:
        self._pending.append(status)
        if len(self._pending) == 1:
            self._send_head()

    def acknowledge(self, uuid: str) -> bool:
        """Drop the in-flight update if `uuid` is its; returns whether it was."""
        if not self._pending or self._pending[0].uuid != uuid:
            return False
        self._pending.popleft()
        self._cancel_timer()
        self._backoff = self._retry_seconds
        if self._pending:
            self._send_head()
        return True

    def resend(self) -> None:
        """Send the in-flight update again now (a framework re-subscribed)."""
        if self._pending:
            self._cancel_timer()
            self._send_head()

    def close(self) -> None:
        self._cancel_timer()

    def _send_head(self) -> None:
        self._send(self._pending[0])
        self._timer = self._loop.call_later(self._backoff, self._retry)

    def _retry(self) -> None:
        self._timer = None
        self._backoff = min(self._backoff * 2, RETRY_MAX_SECONDS)
        if self._pending:
            self._send_head()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
