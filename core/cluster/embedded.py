"""The embedded cluster: one master and N agents inside the server process.

Agent i (from 0) has hostname 127.0.0.(i+1) and a stable id kept in the data dir, so that a
restarted server finds its agents, and their checkpointed tasks, again.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from core.cluster.agent import Agent, AgentConfig
from core.cluster.driver import LocalDriver
from core.cluster.launcher import LauncherPool
from core.cluster.master import Master, MasterConfig
from core.resources import Resources
from core.security.ids import UnsafePath, id_problem

DEFAULT_PORTS = (31000, 32000)
# one launcher process per core keeps every core spawning while the event loop stays free
LAUNCHERS = max(1, min(4, os.cpu_count() or 1))


def machine_resources() -> Resources:
    """What this machine can give tasks, reserving some for the system as Mesos' agent does."""
    mem_mb = psutil.virtual_memory().total / 2**20
    disk_mb = shutil.disk_usage("/").free / 2**20
    return Resources(
        {
            "cpus": float(os.cpu_count() or 1),
            "mem": float(int(max(mem_mb - max(1024.0, mem_mb * 0.1), mem_mb / 2))),
            "disk": float(int(max(disk_mb - max(5120.0, disk_mb * 0.1), disk_mb / 2))),
        },
        (DEFAULT_PORTS,),
    )


def split_ports(res: Resources, index: int, count: int) -> Resources:
    """Give agent `index` of `count` its own slice of the port ranges: the agents share one
    machine, and a task binding 0.0.0.0:$PORT would collide with another agent's task."""
    if count <= 1 or not res.ports:
        return res
    ports = res.port_list()
    size = len(ports) // count
    mine = ports[index * size:(index + 1) * size]
    return Resources(dict(res.scalars), ((mine[0], mine[-1]),) if mine else ())


@dataclass(frozen=True)
class ClusterConfig:
    agents: int = 1
    resources: Resources | None = None  # per agent; None: sized from the machine
    attributes: tuple[dict[str, str], ...] = ()  # i-th for agent i; the last repeats
    master: MasterConfig = field(default_factory=MasterConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)


class EmbeddedCluster:
    def __init__(self, data_dir: Path, config: ClusterConfig | None = None) -> None:
        self.data_dir = data_dir
        self.config = config or ClusterConfig()
        self.master: Master | None = None
        self._launchers: LauncherPool | None = None

    async def start(self) -> Master:
        """Create the master and agents, re-adopt checkpointed tasks, start offering."""
        raise_fd_limit()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cluster_id = self._cluster_id()
        master = Master(self.data_dir / "master", self.config.master)
        self._launchers = LauncherPool(LAUNCHERS)
        self._launchers.start()
        count = self.config.agents
        base = self.config.resources or machine_resources()
        for i in range(count):
            attrs = self.config.attributes[min(i, len(self.config.attributes) - 1)] if self.config.attributes else {}
            agent_id = f"{cluster_id}-S{i}"
            agent = Agent(
                agent_id=agent_id,
                hostname=f"127.0.0.{i + 1}",
                resources=split_ports(base, i, count),
                attributes=attrs,
                work_dir=self.data_dir / "agents" / agent_id,
                forward=master.forward,
                freed=master.resources_freed,
                launchers=self._launchers,
                config=self.config.agent,
                executor_exited=master.executor_exited,
            )
            master.add_agent(agent)
            agent.recover()
        master.start()
        self.master = master
        return master

    def sandbox_of(self, agent_id: str, framework_id: str, task_id: str) -> Path | None:
        """The sandbox of a task on one of these agents, when it exists."""
        agent = self.master.agents.get(agent_id) if self.master is not None else None
        if agent is None:
            return None
        try:
            path = agent.sandbox_path(framework_id, task_id)
        except UnsafePath:
            return None
        return path if path.is_dir() else None

    def driver(self, principal: str = "") -> LocalDriver:
        """A connection for a framework inside the server, subscribing as `principal` (see
        `core.security.principals.internal_principal`; "" subscribes unauthenticated)."""
        if self.master is None:
            raise RuntimeError("The cluster is not started: await start() first")
        return LocalDriver(self.master, principal)

    async def stop(self, kill_tasks: bool = False) -> None:
        """Stop supervising. Tasks keep running for the next server to adopt, unless `kill_tasks`."""
        if self.master is None:
            return
        if kill_tasks:
            for agent in self.master.agents.values():
                await agent.terminate_all()
        self.master.stop()
        for agent in self.master.agents.values():
            await agent.shutdown()
        if self._launchers is not None:
            self._launchers.close()
        self.master = None

    def _cluster_id(self) -> str:
        path = self.data_dir / "cluster.json"
        if path.exists():
            cid = str(json.loads(path.read_text())["id"])
            problem = id_problem(cid + "-S0", "Agent ID")  # agent ids name directories
            if problem is not None:
                raise ValueError(f"{path}: the cluster id cannot name agents: {problem}")
            return cid
        cid = str(uuid.uuid4())
        path.write_text(json.dumps({"id": cid}))
        return cid


def raise_fd_limit() -> None:
    """Each task holds a pidfd: lift the soft limit on open files to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
