"""`--watch`: follow a change (a deployment, an update, a job's start) until it ends or times out."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from rich.progress import BarColumn, TaskProgressColumn, TextColumn
from rich.progress import Progress as Bar

from core.clikit.errors import fail
from core.clikit.output import console

DEFAULT_TIMEOUT = 1800.0  # generous: a rolling change of many instances with health checks takes minutes


@dataclass(frozen=True)
class Progress:
    """Where a watched change is: one line saying so, and how far along it is (`completed` of
    `total`, in any unit; `total` None when unknown)."""

    text: str
    completed: float = 0.0
    total: float | None = None


def follow(poll: Callable[[], Progress | None], what: str, timeout: float = DEFAULT_TIMEOUT,
           interval: float = 0.5, err: bool = False) -> None:
    """Call `poll` every `interval` seconds until it answers None (the change ended).

    On a terminal a progress bar shows the line and the fraction done; elsewhere (a pipe, a log)
    one line is printed each time the line changes. When the change has not ended after `timeout`
    seconds, the command ends with exit 1 naming `what` (the change itself goes on)."""
    out = console(err=err)
    deadline = time.monotonic() + timeout
    if out.is_terminal:
        with Bar(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), console=out,
                 transient=True) as bar:
            row = bar.add_task(what, total=None)
            while (progress := poll()) is not None:
                bar.update(row, description=progress.text, completed=progress.completed, total=progress.total)
                _wait(deadline, interval, what, timeout)
        return
    shown = ""
    while (progress := poll()) is not None:
        if progress.text != shown:
            out.print(progress.text, soft_wrap=True)
            shown = progress.text
        _wait(deadline, interval, what, timeout)


def _wait(deadline: float, interval: float, what: str, timeout: float) -> None:
    left = deadline - time.monotonic()
    if left <= 0:
        fail(f"{what} did not end within {timeout:g} s (it goes on; --timeout waits longer)")
    time.sleep(min(interval, left))
