"""Running a task's processes with Thermos's rules.

Rules:
- Regular processes run in parallel unless `order` constraints chain them: a process starts
  once every process before it in a chain has succeeded.
- A process that exits non-zero is rerun until it has failed `max_failures` times (0: forever),
  waiting `min_duration` seconds between runs. A `daemon` is rerun after success as well.
- The task is done when every non-ephemeral regular process is terminal (or can never start);
  ephemeral processes are then killed. It fails once `max_failures` processes have failed.
- Then CLEANING (SIGTERM to what still runs, SIGKILL after a grace) and FINALIZING: `final`
  processes run, in their own order, within `finalization_wait` seconds of the end.
- SIGTERM to the executor ends ACTIVE at once and goes through the same CLEANING and
  FINALIZING; the task ends KILLED.
- Processes that daemonized out of a process (see `adopted`) belong to the task: they are ended
  in CLEANING with the processes, and after FINALIZING whatever is left is killed.
- Each run writes `.logs/<process>/<run>/stdout` and `stderr` in the sandbox, rotated by size
  as the process's `logger` says (`logs`), checked every `ROTATE_CHECK_SECONDS` while the run
  goes on and once when it ends.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aurora_py.thermos import shell
from aurora_py.thermos.adopted import Adopted
from aurora_py.thermos.logs import rotation_of
from aurora_py.thermos.status import TERMINAL, ProcessState, ProcessStatus, Run, TaskState, TaskStatus
from core.cluster.logrotate import LogPolicies, check_all

POLL_SECONDS = 0.05
TERM_GRACE_SECONDS = 5.0
ROTATE_CHECK_SECONDS = 1.0
_TEMPLATE = re.compile(r"\{\{\s*([^}]+?)\s*\}\}")


def substitute(text: str, bindings: dict[str, str]) -> str:
    """Fill `{{mesos.instance}}`-style references the client left for the executor."""
    return _TEMPLATE.sub(lambda m: bindings.get(m.group(1), m.group(0)), text)


@dataclass
class _Process:
    spec: dict[str, Any]
    status: ProcessStatus
    after: set[str] = field(default_factory=set)
    popen: subprocess.Popen[bytes] | None = None
    next_start: float = 0.0
    signalled: bool = False  # the current run was told to stop: its exit is a kill, not a failure


class TaskRunner:
    def __init__(self, task: dict[str, Any], sandbox: Path, bindings: dict[str, str]) -> None:
        self.task = task
        self.sandbox = sandbox
        self.bindings = bindings
        self.status = TaskStatus(name=str(task.get("name", "task")))
        self.processes: dict[str, _Process] = {}
        for spec in task.get("processes", []):
            status = ProcessStatus(name=spec["name"])
            self.status.processes[spec["name"]] = status
            self.processes[spec["name"]] = _Process(spec=spec, status=status)
        for constraint in task.get("constraints", []):
            chain = list(constraint.get("order", []))
            for before, after in itertools.pairwise(chain):
                if after in self.processes:
                    self.processes[after].after.add(before)
        self.killed = False
        self.adopted = Adopted(self._started_pids)
        self.rotation_due = 0.0

    def _started_pids(self) -> set[int]:
        return {p.popen.pid for p in self.processes.values() if p.popen is not None}

    def kill(self, *_: object) -> None:
        self.killed = True

    # -- one process ---------------------------------------------------------------------------

    def _start(self, process: _Process) -> None:
        run_number = len(process.status.runs)
        logs = self.sandbox / ".logs" / process.status.name / str(run_number)
        logs.mkdir(parents=True, exist_ok=True)
        command = substitute(str(process.spec["cmdline"]), self.bindings)
        # Its own process group, so a signal reaches the whole process tree; but the task's session,
        # so the agent's sweep still finds whatever is left if this executor dies.
        # appending: a write after the rotation's truncation lands at the file's start
        with open(logs / "stdout", "ab") as out, open(logs / "stderr", "ab") as err:
            process.popen = subprocess.Popen(shell.argv(command, self.sandbox), cwd=self.sandbox, stdout=out,
                                             stderr=err, stdin=subprocess.DEVNULL, process_group=0)
        process.status.runs.append(Run(run=run_number, pid=process.popen.pid, start_time=time.time()))
        process.status.state = ProcessState.RUNNING
        self._save()

    def _reap(self, process: _Process) -> bool:
        """Records an exit; True if the process exited since the last poll."""
        if process.popen is None or (code := process.popen.poll()) is None:
            return False
        process.popen = None
        self._rotate([process])  # what the run wrote last
        run = process.status.runs[-1]
        run.stop_time, run.exit_code = time.time(), code
        spec = process.spec
        if process.signalled:
            process.signalled = False
            run.state = process.status.state = ProcessState.KILLED
        elif code == 0:
            run.state = ProcessState.SUCCESS
            process.status.state = ProcessState.WAITING if spec.get("daemon") else ProcessState.SUCCESS
        else:
            run.state = ProcessState.FAILED
            process.status.failures += 1
            limit = int(spec.get("max_failures", 1))
            if limit == 0 or process.status.failures < limit:
                process.status.state = ProcessState.WAITING
            else:
                process.status.state = ProcessState.FAILED
        process.next_start = run.start_time + float(spec.get("min_duration", 5))
        self._save()
        return True

    def _rotate(self, processes: list[_Process]) -> None:
        """Rotate the current run's logs of each of `processes` past its limit."""
        watched = []
        for process in processes:
            policy = rotation_of(process.spec)
            if policy is not None and process.status.runs:
                logs = self.sandbox / ".logs" / process.status.name / str(process.status.runs[-1].run)
                watched.append((process.status.name, logs, LogPolicies(policy, policy)))
        if watched:
            check_all(watched)

    def _signal(self, process: _Process, sig: int) -> None:
        if process.popen is not None:
            process.signalled = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.popen.pid, sig)

    # -- the task ------------------------------------------------------------------------------

    def _ready(self, process: _Process, group: list[_Process]) -> bool:
        names = {p.status.name for p in group}
        return (process.status.state is ProcessState.WAITING and process.popen is None
                and time.time() >= process.next_start
                and all(self.status.processes[b].state is ProcessState.SUCCESS for b in process.after if b in names))

    def _blocked(self, process: _Process) -> bool:
        return any(self.status.processes[b].state in (ProcessState.FAILED, ProcessState.KILLED)
                   or (b in self.processes and self._blocked(self.processes[b])) for b in process.after)

    def _run_group(self, group: list[_Process], deadline: float | None) -> None:
        """Runs `group` until its non-ephemeral members are done, the task fails, a kill
        arrives (for the main group) or the deadline passes."""
        task_limit = int(self.task.get("max_failures", 1)) or len(group) + 1
        while True:
            for process in group:
                self._reap(process)
            if time.time() >= self.rotation_due:
                self.rotation_due = time.time() + ROTATE_CHECK_SECONDS
                self._rotate([p for p in group if p.popen is not None])
            self.adopted.live()  # reaps daemons of the task that ended
            if self.killed and deadline is None:
                return
            if deadline is not None and time.time() >= deadline:
                return
            failed = sum(p.status.state is ProcessState.FAILED for p in group)
            if failed >= task_limit:
                self.status.message = f"{failed} process(es) failed"
                return
            waiting_on = [p for p in group if not p.spec.get("ephemeral")
                          and p.status.state not in TERMINAL and not self._blocked(p)]
            if not waiting_on:
                return
            concurrency = int(self.task.get("max_concurrency", 0)) or len(group)
            running = sum(p.popen is not None for p in group)
            for process in group:
                if running < concurrency and self._ready(process, group):
                    self._start(process)
                    running += 1
            time.sleep(POLL_SECONDS)

    def _terminate(self, group: list[_Process], grace: float) -> None:
        """SIGTERM to the group's running processes and to the task's adopted daemons, SIGKILL to
        what is left after `grace` seconds."""
        live = [p for p in group if p.popen is not None]
        for process in live:
            self._signal(process, signal.SIGTERM)
        stop = time.time() + grace
        while (self.adopted.terminate() or any(p.popen is not None for p in live)) and time.time() < stop:
            for process in live:
                self._reap(process)
            time.sleep(POLL_SECONDS)
        for process in live:
            self._signal(process, signal.SIGKILL)
            if process.popen is not None:
                process.popen.wait()
                self._reap(process)
        self.adopted.kill()
        for process in group:
            if process.status.state is ProcessState.WAITING and process.status.runs:
                process.status.state = ProcessState.KILLED

    def run(self) -> TaskState:
        main = [p for p in self.processes.values() if not p.spec.get("final")]
        finals = [p for p in self.processes.values() if p.spec.get("final")]
        self._save()
        self._run_group(main, None)
        failed = sum(p.status.state is ProcessState.FAILED for p in main)
        task_limit = int(self.task.get("max_failures", 1)) or len(main) + 1
        blocked = any(self._blocked(p) for p in main if not p.spec.get("ephemeral"))
        outcome = (TaskState.KILLED if self.killed else
                   TaskState.FAILED if failed >= task_limit or blocked else TaskState.SUCCESS)
        finalization_end = time.time() + float(self.task.get("finalization_wait", 30))
        self.status.state = TaskState.CLEANING
        self._save()
        self._terminate(main, min(TERM_GRACE_SECONDS, max(0.0, finalization_end - time.time())))
        if finals:
            self.status.state = TaskState.FINALIZING
            self._save()
            self._run_group(finals, finalization_end)
            self._terminate(finals, 0.0)
        self.status.state = outcome
        self._save()
        return outcome

    def _save(self) -> None:
        self.status.write(self.sandbox)
