"""The one pool of service ports: reserve, allocate, blocks, release, exhaustion."""

from __future__ import annotations

import pytest

from core.framework.ports import PortsExhausted, PortTaken, ServicePorts


def test_allocation_takes_the_lowest_free_ports_and_release_gives_them_back() -> None:
    pool = ServicePorts(10000, 10009)
    pool.reserve("/fixed", [10001])
    assert pool.allocate("/a", 2) == [10000, 10002]
    assert pool.allocate("/b", 1) == [10003]
    pool.release("/a")
    assert pool.allocate("/c", 3) == [10000, 10002, 10004]
    assert pool.holder(10001) == "/fixed" and pool.held_by("/c") == [10000, 10002, 10004]


def test_a_port_held_by_another_owner_cannot_be_reserved() -> None:
    pool = ServicePorts(10000, 10009)
    pool.reserve("/a", [10005])
    pool.reserve("/a", [10005])  # the same owner again: fine
    with pytest.raises(PortTaken, match="10005 is already used by /a"):
        pool.reserve("/b", [10004, 10005])
    assert pool.holder(10004) is None  # nothing half-taken


def test_blocks_are_consecutive_and_exhaustion_names_the_range() -> None:
    pool = ServicePorts(10000, 10005)
    pool.reserve("x", [10001])
    assert pool.allocate_block("job", 3) == [10002, 10003, 10004]
    with pytest.raises(PortsExhausted, match="no 2 free service port"):
        pool.allocate_block("other", 2)
    assert pool.allocate("one", 2) == [10000, 10005]
    with pytest.raises(PortsExhausted, match="10000-10005"):
        pool.allocate("more", 1)


def test_a_bad_range_is_refused() -> None:
    with pytest.raises(ValueError, match="not within"):
        ServicePorts(0, 10)


def test_a_block_within_another_range_is_still_held_in_the_one_pool() -> None:
    pool = ServicePorts(10000, 10009)
    aurora = range(21000, 21005)
    assert pool.allocate_block("aurora:a", 2, within=aurora) == [21000, 21001]
    pool.reserve("aurora:b", [21002])
    assert pool.allocate_block("aurora:c", 2, within=aurora) == [21003, 21004]
    with pytest.raises(PortTaken, match="21000 is already used by aurora:a"):
        pool.reserve("/app", [21000])  # another framework cannot take it either
    with pytest.raises(PortsExhausted, match="21000-21004"):
        pool.allocate_block("aurora:d", 1, within=aurora)
    pool.release("aurora:a")
    assert pool.allocate_block("aurora:d", 2, within=aurora) == [21000, 21001]
    assert pool.allocate("/app", 1) == [10000]  # the pool's own range is untouched
    with pytest.raises(ValueError, match="not within"):
        pool.allocate_block("x", 1, within=range(65530, 65540))
