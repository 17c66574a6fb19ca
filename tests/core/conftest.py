"""Fixtures for in-process cluster tests: a real embedded cluster in a temp data dir."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from core.cluster.agent import AgentConfig
from core.cluster.embedded import ClusterConfig, EmbeddedCluster
from core.cluster.master import MasterConfig
from core.driver.types import FrameworkInfo
from core.resources import Resources
from tests.support.harness import ScriptedFramework

SMALL_AGENT = Resources.parse("cpus:4;mem:2048;disk:1000;ports:[31000-31099]")
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


@pytest.fixture
async def make_framework() -> AsyncIterator[MakeFramework]:
    frameworks: list[ScriptedFramework] = []

    async def make(cluster: EmbeddedCluster, name: str = "test", **kwargs: object) -> ScriptedFramework:
        info = FrameworkInfo(name=name, failover_timeout=float(kwargs.pop("failover_timeout", 3600.0)),
                             id=str(kwargs.pop("id", "")))
        fw = ScriptedFramework(cluster.driver(), info, **kwargs)  # type: ignore[arg-type]
        frameworks.append(fw)
        return await fw.start()

    yield make
    for fw in frameworks:
        await fw.stop()
