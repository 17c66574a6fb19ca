"""The catalog of services that frameworks offer to service discovery (HAProxy).

A framework registers a provider: an async function returning its services as apps in the shape
of Marathon's `GET /v2/apps?embed=apps.tasks` (`id`, `labels`, `portDefinitions`, `healthChecks`,
`tasks` with `host`, `ports`, `state`, `healthCheckResults`). That shape is the one the load
balancer understands, whichever framework runs the service, and the same one a remote Marathon
serves over HTTP. Providers must not block and must be cheap: discovery calls them after every
burst of events.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from core.framework.ports import ServicePorts

AppJSON = dict[str, Any]
Provider = Callable[[], Awaitable[list[AppJSON]]]


class ServiceCatalog:
    """`drain_seconds`: set by a running load balancer. Frameworks take a task out of their
    provider's answer and publish an event this long before they kill it, so that in-flight
    requests finish and no new one reaches it. `ports`: the one pool of service ports."""

    def __init__(self, ports: ServicePorts | None = None) -> None:
        self._providers: dict[str, Provider] = {}
        self.drain_seconds = 0.0
        self.ports = ports or ServicePorts()

    def register(self, name: str, provider: Provider) -> None:
        """Register (or replace) the provider of framework `name`."""
        self._providers[name] = provider

    async def snapshot(self) -> list[AppJSON]:
        """Every provider's apps, providers in name order."""
        apps: list[AppJSON] = []
        for name in sorted(self._providers):
            apps.extend(await self._providers[name]())
        return apps
