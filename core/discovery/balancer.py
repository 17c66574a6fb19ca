"""Apply what runs to a live HAProxy: runtime API for server changes, validated reloads otherwise.

Rules:
- A new set of apps becomes services (`model.build_services_keeping`). A label that cannot be
  used safely is refused: that app keeps its last good frontends (still following its tasks),
  nothing of the label reaches the config, and `last_error` names the app and label.
- If only servers changed and every backend still has enough slots, the change goes through
  the runtime API (fill or empty slots): HAProxy is not reloaded.
- Anything else is rendered, checked with `haproxy -c`, written over the live config and
  reloaded seamlessly. A config HAProxy refuses never goes live.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.discovery.haproxy import HAProxyError, HAProxyProcess, find_haproxy, socket_command, validate
from core.discovery.model import Server, Service, build_services_keeping
from core.discovery.render import RenderSettings, Slots, render, slot_count, slot_name

log = logging.getLogger(__name__)
RUNTIME_BATCH = 100  # commands per CLI line: a line must fit HAProxy's buffer (16 kB by default)


class Change(enum.Enum):
    UNCHANGED = "unchanged"
    RUNTIME = "runtime"  # servers changed through the runtime API, no reload
    RELOAD = "reload"
    STARTED = "started"


@dataclass(frozen=True)
class BalancerConfig:
    config_path: Path
    groups: tuple[str, ...] = ("external",)
    haproxy: str | None = None
    stats_port: int = 9090
    http_port: int = 80
    bind: str = "*"


@dataclass
class LoadBalancer:
    config: BalancerConfig
    last_error: str = ""
    reloads: int = 0
    runtime_changes: int = 0
    _proc: HAProxyProcess | None = None
    _shapes: list[Service] = field(default_factory=list)
    _slots: dict[str, Slots] = field(default_factory=dict)
    _state_known: bool = True  # whether HAProxy's servers are what `_slots` says
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def workdir(self) -> Path:
        return self.config.config_path.parent

    def settings(self) -> RenderSettings:
        return RenderSettings(runtime_socket=self.workdir / "haproxy-runtime.sock", stats_port=self.config.stats_port,
                              http_port=self.config.http_port, http_bind=self.config.bind)

    async def apply(self, apps: list[dict[str, Any]]) -> Change:
        async with self._lock:
            last_good: dict[str, list[Service]] = {}
            for shape in self._shapes:
                last_good.setdefault(shape.app_id, []).append(shape)
            services, refused = build_services_keeping(apps, self.config.groups, last_good)
            try:
                change = await self._apply(services)
            except HAProxyError as exc:
                self.last_error = str(exc)
                log.error("load balancer change refused, the last good configuration keeps serving: %s", exc)
                raise
            self.last_error = "; ".join(str(e) for e in refused)
            if refused:
                log.error("labels refused (those apps keep their last good frontends): %s", self.last_error)
                raise refused[0]
            return change

    async def _apply(self, services: list[Service]) -> Change:
        shapes = [s.shape() for s in services]
        if self._proc is not None and shapes == self._shapes and all(
                len(s.servers) <= len(self._slots[s.name]) for s in services):
            return await self._runtime(services)
        text, slots = render(services, self.settings(), {s.name: self._keep_slots(s) for s in services})
        binary = find_haproxy(self.config.haproxy)
        candidate = self.config.config_path.with_suffix(".candidate")
        await asyncio.to_thread(validate, binary, text, candidate)
        os.replace(candidate, self.config.config_path)
        if self._proc is None:
            proc = HAProxyProcess(binary, self.config.config_path, self.workdir)
            proc.start()
            try:
                await proc.wait_ready()
            except HAProxyError:
                proc.stop()
                raise
            self._proc = proc
            self._shapes, self._slots = shapes, slots
            return Change.STARTED
        # the new worker starts the servers that kept their slot as the old one had them (UP stays
        # UP, no `rise` wait); every other slot starts as the new config says
        carried = ""
        if self._state_known:
            try:
                state = await socket_command(self.settings().runtime_socket, "show servers state")
                carried = carried_state(state, self._slots, slots)
            except (OSError, HAProxyError) as exc:  # e.g. a worker just replaced: its socket not yet bound
                log.warning("no server state carried over this reload (every slot starts as the config "
                            "says): %s", exc)
        self.settings().runtime_socket.with_name("haproxy.state").write_text(carried)
        await self._proc.reload()
        self._shapes, self._slots = shapes, slots  # what HAProxy serves once the new worker runs
        self._state_known = True
        self.reloads += 1
        return Change.RELOAD

    async def _runtime(self, services: list[Service]) -> Change:
        commands: list[str] = []
        for service in services:
            commands.extend(self._slot_changes(service))
        if not commands:
            return Change.UNCHANGED
        try:
            out = ""
            for start in range(0, len(commands), RUNTIME_BATCH):  # in order: new servers in before old ones leave
                out += await socket_command(self.settings().runtime_socket,
                                            ";".join(commands[start:start + RUNTIME_BATCH]))
            errors = [line for line in out.splitlines()
                      if line.strip() and not line.startswith(("IP changed", "no need"))]
            if errors:
                raise HAProxyError(f"runtime API refused a change: {'; '.join(errors[:3])}")
        except (OSError, HAProxyError) as exc:
            # what HAProxy holds is unknown now: the next change reloads from the config alone
            self._shapes, self._state_known = [], False
            raise HAProxyError(str(exc)) from exc
        self.runtime_changes += 1
        return Change.RUNTIME

    def _slot_changes(self, service: Service) -> list[str]:
        """Runtime API commands that make a backend's slots hold `service.servers`. New servers
        go in before the ones leaving go to maintenance (in-flight requests finish there), so a
        backend being replaced whole (a rolling restart) never has no server in between."""
        slots = self._slots[service.name]
        wanted = set(service.servers)
        leaving = [i for i, server in enumerate(slots) if server is not None and server not in wanted]
        coming = sorted(wanted - set(slots))
        free = [i for i, server in enumerate(slots) if server is None]
        commands: list[str] = []

        def fill(i: int, server: Server) -> None:
            slots[i] = server
            name = f"{service.name}/{slot_name(i)}"
            commands.append(f"set server {name} addr {server.host} port {server.port}")
            commands.append(f"set server {name} state ready")
            if service.health is not None:
                # the scheduler has seen it pass its checks: don't wait for HAProxy's `rise`
                commands.append(f"set server {name} health up")

        for i, server in zip(free, coming, strict=False):
            fill(i, server)
        for i in leaving:
            commands.append(f"set server {service.name}/{slot_name(i)} state maint")
            slots[i] = None
        for server in coming[len(free):]:  # only when the free slots were too few
            fill(slots.index(None), server)
        return commands

    def _keep_slots(self, service: Service) -> Slots:
        """Slots for a re-rendered backend: servers keep the slot they had (HAProxy carries a
        slot's state over the reload), new ones take free slots, grown when needed."""
        old = self._slots.get(service.name, [])
        wanted = set(service.servers)
        slots: Slots = [s if s in wanted else None for s in old]
        for server in sorted(wanted - set(slots)):
            if None not in slots:
                slots.extend([None] * max(8, len(slots)))
            slots[slots.index(None)] = server
        while len(slots) < slot_count(len(service.servers)):
            slots.append(None)
        return slots

    def servers(self) -> dict[str, list[Server]]:
        return {name: [s for s in slots if s is not None] for name, slots in self._slots.items()}

    async def worker_pids(self) -> list[int]:
        """HAProxy's current worker processes ([] while it is not running yet)."""
        try:
            return [] if self._proc is None else await self._proc.worker_pids()
        except OSError:
            return []

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.stop()
            self._proc = None


def carried_state(state: str, before: dict[str, Slots], after: dict[str, Slots]) -> str:
    """The rows of `show servers state` that a reload may carry over: only slots holding the same
    server before and after it. A slot that changed must not inherit its old state: a placeholder's
    maintenance would otherwise keep a server the new config puts there out of rotation, unseen."""
    kept = []
    for line in state.splitlines():
        fields = line.split()
        if len(fields) > 3 and not line.startswith("#"):
            backend, name = fields[1], fields[3]
            index = int(name[3:]) - 1 if name.startswith("srv") and name[3:].isdigit() else -1
            old, new = before.get(backend, []), after.get(backend, [])
            if not (0 <= index < min(len(old), len(new)) and old[index] is not None and old[index] == new[index]):
                continue
        kept.append(line)
    return "\n".join(kept) + "\n"
