"""Properties of the constraint matcher (core.placement), over generated hosts, attribute values and
offer orders: whatever order offers come in, a placement the matcher allows never breaks the
constraint it checked."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from core.placement.constraints import Placement, satisfies
from core.placement.offers import Demand, Fit, OfferSpace
from core.resources import Resources

VALUES = st.text(alphabet="ab01.-", min_size=0, max_size=4)


@st.composite
def hosts(draw: st.DrawFn) -> Placement:
    """A host: a hostname, and perhaps a `rack` attribute (a host without it is possible)."""
    hostname = draw(st.sampled_from([f"127.0.0.{i}" for i in range(1, 6)]))
    attributes = draw(st.dictionaries(st.just("rack"), VALUES, max_size=1))
    return Placement(hostname, attributes)


# offers arrive in any order and the same host may come again (one offer per task slot)
OFFERS = st.lists(hosts(), max_size=40)
FIELDS = st.sampled_from(["hostname", "rack"])


def place_all(constraint: Sequence[str], offers: Sequence[Placement]) -> list[Placement]:
    """Place one task per offer wherever the constraint allows it, as a scheduler would."""
    placed: list[Placement] = []
    for here in offers:
        if satisfies(constraint, here, placed):
            placed.append(here)
    return placed


def values(field: str, placed: Sequence[Placement]) -> list[str | None]:
    return [p.value(field) for p in placed]


@st.composite
def patterns(draw: st.DrawFn) -> str:
    """Small valid regular expressions over the values' alphabet: literals, classes, dots, stars,
    alternations and escaped text."""
    atom = st.one_of(st.sampled_from(["a", "b", "0", "1", ".", r"\.", "-", "[ab]", "[^a]", "[0-9]"]),
                     st.text(alphabet="ab01.-", min_size=1, max_size=3).map(re.escape))
    piece = st.tuples(atom, st.sampled_from(["", "*", "+", "?"])).map("".join)
    branch = st.lists(piece, min_size=1, max_size=3).map("".join)
    return "|".join(draw(st.lists(branch, min_size=1, max_size=3)))


@given(FIELDS, OFFERS)
def test_unique_never_places_two_tasks_on_one_value(field: str, offers: list[Placement]) -> None:
    placed = values(field, place_all((field, "UNIQUE"), offers))
    assert None not in placed
    assert len(placed) == len(set(placed))


@given(FIELDS, OFFERS)
def test_unique_places_one_task_on_every_value_offered(field: str, offers: list[Placement]) -> None:
    offered = {v for v in values(field, offers) if v is not None}
    assert set(values(field, place_all((field, "UNIQUE"), offers))) == offered


@given(FIELDS, st.integers(min_value=1, max_value=5), OFFERS)
def test_max_per_n_never_places_more_than_n_on_a_value(field: str, n: int, offers: list[Placement]) -> None:
    counts = Counter(values(field, place_all((field, "MAX_PER", str(n)), offers)))
    assert None not in counts
    assert all(count <= n for count in counts.values())
    for value, offered in Counter(values(field, offers)).items():  # and it stops only at n
        if value is not None:
            assert counts[value] == min(n, offered)


@given(FIELDS, patterns(), hosts(), st.lists(hosts(), max_size=5))
def test_like_and_unlike_are_complements(field: str, pattern: str, here: Placement,
                                          placed: list[Placement]) -> None:
    like = satisfies((field, "LIKE", pattern), here, placed)
    unlike = satisfies((field, "UNLIKE", pattern), here, placed)
    assert like != unlike
    value = here.value(field)
    assert like == (value is not None and re.fullmatch(pattern, value) is not None)


@given(FIELDS, VALUES, OFFERS)
def test_cluster_and_is_place_only_on_their_value(field: str, value: str, offers: list[Placement]) -> None:
    for operator in ("CLUSTER", "IS"):
        assert set(values(field, place_all((field, operator, value), offers))) <= {value}


@given(FIELDS, OFFERS)
def test_cluster_without_a_value_keeps_every_task_on_the_first_tasks_value(field: str,
                                                                            offers: list[Placement]) -> None:
    assert len(set(values(field, place_all((field, "CLUSTER"), offers)))) <= 1


@given(st.lists(VALUES, min_size=1, max_size=5, unique=True), st.integers(min_value=1, max_value=6))
def test_group_by_spreads_evenly_when_each_value_is_offered_in_turn(racks: list[str], rounds: int) -> None:
    offers = [Placement(f"127.0.0.{i + 1}", {"rack": rack}) for _ in range(rounds) for i, rack in enumerate(racks)]
    counts = Counter(values("rack", place_all(("rack", "GROUP_BY"), offers)))
    assert set(counts) == set(racks)
    assert max(counts.values()) - min(counts.values()) <= 1


@given(FIELDS, st.sampled_from(["UNIQUE", "CLUSTER", "GROUP_BY", "LIKE", "MAX_PER", "IS"]), VALUES,
       st.lists(hosts(), max_size=5))
def test_a_host_without_the_field_satisfies_nothing_but_unlike(field: str, operator: str, value: str,
                                                               placed: list[Placement]) -> None:
    bare = Placement("127.0.0.9", {})
    constraint = ("rack", operator, "1" if operator == "MAX_PER" else re.escape(value))
    assert not satisfies(constraint, bare, placed)
    assert satisfies(("rack", "UNLIKE", re.escape(value)), bare, placed)


@given(FIELDS, st.sampled_from([("UNIQUE",), ("MAX_PER", "2"), ("LIKE", "a.*"), ("UNLIKE", "a.*"), ("IS", "a"),
                                ("GROUP_BY",), ("GROUP_BY", "2")]),
       hosts(), st.lists(hosts(), max_size=6), st.randoms(use_true_random=False))
def test_only_cluster_without_a_value_depends_on_the_order_of_placed_tasks(
        field: str, rest: tuple[str, ...], here: Placement, placed: list[Placement], random: object) -> None:
    shuffled = list(placed)
    random.shuffle(shuffled)  # type: ignore[attr-defined]
    assert satisfies((field, *rest), here, placed) == satisfies((field, *rest), here, shuffled)


@given(st.integers(min_value=1, max_value=6))
def test_an_offer_takes_one_unique_hostname_task_however_many_fit(count: int) -> None:
    space = OfferSpace(Resources.parse("cpus:8;mem:4096;disk:100;ports:[31000-31010]"), Placement("127.0.0.1"))
    demand = Demand(0.1, 16, constraints=(("hostname", "UNIQUE"),))
    placed = 0
    for _ in range(count):
        fit = space.fit(demand, [], group="/app")
        if isinstance(fit, Fit):
            space.place(demand, fit, group="/app")
            placed += 1
    assert placed == 1
