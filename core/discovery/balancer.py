"""Apply what runs to a live HAProxy: runtime API for server changes, validated reloads otherwise.

Rules:
- A new set of apps becomes services (`model.build_services_keeping`). A label that cannot be
  used safely is refused: nothing of the label reaches the config.
- One app never holds the others back: an app whose frontends cannot be served (refused labels,
  an unreadable certificate, a port taken or that cannot be bound, anything `haproxy -c` refuses:
  see `admission`) is refused. It keeps its last good frontends (still following its tasks) when
  it had some, else it is left out; every other app is served. Each refusal is in `refused` (by
  app id) and in `last_error`, and `on_refusal` hears of each app newly refused (or refused anew
  for another reason).
- An app refused for what it rendered stays refused, without checking it again, while its
  services stay the same and nothing else needs a new config; a new config checks every app afresh.
- If only servers changed and every backend still has enough slots, the change goes through
  the runtime API (fill or empty slots): HAProxy is not reloaded.
- Anything else is rendered, checked with `haproxy -c`, written over the live config and
  reloaded seamlessly. A config HAProxy refuses never goes live.
- The runtime socket is `haproxy-runtime.sock` beside the config, unless that path is too long
  for a Unix socket (`runtime_socket_for`): then it is in a private directory of the system's
  temporary directory, named after the config's directory.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import logging
import os
import stat
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from core.discovery.admission import (
    Candidate,
    Placement,
    Refusal,
    Rejection,
    bisect,
    blame,
    by_app,
    place,
)
from core.discovery.haproxy import HAProxyError, HAProxyProcess, check, find_haproxy, parse_stat, socket_command
from core.discovery.model import Server, Service, build_services_keeping, by_port_and_name, keep_last_good
from core.discovery.render import RenderSettings, Slots, render, slot_count, slot_name

log = logging.getLogger(__name__)
RECHECK_SECONDS = 30.0  # an app refused stays refused unchecked this long at most (a certificate may appear)
RUNTIME_BATCH = 100  # commands per CLI line: a line must fit HAProxy's buffer (16 kB by default)


class Change(enum.Enum):
    UNCHANGED = "unchanged"
    RUNTIME = "runtime"  # servers changed through the runtime API, no reload
    RELOAD = "reload"
    STARTED = "started"


# a Unix socket's path holds at most 107 bytes, and HAProxy first binds `<path>.<pid>.tmp`
SOCKET_PATH_MAX = 107 - len(".4194304.tmp")


def runtime_socket_for(workdir: Path) -> Path:
    """Where HAProxy's runtime socket goes for a config in `workdir`: beside it when the path
    fits a Unix socket, else `<tmp>/trireme-haproxy-<hash of workdir>/runtime.sock`, in a
    directory only this user may enter (HAProxyError if another user holds that name)."""
    beside = workdir / "haproxy-runtime.sock"
    if len(os.fsencode(beside)) <= SOCKET_PATH_MAX:
        return beside
    digest = hashlib.sha256(os.fsencode(workdir.resolve())).hexdigest()[:16]
    private = Path(tempfile.gettempdir()) / f"trireme-haproxy-{digest}"
    private.mkdir(mode=0o700, exist_ok=True)
    info = private.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise HAProxyError(f"{private}: not a directory of this user; cannot put HAProxy's runtime socket there")
    private.chmod(0o700)
    return private / "runtime.sock"


@dataclass(frozen=True)
class BalancerConfig:
    config_path: Path
    groups: tuple[str, ...] = ("external",)
    haproxy: str | None = None
    stats_port: int = 9090
    http_port: int = 80
    bind: str = "127.0.0.1"  # the frontends' address where an app names none (HAPROXY_n_BIND_ADDR)


@dataclass
class LoadBalancer:
    config: BalancerConfig
    on_refusal: Callable[[Refusal], None] | None = None
    on_change: Callable[[Change], None] | None = None  # hears of each reload, start and runtime change
    last_error: str = ""
    refused: dict[str, Refusal] = field(default_factory=dict)  # by app id
    reloads: int = 0
    runtime_changes: int = 0
    last_reload_at: float | None = None  # epoch seconds of the last reload (or start)
    last_runtime_change_at: float | None = None
    last_runtime_change: str = ""  # what it did: servers in and out
    _proc: HAProxyProcess | None = None
    _shapes: list[Service] = field(default_factory=list)
    _listening: frozenset[tuple[str, int]] = frozenset()  # the app frontends' listeners HAProxy holds
    _slots: dict[str, Slots] = field(default_factory=dict)
    _state_known: bool = True  # whether HAProxy's servers are what `_slots` says
    # apps the last admission refused, with the services (shapes) they were refused for, and when
    _rejected: dict[str, tuple[list[Service], Refusal]] = field(default_factory=dict)
    _rejected_at: float = 0.0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def workdir(self) -> Path:
        return self.config.config_path.parent

    @cached_property
    def runtime_socket(self) -> Path:
        return runtime_socket_for(self.workdir)

    def settings(self) -> RenderSettings:
        return RenderSettings(runtime_socket=self.runtime_socket, stats_port=self.config.stats_port,
                              http_port=self.config.http_port, bind=self.config.bind)

    def placement(self) -> Placement:
        """The balancer's own listeners, and those HAProxy holds now (passed on across reloads)."""
        settings = self.settings()
        own = ((settings.stats_bind, settings.stats_port), (settings.bind, settings.http_port))
        return Placement(settings.bind, own, self._listening)

    async def apply(self, apps: list[dict[str, Any]]) -> Change:
        """Make HAProxy serve `apps` (Marathon's `/v2/apps?embed=apps.tasks` shape), leaving out
        what cannot be served. HAProxyError when HAProxy itself fails (tried again later)."""
        async with self._lock:
            live = by_app(self._shapes)
            services, errors = build_services_keeping(apps, self.config.groups, live)
            refusals = {e.app_id: Refusal.of(e) for e in errors}
            try:
                change = await self._apply(apps, services, live, refusals)
            except HAProxyError as exc:
                self._report(refusals)
                self.last_error = str(exc)
                log.error("load balancer change refused, the last good configuration keeps serving: %s", exc)
                raise
            self._report(refusals)
            self.last_error = "; ".join(r.message for r in refusals.values())
            if change is not Change.UNCHANGED and self.on_change is not None:
                self.on_change(change)
            return change

    def _report(self, refusals: dict[str, Refusal]) -> None:
        """Keep `refusals` as `refused`; log and tell `on_refusal` of each that is new."""
        for app_id, refusal in refusals.items():
            before = self.refused.get(app_id)
            if before is None or (before.label, before.message) != (refusal.label, refusal.message):
                log.error("load balancer: %s (%s)", refusal.message, "its last good frontends keep serving"
                          if any(s.app_id == app_id for s in self._shapes) else "left out")
                if self.on_refusal is not None:
                    self.on_refusal(refusal)
        self.refused = refusals

    async def _apply(self, apps: list[dict[str, Any]], services: list[Service], live: dict[str, list[Service]],
                     refusals: dict[str, Refusal]) -> Change:
        by_id = {str(app.get("id")): app for app in apps if isinstance(app, dict)}
        wanted = by_app(services)
        # apps refused before for the same services stay refused at their live frontends, unchecked
        if time.monotonic() - self._rejected_at > RECHECK_SECONDS:
            self._rejected = {}
        remembered: list[Service] = []
        for app_id, mine in wanted.items():
            earlier = self._rejected.get(app_id)
            if earlier is not None and [s.shape() for s in mine] == earlier[0]:
                refusals.setdefault(app_id, earlier[1])
                remembered.extend(keep_last_good(by_id.get(app_id, {}), live.get(app_id, [])))
            else:
                remembered.extend(mine)
        remembered.sort(key=by_port_and_name)
        if self._runtime_will_do(remembered):
            return await self._runtime(remembered)
        # a new configuration: every app is checked afresh, those already live first (a newcomer
        # that clashes with them is the one refused)
        unchanged = {app_id for app_id, mine in wanted.items() if [s.shape() for s in mine] == live.get(app_id)}
        candidates = [Candidate(mine, [] if app_id in unchanged else
                                keep_last_good(by_id.get(app_id, {}), live.get(app_id, [])))
                      for app_id, mine in wanted.items()]
        candidates.sort(key=lambda c: c.app_id not in unchanged)
        binary = find_haproxy(self.config.haproxy)
        admitted, text, rejected = await asyncio.to_thread(self._admit, binary, candidates)
        self._rejected, self._rejected_at = {}, time.monotonic()
        for refusal in rejected:  # the first refusal of an app says more than its fallback's, a label's most
            self._rejected.setdefault(refusal.app_id, ([s.shape() for s in wanted[refusal.app_id]], refusal))
            refusals.setdefault(refusal.app_id, refusal)
        if self._runtime_will_do(admitted):
            return await self._runtime(admitted)
        return await self._reload(binary, admitted, text)

    def _listeners(self, services: list[Service]) -> frozenset[tuple[str, int]]:
        return frozenset((s.bind_addr or self.config.bind, s.frontend_port) for s in services)

    def _runtime_will_do(self, services: list[Service]) -> bool:
        """Whether `services` differ from what HAProxy serves in servers only, with slots enough."""
        return self._proc is not None and [s.shape() for s in services] == self._shapes and all(
            len(s.servers) <= len(self._slots[s.name]) for s in services)

    def _admit(self, binary: str, candidates: list[Candidate]) -> tuple[list[Service], str, list[Refusal]]:
        """The services that can be served together (sorted), their config text (checked), and
        a refusal for each app left out or kept at its fallback. Blocking: runs `haproxy -c`."""
        placed, refused = place(candidates, self.placement())
        path = self.config.config_path.with_suffix(".candidate")
        settings = self.settings()
        passed: set[str] = set()

        def render_checked(services: list[Service]) -> tuple[str, Rejection | None]:
            ordered = sorted(services, key=by_port_and_name)
            text, _ = render(ordered, settings, {s.name: self._keep_slots(s) for s in ordered})
            output = check(binary, text, path)
            if output is None:
                passed.add(text)
            return text, None if output is None else Rejection(output, text)

        kept, failures = bisect(placed, lambda services: render_checked(services)[1])
        refused.extend(blame(candidate.services, rejection) for candidate, rejection in failures)
        kept.sort(key=by_port_and_name)
        text, _ = render(kept, settings, {s.name: self._keep_slots(s) for s in kept})
        if text not in passed:  # not checked as such (never expected): check it now
            text, rejection = render_checked(kept)
            if rejection is not None:
                raise HAProxyError(f"haproxy -c refused the configuration of the apps it accepted one by one: "
                                   f"{rejection.output[-800:]}")
        return kept, text, refused

    async def _reload(self, binary: str, services: list[Service], text: str) -> Change:
        shapes = [s.shape() for s in services]
        slots = {s.name: self._keep_slots(s) for s in services}
        candidate = self.config.config_path.with_suffix(".candidate")
        candidate.write_text(text)
        os.replace(candidate, self.config.config_path)
        if self._proc is None:
            proc = HAProxyProcess(binary, self.config.config_path, self.workdir, self.runtime_socket.parent)
            proc.start()
            try:
                await proc.wait_ready()
            except BaseException:  # whatever went wrong, no HAProxy is left running unowned
                proc.stop()
                raise
            self._proc = proc
            self._shapes, self._slots = shapes, slots
            self._listening = self._listeners(services)
            self.last_reload_at = time.time()
            log.info("haproxy started: %d frontend(s), %d server(s)", len(services), _servers(services),
                     extra={"frontends": len(services), "servers": _servers(services)})
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
        self._listening = self._listeners(services)
        self._state_known = True
        self.reloads += 1
        self.last_reload_at = time.time()
        log.info("haproxy reloaded (reload %d): %d frontend(s), %d server(s)", self.reloads, len(services),
                 _servers(services), extra={"reloads": self.reloads, "frontends": len(services),
                                            "servers": _servers(services)})
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
        added = sum(1 for c in commands if c.endswith(" state ready"))
        removed = sum(1 for c in commands if c.endswith(" state maint"))
        self.last_runtime_change_at = time.time()
        self.last_runtime_change = f"{added} server(s) in, {removed} out"
        log.info("haproxy runtime change %d: %d server(s) in, %d out, no reload", self.runtime_changes, added,
                 removed, extra={"runtime_changes": self.runtime_changes, "servers_in": added, "servers_out": removed})
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

    async def states(self) -> tuple[list[dict[str, str]], dict[str, list[dict[str, str]]]]:
        """HAProxy's own view (`show stat`): its frontends with their status, and each backend's
        servers (the slots holding one) with theirs (UP, DOWN, MAINT, DRAIN, `no check`...);
        ([], {}) while HAProxy cannot be asked."""
        if self._proc is None:
            return [], {}
        try:
            rows = parse_stat(await socket_command(self.settings().runtime_socket, "show stat"))
        except (OSError, HAProxyError):
            return [], {}
        status = {(r.get("pxname", ""), r.get("svname", "")): r.get("status", "") for r in rows}
        frontends = [{"name": r["pxname"], "status": r.get("status", "")} for r in rows
                     if r.get("svname") == "FRONTEND" and "pxname" in r]
        backends = {name: [{"server": slot_name(i), "address": server.address,
                            "status": status.get((name, slot_name(i)), "unknown")}
                           for i, server in enumerate(slots) if server is not None]
                    for name, slots in self._slots.items()}
        return frontends, backends

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


def _servers(services: list[Service]) -> int:
    return sum(len(s.servers) for s in services)


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
