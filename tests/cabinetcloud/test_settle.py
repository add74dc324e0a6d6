"""How one device's facts settle (projections/settle.py), on facts made by hand: which return ends
which rental, what overlaps, whatever order the facts come in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from cabinetcloud.projections.settle import endings

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def rental(cabinet: str, rental_id: str, minutes: int, seq: int = 1) -> SimpleNamespace:
    return SimpleNamespace(
        cabinet_id=cabinet, rental_id=rental_id, rented_at=T0 + timedelta(minutes=minutes), epoch="e", seq=seq
    )


def end(cabinet: str, event_id: str, minutes: int, rental_id: str | None, kind: str = "returned") -> SimpleNamespace:
    return SimpleNamespace(
        cabinet_id=cabinet,
        event_id=event_id,
        kind=kind,
        rental_id=rental_id,
        at=T0 + timedelta(minutes=minutes),
        store="s-" + cabinet,
        battery_in=50,
        epoch="e",
        seq=2,
    )


def test_ok__a_return_elsewhere_ends_the_rental_before_it_and_not_the_one_after() -> None:
    rentals = [rental("A", "R1", 0), rental("A", "R2", 60, seq=5)]
    found = endings(rentals, [end("B", "Q1", 30, None)])
    assert (found[("A", "R1")].end_event, found[("A", "R1")].end_store) == ("Q1", "s-B")
    assert found[("A", "R2")].ended_at is None
    assert not found[("A", "R1")].conflict
    assert not found[("A", "R2")].conflict


def test_ok__a_return_naming_its_rental_ends_it_even_by_a_clock_behind() -> None:
    found = endings([rental("A", "R1", 10)], [end("A", "Q1", 5, "R1")])
    assert found[("A", "R1")].end_event == "Q1"


def test_ok__a_cancel_ends_only_the_rental_it_names() -> None:
    rentals = [rental("A", "R1", 0), rental("B", "R2", 5)]
    found = endings(rentals, [end("A", "C1", 10, "R1", kind="cancelled")])
    assert found[("A", "R1")].ended_by == "cancelled"
    assert found[("B", "R2")].ended_at is None
    assert found[("A", "R1")].conflict  # R2 began while R1 was still open
    assert found[("B", "R2")].conflict


def test_ok__overlapping_rentals_are_flagged_and_one_return_ends_both() -> None:
    rentals = [rental("A", "R1", 0), rental("B", "R2", 20), rental("C", "R3", 90)]
    found = endings(rentals, [end("C", "Q1", 60, None)])
    assert [found[key].end_event for key in (("A", "R1"), ("B", "R2"))] == ["Q1", "Q1"]
    assert [found[key].conflict for key in (("A", "R1"), ("B", "R2"), ("C", "R3"))] == [True, True, False]


@given(st.permutations(range(4)), st.permutations(range(3)))
def test_ok__the_order_facts_come_in_does_not_matter(rental_order: list[int], end_order: list[int]) -> None:
    rentals = [rental("A", "R1", 0), rental("B", "R2", 20), rental("A", "R3", 70, seq=9), rental("C", "R4", 200)]
    ends = [end("C", "Q1", 60, None), end("A", "Q2", 80, "R3"), end("B", "Q3", 80, None)]
    expected = endings(rentals, ends)
    assert endings([rentals[i] for i in rental_order], [ends[i] for i in end_order]) == expected
