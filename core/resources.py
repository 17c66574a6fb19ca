"""Resource vectors (scalars such as cpus/mem/disk plus port ranges) and their arithmetic.

Scalars are compared with a small epsilon so that 0.1 + 0.2 fits in 0.3, as Mesos does with
its fixed-point scalars. Port ranges are kept sorted and merged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

EPSILON = 1e-6
Range = tuple[int, int]


class ResourceSpecError(ValueError):
    """A resource or attribute string could not be parsed; the message names the bad part."""


def merge_ranges(ranges: Iterable[Range]) -> tuple[Range, ...]:
    merged: list[list[int]] = []
    for begin, end in sorted(ranges):
        if merged and begin <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([begin, end])
    return tuple((b, e) for b, e in merged)


def subtract_ranges(ranges: Iterable[Range], take: Iterable[Range]) -> tuple[Range, ...]:
    out: list[Range] = []
    take_sorted = merge_ranges(take)
    for begin, end in ranges:
        pieces = [(begin, end)]
        for tb, te in take_sorted:
            next_pieces = []
            for pb, pe in pieces:
                if te < pb or tb > pe:
                    next_pieces.append((pb, pe))
                    continue
                if pb < tb:
                    next_pieces.append((pb, tb - 1))
                if te < pe:
                    next_pieces.append((te + 1, pe))
            pieces = next_pieces
        out.extend(pieces)
    return merge_ranges(out)


def ranges_contain(ranges: Iterable[Range], port: int) -> bool:
    return any(b <= port <= e for b, e in ranges)


def iter_ports(ranges: Iterable[Range]) -> Iterator[int]:
    for begin, end in ranges:
        yield from range(begin, end + 1)


@dataclass(frozen=True)
class Resources:
    """An immutable resource vector: named scalars and a set of port ranges."""

    scalars: dict[str, float] = field(default_factory=dict)
    ports: tuple[Range, ...] = ()

    @property
    def cpus(self) -> float:
        return self.scalars.get("cpus", 0.0)

    @property
    def mem(self) -> float:
        return self.scalars.get("mem", 0.0)

    @property
    def disk(self) -> float:
        return self.scalars.get("disk", 0.0)

    def port_count(self) -> int:
        return sum(e - b + 1 for b, e in self.ports)

    def port_list(self) -> list[int]:
        return list(iter_ports(self.ports))

    def is_empty(self) -> bool:
        return all(v <= EPSILON for v in self.scalars.values()) and not self.ports

    def contains(self, other: Resources) -> bool:
        for name, value in other.scalars.items():
            if value > self.scalars.get(name, 0.0) + EPSILON:
                return False
        return all(
            subtract_ranges([(b, e)], self.ports) == () for b, e in other.ports
        )

    def missing(self, other: Resources) -> list[str]:
        """Names of the resources in `other` that this vector cannot supply (for error messages)."""
        out = [
            f"{name} (asks {value:g}, has {self.scalars.get(name, 0.0):g})"
            for name, value in sorted(other.scalars.items())
            if value > self.scalars.get(name, 0.0) + EPSILON
        ]
        lacking = [p for p in iter_ports(other.ports) if not ranges_contain(self.ports, p)]
        if lacking:
            out.append(f"ports {lacking[:5]}{'...' if len(lacking) > 5 else ''} not in the offer")
        return out

    def __add__(self, other: Resources) -> Resources:
        scalars = dict(self.scalars)
        for name, value in other.scalars.items():
            scalars[name] = scalars.get(name, 0.0) + value
        return Resources(scalars, merge_ranges(self.ports + other.ports))

    def __sub__(self, other: Resources) -> Resources:
        scalars = dict(self.scalars)
        for name, value in other.scalars.items():
            left = scalars.get(name, 0.0) - value
            scalars[name] = 0.0 if abs(left) < EPSILON else left
        return Resources(scalars, subtract_ranges(self.ports, other.ports))

    def to_json(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [
            {"name": name, "type": "SCALAR", "scalar": {"value": round(value, 6)}, "role": "*"}
            for name, value in sorted(self.scalars.items())
        ]
        if self.ports:
            out.append(
                {
                    "name": "ports",
                    "type": "RANGES",
                    "ranges": {"range": [{"begin": b, "end": e} for b, e in self.ports]},
                    "role": "*",
                }
            )
        return out

    @classmethod
    def from_json(cls, items: Iterable[dict[str, Any]]) -> Resources:
        scalars: dict[str, float] = {}
        ports: list[Range] = []
        for item in items:
            if item.get("type", "SCALAR") == "RANGES" or "ranges" in item:
                ports.extend((int(r["begin"]), int(r["end"])) for r in item["ranges"].get("range", []))
            else:
                scalars[item["name"]] = scalars.get(item["name"], 0.0) + float(item["scalar"]["value"])
        return cls(scalars, merge_ranges(ports))

    @classmethod
    def of(cls, cpus: float = 0.0, mem: float = 0.0, disk: float = 0.0,
           ports: Iterable[int] = ()) -> Resources:
        scalars = {k: v for k, v in (("cpus", cpus), ("mem", mem), ("disk", disk)) if v}
        return cls(scalars, merge_ranges((p, p) for p in ports))

    @classmethod
    def parse(cls, text: str) -> Resources:
        """Parse Mesos' agent notation: `cpus:4;mem:4096;disk:10000;ports:[31000-32000,33000-33010]`."""
        scalars: dict[str, float] = {}
        ports: list[Range] = []
        for part in filter(None, (p.strip() for p in text.split(";"))):
            name, sep, value = part.partition(":")
            name = name.strip()
            if not sep or not name:
                raise ResourceSpecError(f"resource {part!r} must look like name:value")
            value = value.strip()
            if value.startswith("["):
                if not value.endswith("]"):
                    raise ResourceSpecError(f"range resource {name!r} must end with ']': {value!r}")
                for piece in filter(None, (x.strip() for x in value[1:-1].split(","))):
                    m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", piece)
                    if not m or int(m[1]) > int(m[2]):
                        raise ResourceSpecError(f"range {piece!r} of {name!r} must look like 31000-32000")
                    if name != "ports":
                        raise ResourceSpecError(f"only 'ports' may be a range resource, not {name!r}")
                    ports.append((int(m[1]), int(m[2])))
            else:
                try:
                    number = float(value)
                except ValueError:
                    raise ResourceSpecError(f"resource {name!r} must be a number, got {value!r}") from None
                if number < 0:
                    raise ResourceSpecError(f"resource {name!r} must not be negative, got {value!r}")
                scalars[name] = number
        return cls(scalars, merge_ranges(ports))


def parse_attributes(text: str) -> dict[str, str]:
    """Parse `rack:r1;zone:a` into a mapping; the message names a malformed pair."""
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, sep, value = part.partition(":")
        if not sep or not name.strip() or not value.strip():
            raise ResourceSpecError(f"attribute {part!r} must look like name:value")
        out[name.strip()] = value.strip()
    return out
