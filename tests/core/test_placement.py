"""core.placement: constraints and offer matching, with the reason a demand does not fit."""

from __future__ import annotations

from core.placement.constraints import Placement, satisfies
from core.placement.offers import Demand, Fit, OfferSpace, Rejection, Shortfall
from core.resources import Resources

OFFER = Resources.parse("cpus:2;mem:512;disk:100;ports:[31000-31002]")
HOST_A = Placement("127.0.0.1", {"rack": "r1"})
HOST_B = Placement("127.0.0.2", {"rack": "r2"})


def test_any_ports_take_the_lowest_free_and_specific_ports_are_kept_in_order() -> None:
    space = OfferSpace(OFFER, HOST_A)
    fit = space.fit(Demand(0.5, 64, ports=(0, 31001, 0)), [])
    assert fit == Fit((31000, 31001, 31002))
    assert isinstance(fit, Fit)
    space.place(Demand(0.5, 64, ports=(0, 31001, 0)), fit)
    assert space.resources.port_count() == 0
    assert space.resources.cpus == 1.5


def test_each_resource_names_itself_when_short() -> None:
    space = OfferSpace(OFFER, HOST_A)
    cases = {Shortfall.CPUS: Demand(3, 64), Shortfall.MEM: Demand(1, 1024), Shortfall.DISK: Demand(1, 64, 200),
             Shortfall.PORTS: Demand(1, 64, ports=(0, 0, 0, 0))}
    for shortfall, demand in cases.items():
        result = space.fit(demand, [])
        assert isinstance(result, Rejection) and result.shortfall is shortfall, (shortfall, result)
    missing = space.fit(Demand(1, 64, ports=(40000,)), [])
    assert isinstance(missing, Rejection) and "40000" in missing.detail


def test_constraints_are_checked_first_and_see_tasks_placed_in_the_same_offer() -> None:
    unique = Demand(0.1, 16, constraints=(("hostname", "UNIQUE"),))
    space = OfferSpace(OFFER, HOST_A)
    first = space.fit(unique, [], group="/app")
    assert isinstance(first, Fit)
    space.place(unique, first, group="/app")
    second = space.fit(unique, [], group="/app")
    assert isinstance(second, Rejection) and second.shortfall is Shortfall.CONSTRAINT
    assert isinstance(space.fit(unique, [], group="/other"), Fit)
    too_big_and_placed = space.fit(Demand(9, 16, constraints=(("hostname", "UNIQUE"),)), [HOST_A])
    assert isinstance(too_big_and_placed, Rejection) and too_big_and_placed.shortfall is Shortfall.CONSTRAINT


def test_constraint_operators() -> None:
    assert satisfies(["hostname", "CLUSTER", "127.0.0.1"], HOST_A, [])
    assert not satisfies(["hostname", "CLUSTER", "127.0.0.1"], HOST_B, [])
    assert not satisfies(["rack", "CLUSTER"], HOST_B, [HOST_A])
    assert satisfies(["rack", "LIKE", "r[12]"], HOST_B, [])
    assert not satisfies(["rack", "UNLIKE", "r2"], HOST_B, [])
    assert satisfies(["zone", "UNLIKE", "x"], HOST_A, [])  # a missing attribute satisfies only UNLIKE
    assert not satisfies(["zone", "LIKE", ".*"], HOST_A, [])
    assert satisfies(["rack", "MAX_PER", "2"], HOST_A, [HOST_A])
    assert not satisfies(["rack", "MAX_PER", "2"], HOST_A, [HOST_A, HOST_A])
    assert satisfies(["rack", "IS", "r1"], HOST_A, []) and not satisfies(["rack", "IS", "r1"], HOST_B, [])
    assert not satisfies(["rack", "GROUP_BY"], HOST_A, [HOST_A, HOST_B, HOST_A])
    assert satisfies(["rack", "GROUP_BY"], HOST_B, [HOST_A, HOST_B, HOST_A])
    assert satisfies(["rack", "GROUP_BY"], HOST_A, [HOST_A])  # the only value known so far
    assert not satisfies(["rack", "GROUP_BY", "2"], HOST_A, [HOST_A])  # waits for a second value
    assert satisfies(["rack", "GROUP_BY", "2"], HOST_B, [HOST_A])
