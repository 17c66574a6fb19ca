"""An embedded agent: owns a host's resources, runs tasks as real processes, reports their status.

Rules:
- A task's state only moves forward; once terminal it never changes (`_transition` guards it).
- Every state change after STAGING produces a status update on the task's `UpdateStream`
  (at least once, in order). A task is forgotten only after its terminal update is acknowledged.
- What runs is checkpointed (`CheckpointDB`, `checkpoint.sqlite`), so `recover()` after a crash re-adopts live
  processes (same pids; pid reuse is ruled out by start time and boot id) and reports those that
  ended meanwhile with the status their wrapper left in the sandbox.
- A task whose command can never be exec'd (`command_problem`) ends in TASK_ERROR at once; a
  launch that fails for any other reason ends in TASK_FAILED with the cause. Neither disturbs
  other tasks nor the launchers.
- Kill: SIGTERM to the process group, SIGKILL after the grace period, and finally a sweep of the
  task's session so that no orphan outlives the task.
- Users: a task runs as its command's `user`, else as `default_task_user` (`trireme serve
  --default-task-user`), else as its framework's user (FrameworkInfo.user, Mesos' fallback). The
  user is applied only when the server runs as root (it cannot switch users otherwise); then the
  task's sandbox and everything in it belong to that user, and a user unknown to the host fails
  the task (TASK_FAILED, naming the user).
- Sandboxes are `sandboxes/<framework id>/<task id>` below the agent's work dir, built from
  checked ids only (`core.security.ids.confined`); a task whose ids cannot name a path ends in
  TASK_ERROR before anything is written.
- Custom executors: there is no executor API, so the agent stands in for the executor. It runs
  the executor's command as the task's process, with Mesos' executor environment (less the
  agent endpoint: nothing here speaks the executor API), reports RUNNING once it started and
  FINISHED or FAILED by its exit code, as for a command, and tells the master when the executor
  ended (a FAILURE event for the framework). SHUTDOWN ends it as a kill does, after the executor's
  shutdown grace period, and reports TASK_KILLED as a well-behaved executor would.
- Secrets: a command's secret variables (`CommandInfo.secrets`) get their values from the
  server's secret store (`core.secrets`) when the task launches, after every other variable; a
  secret that cannot be read fails the launch (TASK_FAILED, naming it). The values reach the
  process's environment only: not the checkpoint, not the task's state.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import re
import signal
import stat
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.background import Background
from core.cluster import procfs
from core.cluster.checkpoint import CheckpointDB, TaskRecord
from core.cluster.fetcher import FetchError, fetch_all
from core.cluster.launcher import LauncherPool
from core.cluster.logrotate import (
    CHECK_SECONDS,
    LoggerSettingsError,
    LogPolicies,
    LogRotator,
    policies_for,
    settings_of,
)
from core.cluster.process import (
    ExitStatus,
    ExitWatcher,
    command_problem,
    find_started,
    read_exit_file,
    signal_session,
    sweep_sessions,
    task_command,
)
from core.cluster.sandbox_gc import SandboxGC
from core.cluster.updates import UpdateStream
from core.driver.types import Attribute, Reason, Source, TaskInfo, TaskState, TaskStatus
from core.resources import Resources
from core.secrets import NoSecrets, SecretError, SecretStore
from core.security.ids import UnsafePath, confined

log = logging.getLogger(__name__)

INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "USER", "PYTHONPATH", "VIRTUAL_ENV")
COMPLETED_TASKS_KEPT = 1000
EXECUTOR_SHUTDOWN_GRACE = 5.0  # Mesos' --executor_shutdown_grace_period


@dataclass(frozen=True)
class AgentConfig:
    default_kill_grace: float = 3.0
    update_retry_seconds: float = 10.0
    memory_check_seconds: float = 1.0
    sweep_delay_seconds: float = 0.25  # exits within this long share one scan of /proc
    sandbox_gc_delay: float = 7 * 24 * 3600.0  # an ended task's sandbox is removed after this (Mesos' --gc_delay)
    sandboxes_kept: int = COMPLETED_TASKS_KEPT  # ... or sooner, when more ended ones are on disk (newest kept)
    task_logs: LogPolicies = field(default_factory=LogPolicies)  # stdout/stderr rotation (`core.cluster.logrotate`)
    task_log_check_seconds: float = CHECK_SECONDS
    default_task_user: str = ""  # for tasks whose command names no user (applied when the server runs as root)
    secrets: SecretStore = field(default_factory=NoSecrets)  # where secret variables' values come from


@dataclass
class AgentTask:
    record: TaskRecord
    stream: UpdateStream
    kill_requested: bool = False
    kill_grace: float | None = None
    kill_timer: asyncio.TimerHandle | None = None
    memory_exceeded: str = ""
    user: str = ""  # who the task runs as (when the server runs as root); "" for the server's own user
    shutdown_requested: bool = False  # ended by SHUTDOWN of its executor
    early_exit: ExitStatus | None = None  # ended before RUNNING was reported: reported right after
    started_at: float = field(default_factory=time.time)

    @property
    def state(self) -> TaskState:
        return self.record.state

    def wants_kill(self) -> bool:
        """Read after an await: a kill may have arrived meanwhile."""
        return self.kill_requested


# forward(framework_id, status): hand an update to the master
Forward = Callable[[str, TaskStatus], None]
# freed(framework_id, resources): a task of that framework ended and gave its resources back
Freed = Callable[[str, Resources], None]
# executor_exited(framework_id, agent_id, executor_id, wait status or None): a custom executor ended
ExecutorExited = Callable[[str, str, str, int | None], None]


class Agent:
    def __init__(self, *, agent_id: str, hostname: str, resources: Resources, attributes: dict[str, str],
                 work_dir: Path, forward: Forward, freed: Freed, launchers: LauncherPool,
                 config: AgentConfig | None = None, executor_exited: ExecutorExited | None = None) -> None:
        self.id = agent_id
        self.hostname = hostname
        self.total = resources
        self.attributes = tuple(Attribute(k, v) for k, v in sorted(attributes.items()))
        self.work_dir = work_dir
        self.config = config or AgentConfig()
        self.tasks: dict[str, AgentTask] = {}
        self.completed: deque[TaskRecord] = deque(maxlen=COMPLETED_TASKS_KEPT)
        self.used = Resources()
        self._forward = forward
        self._freed = freed
        self._executor_exited = executor_exited
        self._launchers = launchers
        self._loop = asyncio.get_running_loop()
        self._watcher = ExitWatcher(self._loop, launchers)
        self._checkpoints = CheckpointDB(work_dir / "checkpoint.sqlite")
        self._sandbox_gc = SandboxGC(work_dir / "sandboxes", self.config.sandbox_gc_delay, self.config.sandboxes_kept,
                                     launchers.remove)
        self._sweep_pending: set[int] = set()
        self._sweep_timer: asyncio.TimerHandle | None = None
        self._memory_timer: asyncio.TimerHandle | None = None
        self._background = Background()
        self._log_rotator = LogRotator(self.config.task_log_check_seconds)

    # ---- queries ------------------------------------------------------------------------------

    @property
    def available(self) -> Resources:
        return self.total - self.used

    def executor_ids(self, framework_id: str) -> tuple[str, ...]:
        """The framework's custom executors running here (offers list them, as Mesos' do)."""
        return tuple(t.record.info.executor_id for t in self.tasks.values()
                     if t.record.framework_id == framework_id and t.record.info.executor_id
                     and not t.state.is_terminal)

    # ---- launch -------------------------------------------------------------------------------

    def sandbox_path(self, framework_id: str, task_id: str) -> Path:
        """Where a task's sandbox is (or would be) on this agent; raises UnsafePath when an id
        cannot name a directory (see `core.security.ids`)."""
        return confined(self.work_dir / "sandboxes", framework_id, task_id)

    def task_user(self, info: TaskInfo, framework_user: str = "") -> str:
        """Who a task runs as when the server runs as root (see the module's rules)."""
        return info.process_command().user or self.config.default_task_user or framework_user

    def launch(self, framework_id: str, info: TaskInfo, framework_user: str = "") -> None:
        """Start `info` (already validated against an offer of this agent by the master)."""
        try:
            sandbox = self.sandbox_path(framework_id, info.task_id)
            unsafe = ""
        except UnsafePath as exc:
            sandbox, unsafe = self.work_dir / "sandboxes", str(exc)  # never written: the task ends at once
        record = TaskRecord(framework_id, info, sandbox, TaskState.TASK_STAGING)
        task = AgentTask(record, self._new_stream(framework_id), user=self.task_user(info, framework_user))
        self.tasks[info.task_id] = task
        self.used = self.used + info.total_resources()
        if unsafe:
            self._transition(task, TaskState.TASK_ERROR, unsafe, Reason.REASON_TASK_INVALID)
            return
        self._background.spawn(self._run(task))

    async def _run(self, task: AgentTask) -> None:
        info = task.record.info
        command = info.process_command()
        problem = command_problem(command)
        if problem is not None:  # it could never start: no launcher sees it
            self._transition(task, TaskState.TASK_ERROR, f"Task's command cannot be run: {problem}",
                             Reason.REASON_TASK_INVALID)
            return
        try:
            log_policies = self._log_policies(info)
        except LoggerSettingsError as exc:
            self._transition(task, TaskState.TASK_FAILED, f"Failed to load container logger settings: {exc}",
                             Reason.REASON_CONTAINER_LAUNCH_FAILED)
            return
        try:
            self._checkpoints.write(task.record)
            self._transition(task, TaskState.TASK_STARTING)
            if command.uris:  # the launcher creates the sandbox (off the loop) when none is fetched
                await asyncio.to_thread(fetch_all, command.uris, task.record.sandbox)
            if task.wants_kill():
                self._transition(task, TaskState.TASK_KILLED, "Task killed before it started",
                                 Reason.REASON_TASK_KILLED_DURING_LAUNCH)
                return
            shell = command.value if command.shell else None
            argv = list(command.arguments) or [command.value]
            env = self._environment(info, task.record.sandbox, task.record.framework_id)
            if command.secrets:  # read off the loop: a store on a slow disk must not hold it up
                env.update(await asyncio.to_thread(self._secret_values, command.secrets))
            await self._checkpoints.committed()
            program, task_argv = task_command(shell, argv, env.get("PATH", os.defpath))
            ident = await self._launchers.spawn(task.record.sandbox, program, task_argv, env, task.user)
        except FetchError as exc:
            self._transition(task, TaskState.TASK_FAILED, str(exc), Reason.REASON_CONTAINER_LAUNCH_FAILED)
            return
        except SecretError as exc:
            self._transition(task, TaskState.TASK_FAILED, f"Failed to resolve secrets: {exc}",
                             Reason.REASON_CONTAINER_LAUNCH_FAILED)
            return
        except OSError as exc:
            self._transition(task, TaskState.TASK_FAILED, f"Failed to launch: {exc}",
                             Reason.REASON_CONTAINER_LAUNCH_FAILED)
            return
        except Exception as exc:  # nothing started: the task ends, the agent goes on
            log.exception("launching task %s failed", info.task_id)
            self._transition(task, TaskState.TASK_FAILED, f"Failed to launch: {exc}",
                             Reason.REASON_CONTAINER_LAUNCH_FAILED)
            return
        task.record.process = ident
        self._watcher.watch(ident, task.record.sandbox, True, functools.partial(self._exited, task))
        self._log_rotator.watch(info.task_id, task.record.sandbox, log_policies)
        self._checkpoints.write(task.record)
        await self._checkpoints.committed()  # RUNNING is promised only once a restart could find it
        self._transition(task, TaskState.TASK_RUNNING)
        if task.early_exit is not None:
            self._exited(task, task.early_exit)
            return
        if task.wants_kill():
            self._begin_kill(task)
        self._ensure_memory_monitor()

    def _environment(self, info: TaskInfo, sandbox: Path, framework_id: str) -> dict[str, str]:
        env = {k: os.environ[k] for k in INHERITED_ENV if k in os.environ}
        env.update(
            HOST=self.hostname,
            MESOS_TASK_ID=info.task_id,
            MESOS_SANDBOX=str(sandbox),
            MESOS_DIRECTORY=str(sandbox),
            MESOS_AGENT_ID=self.id,
        )
        if info.executor is not None:  # what Mesos' agent gives an executor that means something here
            env.update(
                MESOS_FRAMEWORK_ID=framework_id,
                MESOS_EXECUTOR_ID=info.executor.executor_id,
                MESOS_SLAVE_ID=self.id,
                MESOS_CHECKPOINT="1",
                MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD=mesos_duration(self._shutdown_grace(info)),
            )
        ports = info.ordered_ports()
        for i, port in enumerate(ports):
            env[f"PORT{i}"] = str(port)
        if ports:
            env["PORT"] = str(ports[0])
            env["PORTS"] = ",".join(map(str, ports))
        for port, name in info.discovery_ports:
            if name:
                env[f"PORT_{re.sub(r'[^A-Z0-9_]', '_', name.upper())}"] = str(port)
        env.update(info.process_command().environment)
        return env

    def _secret_values(self, secrets: tuple[tuple[str, str], ...]) -> dict[str, str]:
        return {name: self.config.secrets.read(secret) for name, secret in secrets}

    def _log_policies(self, info: TaskInfo) -> LogPolicies:
        """How the task's stdout and stderr are rotated: the agent's, unless its environment or
        labels say otherwise. LoggerSettingsError names a setting that cannot be used."""
        return policies_for(settings_of(info.process_command().environment, info.labels), self.config.task_logs)

    def _shutdown_grace(self, info: TaskInfo) -> float:
        grace = None if info.executor is None else info.executor.shutdown_grace_period
        return EXECUTOR_SHUTDOWN_GRACE if grace is None else grace

    # ---- exit, kill, memory -----------------------------------------------------------------

    def _exited(self, task: AgentTask, status: ExitStatus) -> None:
        if task.state is TaskState.TASK_STARTING:
            task.early_exit = status  # updates stay in order: RUNNING first
            return
        self._log_rotator.ended(task.record.info.task_id)
        self._cancel_kill_timer(task)
        if task.record.process is not None:
            self._schedule_sweep(task.record.process.pid)
        if task.shutdown_requested:
            self._transition(task, TaskState.TASK_KILLED, f"Executor shut down by its framework; {status.describe()}",
                             Reason.REASON_EXECUTOR_TERMINATED)
        elif task.kill_requested:
            self._transition(task, TaskState.TASK_KILLED, status.describe())
        elif task.memory_exceeded:
            self._transition(task, TaskState.TASK_FAILED, task.memory_exceeded,
                             Reason.REASON_CONTAINER_LIMITATION_MEMORY)
        elif status.success:
            self._transition(task, TaskState.TASK_FINISHED, status.describe())
        else:
            tail = stderr_tail(task.record.sandbox)
            message = status.describe() + (f"; last stderr: {tail}" if tail else "")
            reason = (Reason.REASON_COMMAND_EXECUTOR_FAILED if task.record.info.executor is None
                      else Reason.REASON_EXECUTOR_TERMINATED)
            self._transition(task, TaskState.TASK_FAILED, message, reason)
        if task.record.info.executor is not None and self._executor_exited is not None:
            self._executor_exited(task.record.framework_id, self.id, task.record.info.executor.executor_id,
                                  status.wait_status())

    def kill(self, task_id: str, grace: float | None = None, killing_state: bool = False) -> bool:
        """Begin killing a task; False when the agent has no live task by that id."""
        task = self.tasks.get(task_id)
        if task is None or task.state.is_terminal:
            return False
        if task.kill_requested:
            return True
        task.kill_requested = True
        task.kill_grace = grace
        if killing_state and task.state is TaskState.TASK_RUNNING:
            self._transition(task, TaskState.TASK_KILLING)
        if task.record.process is not None:
            self._begin_kill(task)
        return True

    def shutdown_executor(self, framework_id: str, executor_id: str) -> bool:
        """SHUTDOWN: end the framework's executor (its task), allowing its shutdown grace period;
        False when no such executor runs here."""
        for task in self.tasks.values():
            info = task.record.info
            if task.record.framework_id == framework_id and info.executor_id == executor_id \
                    and not task.state.is_terminal:
                task.shutdown_requested = True
                return self.kill(info.task_id, self._shutdown_grace(info))
        return False

    def _begin_kill(self, task: AgentTask) -> None:
        self._signal(task, signal.SIGTERM)
        seconds = task.kill_grace if task.kill_grace is not None else task.record.info.kill_grace_period
        seconds = self.config.default_kill_grace if seconds is None else seconds
        task.kill_timer = self._loop.call_later(seconds, self._signal, task, signal.SIGKILL)

    def _signal(self, task: AgentTask, sig: int) -> None:
        if task.record.process is not None and not task.state.is_terminal:
            signal_session(task.record.process, sig)
            if sig == signal.SIGKILL:
                self._schedule_sweep(task.record.process.pid)

    def _cancel_kill_timer(self, task: AgentTask) -> None:
        if task.kill_timer is not None:
            task.kill_timer.cancel()
            task.kill_timer = None

    def _schedule_sweep(self, session: int) -> None:
        """Kill what is left of a session, batched so that many exits cost one /proc scan."""
        self._sweep_pending.add(session)
        if self._sweep_timer is None:
            self._sweep_timer = self._loop.call_later(self.config.sweep_delay_seconds, self._sweep)

    def _sweep(self) -> None:
        self._sweep_timer = None
        sessions, self._sweep_pending = self._sweep_pending, set()
        live = {t.record.process.pid for t in self.tasks.values()
                if t.record.process is not None and not t.state.is_terminal}
        sweep_sessions(sessions - live)

    def _ensure_memory_monitor(self) -> None:
        if self._memory_timer is None and self.config.memory_check_seconds > 0:
            self._memory_timer = self._loop.call_later(self.config.memory_check_seconds, self._check_memory)

    def _check_memory(self) -> None:
        self._memory_timer = None
        # a task is first measured once it has run a whole interval: a scan of /proc for tasks that
        # live a few milliseconds (most batch runs) would cost more than it could ever catch
        young = time.time() - self.config.memory_check_seconds
        limited = {t.record.process.pid: t for t in self.tasks.values()
                   if t.record.process is not None and t.state is TaskState.TASK_RUNNING
                   and t.record.info.resources.mem > 0 and not t.memory_exceeded and t.started_at <= young}
        if not limited:
            if any(t.state is TaskState.TASK_RUNNING for t in self.tasks.values()):
                self._ensure_memory_monitor()  # young ones only: look again next interval
            return
        for session, members in procfs.scan_sessions(set(limited)).items():
            task = limited[session]
            used_mb = sum(m.rss_bytes for m in members) / 2**20
            limit_mb = task.record.info.resources.mem
            if used_mb > limit_mb:
                task.memory_exceeded = (f"Memory limit exceeded: Requested: {limit_mb:g}MB "
                                        f"Maximum Used: {used_mb:.0f}MB")
                self._signal(task, signal.SIGKILL)
        self._ensure_memory_monitor()

    # ---- status updates -----------------------------------------------------------------------

    def _new_stream(self, framework_id: str) -> UpdateStream:
        return UpdateStream(self._loop, lambda s: self._forward(framework_id, s), self.config.update_retry_seconds)

    def _transition(self, task: AgentTask, state: TaskState, message: str = "",
                    reason: Reason | None = None) -> None:
        if task.state.is_terminal:
            return
        task.record.state = state
        status = TaskStatus(task.record.info.task_id, state, self.id, message, Source.SOURCE_EXECUTOR,
                            reason, uuid=TaskStatus.new_uuid(), executor_id=task.record.info.executor_id)
        if state.is_terminal:
            self._cancel_kill_timer(task)
            self.used = self.used - task.record.info.total_resources()
            task.record.pending = [status]
            self._checkpoints.write(task.record)
            self._freed(task.record.framework_id, task.record.info.total_resources())
        task.stream.push(status)

    def acknowledge(self, task_id: str, uuid: str) -> None:
        task = self.tasks.get(task_id)
        if task is None or not task.stream.acknowledge(uuid):
            return
        if task.state.is_terminal and not task.stream.pending:
            task.stream.close()
            del self.tasks[task_id]
            task.record.pending = []
            self.completed.append(task.record)
            self._checkpoints.remove(task_id)
            self._sandbox_gc.ended(task.record.sandbox)

    def resend_updates(self, framework_id: str) -> None:
        for task in self.tasks.values():
            if task.record.framework_id == framework_id:
                task.stream.resend()

    def latest_status(self, task_id: str) -> TaskStatus | None:
        task = self.tasks.get(task_id)
        if task is None:
            return None
        pending = task.stream.pending
        message = pending[-1].message if pending else ""
        return TaskStatus(task_id, task.state, self.id, message, Source.SOURCE_MASTER, Reason.REASON_RECONCILIATION,
                          executor_id=task.record.info.executor_id)

    # ---- recovery and shutdown ----------------------------------------------------------------

    def recover(self) -> list[TaskRecord]:
        """Re-adopt what the checkpoint says runs here. Returns the records found."""
        records = self._checkpoints.load()
        for record in records:
            task = AgentTask(record, self._new_stream(record.framework_id))
            self.tasks[record.info.task_id] = task
            if record.state.is_terminal:
                for status in record.pending:
                    task.stream.push(status)
                continue
            self.used = self.used + record.info.total_resources()
            if record.process is None:  # crashed mid-launch: did the process start?
                record.process = find_started(record.sandbox)
                if record.process is None:
                    ended = read_exit_file(record.sandbox)
                    if ended is None:
                        self._transition(task, TaskState.TASK_FAILED, "The agent restarted while launching the task",
                                         Reason.REASON_AGENT_RESTARTED)
                    else:
                        self._exited(task, ended)
                    continue
                self._checkpoints.write(record)
            if task.state is TaskState.TASK_STARTING:  # the process did start: it runs
                self._transition(task, TaskState.TASK_RUNNING)
            self._watcher.watch(record.process, record.sandbox, False, functools.partial(self._exited, task))
            # a task launched under an earlier server's rules that these refuse keeps its files as they are
            with contextlib.suppress(LoggerSettingsError):
                self._log_rotator.watch(record.info.task_id, record.sandbox, self._log_policies(record.info))
        self._ensure_memory_monitor()
        self._background.spawn(self._sandbox_gc.adopt(lambda: [t.record.sandbox for t in self.tasks.values()]))
        return records

    async def terminate_all(self, timeout: float = 10.0) -> None:
        """SIGKILL every task (and its session) now and wait until each has been reaped."""
        live = [t for t in self.tasks.values() if not t.state.is_terminal]
        for task in live:
            task.kill_requested = True
            self._signal(task, signal.SIGKILL)
        sweep_sessions(t.record.process.pid for t in live if t.record.process is not None)
        deadline = time.monotonic() + timeout
        while any(not t.state.is_terminal for t in live) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    async def shutdown(self) -> None:
        """Stop supervising (tasks keep running, to be re-adopted by the next server)."""
        await self._background.cancel_all()
        for task in self.tasks.values():
            task.stream.close()
            self._cancel_kill_timer(task)
        for timer in (self._sweep_timer, self._memory_timer):
            if timer is not None:
                timer.cancel()
        self._watcher.close()
        self._checkpoints.close()
        self._sandbox_gc.close()
        await self._log_rotator.close()


def mesos_duration(seconds: float) -> str:
    """A duration as Mesos prints one (stout's Duration): `5secs`, `500ms`, `1.5mins`."""
    units = ((86400.0 * 7, "weeks"), (86400.0, "days"), (3600.0, "hrs"), (60.0, "mins"), (1.0, "secs"),
             (1e-3, "ms"), (1e-6, "us"))
    for size, name in units:
        if seconds >= size:
            return f"{seconds / size:g}{name}"
    return f"{seconds * 1e9:g}ns"


def stderr_tail(sandbox: Path, max_bytes: int = 1024, lines: int = 5) -> str:
    try:  # the task owns its sandbox: follow no link, and read only a regular file (a FIFO would block)
        fd = os.open(sandbox / "stderr", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return ""
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            text = fh.read().decode(errors="replace")
    except OSError:
        return ""
    return " | ".join(text.strip().splitlines()[-lines:])
