"""Fixtures for in-process cluster tests: a real embedded cluster in a temp data dir."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette

from core.cluster.agent import AgentConfig
from core.cluster.embedded import ClusterConfig, EmbeddedCluster
from core.cluster.master import MasterConfig
from core.driver.base import Driver
from core.driver.mesos import MesosHTTPDriver
from core.driver.types import FrameworkInfo
from core.resources import Resources
from core.server.scheduler_api import SchedulerAPI
from tests.support.harness import ScriptedFramework
from tests.support.server import free_port, port_range

SMALL_AGENT = Resources.parse("cpus:4;mem:2048;disk:1000;ports:[{}-{}]".format(*port_range(100)))
FAST = ClusterConfig(
    resources=SMALL_AGENT,
    master=MasterConfig(allocation_interval=0.1, offer_timeout=30.0),
    agent=AgentConfig(update_retry_seconds=0.3, memory_check_seconds=0.2),
)

MakeCluster = Callable[..., Awaitable[EmbeddedCluster]]
MakeFramework = Callable[..., Awaitable[ScriptedFramework]]


@pytest.fixture
async def make_cluster(tmp_path: Path) -> AsyncIterator[MakeCluster]:
    clusters: list[EmbeddedCluster] = []

    async def make(config: ClusterConfig = FAST, data_dir: Path | None = None) -> EmbeddedCluster:
        cluster = EmbeddedCluster(data_dir or tmp_path / "data", config)
        await cluster.start()
        clusters.append(cluster)
        return cluster

    yield make
    for cluster in clusters:
        await cluster.stop(kill_tasks=True)


@pytest.fixture
async def cluster(make_cluster: MakeCluster) -> EmbeddedCluster:
    return await make_cluster()


@pytest.fixture(params=["local", "http"])
def driver_kind(request: pytest.FixtureRequest) -> str:
    """Every framework-facing behaviour is checked through both drivers: in-process, and over
    Mesos' v1 scheduler HTTP API served for the same cluster."""
    return str(request.param)


@pytest.fixture
async def make_framework(driver_kind: str) -> AsyncIterator[MakeFramework]:
    frameworks: list[ScriptedFramework] = []
    servers: dict[int, tuple[uvicorn.Server, asyncio.Task[None], str]] = {}
    http_drivers: list[MesosHTTPDriver] = []

    async def serve(cluster: EmbeddedCluster) -> str:
        if id(cluster) not in servers:
            app = Starlette(routes=SchedulerAPI(lambda: cluster.master).routes())
            port = free_port()
            server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                                   lifespan="off"))
            task = asyncio.create_task(server.serve())
            while not server.started:
                await asyncio.sleep(0.01)
            servers[id(cluster)] = (server, task, f"http://127.0.0.1:{port}")
        return servers[id(cluster)][2]

    async def make(cluster: EmbeddedCluster, name: str = "test", **kwargs: object) -> ScriptedFramework:
        info = FrameworkInfo(name=name, failover_timeout=float(kwargs.pop("failover_timeout", 3600.0)),
                             id=str(kwargs.pop("id", "")))
        driver: Driver
        if driver_kind == "http":
            http = MesosHTTPDriver(await serve(cluster))
            http_drivers.append(http)
            driver = http
        else:
            driver = cluster.driver()
        fw = ScriptedFramework(driver, info, **kwargs)  # type: ignore[arg-type]
        frameworks.append(fw)
        return await fw.start()

    yield make
    for fw in frameworks:
        await fw.stop()
    for http in http_drivers:
        await http.close()
    for server, task, _ in servers.values():
        server.should_exit = True
        await task
