"""Service ports: the load balancer's port for each endpoint of a service, one pool for all.

Rules:
- One pool serves every framework (they share one HAProxy): a port belongs to one owner (an
  app id, an Aurora job key) at a time.
- `reserve(owner, ports)` records ports an owner already has (loaded from the store, or given
  by the user); it raises `PortTaken` naming the holder when another owner has one of them.
- `allocate(owner, count)` gives `count` free ports from the range, lowest first, and
  `allocate_block(owner, count)` a consecutive block; both raise `PortsExhausted` when the
  range has too few left. `allocate_block(..., within=range)` looks in that range instead of the
  pool's (a framework's own range of service ports, e.g. Aurora's): ports are still held in the
  one pool, so no two owners share one wherever it lies. `release(owner)` frees everything the
  owner holds.
- Cost: allocation looks at free ports only from a moving cursor, so creating the 10,000th
  service costs what creating the first did.
"""

from __future__ import annotations

from collections.abc import Iterable


class PortsExhausted(Exception):
    def __init__(self, low: int, high: int, wanted: int) -> None:
        super().__init__(f"no {wanted} free service port(s) left in {low}-{high}")
        self.low, self.high, self.wanted = low, high, wanted


class PortTaken(Exception):
    def __init__(self, port: int, holder: str) -> None:
        super().__init__(f"service port {port} is already used by {holder}")
        self.port, self.holder = port, holder


class ServicePorts:
    def __init__(self, low: int = 10000, high: int = 20000) -> None:
        if not 0 < low <= high < 65536:
            raise ValueError(f"service port range {low}-{high} is not within 1-65535")
        self.low, self.high = low, high
        self._holder: dict[int, str] = {}
        self._held: dict[str, set[int]] = {}
        self._cursor = low

    def holder(self, port: int) -> str | None:
        return self._holder.get(port)

    def held_by(self, owner: str) -> list[int]:
        return sorted(self._held.get(owner, ()))

    def reserve(self, owner: str, ports: Iterable[int]) -> None:
        wanted = [p for p in ports if p]
        for port in wanted:
            holder = self._holder.get(port)
            if holder is not None and holder != owner:
                raise PortTaken(port, holder)
        for port in wanted:
            self._take(owner, port)

    def allocate(self, owner: str, count: int) -> list[int]:
        found: list[int] = []
        for port in self._free_from_cursor():
            found.append(port)
            if len(found) == count:
                break
        if len(found) < count:
            raise PortsExhausted(self.low, self.high, count)
        for port in found:
            self._take(owner, port)
        return found

    def allocate_block(self, owner: str, count: int, within: range | None = None) -> list[int]:
        search = within if within is not None else range(self.low, self.high + 1)
        if search and not 0 < search[0] <= search[-1] < 65536:
            raise ValueError(f"service port range {search[0]}-{search[-1]} is not within 1-65535")
        run: list[int] = []
        for port in search:
            run = [*run, port] if port not in self._holder else []
            if len(run) == count:
                for taken in run:
                    self._take(owner, taken)
                return run
        raise PortsExhausted(search[0] if search else self.low, search[-1] if search else self.high, count)

    def release(self, owner: str, ports: Iterable[int] | None = None) -> None:
        held = self._held.get(owner, set())
        for port in list(held if ports is None else set(ports) & held):
            held.discard(port)
            del self._holder[port]
            self._cursor = min(self._cursor, port)
        if not held:
            self._held.pop(owner, None)

    def _take(self, owner: str, port: int) -> None:
        self._holder[port] = owner
        self._held.setdefault(owner, set()).add(port)

    def _free_from_cursor(self) -> Iterable[int]:
        """Free ports in ascending order, starting where the last allocation stopped."""
        port = self._cursor
        while port <= self.high:
            if port not in self._holder:
                self._cursor = port
                yield port
            port += 1
        self._cursor = self.high + 1
