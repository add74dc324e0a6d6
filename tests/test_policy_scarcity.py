"""Scarcity-aware device choice: the issue's case as an example, and properties over random rosters
(work types with the models they accept) and stocks (the ready devices in the cabinet)."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from cabinetd.policy import DeviceView, SlotView, WorkType, rank_devices, rank_for_scarcity, suits
from cabinetproto.enums import SlotState

PRICING = WorkType("pricing", "Price tags", 60, 480, 1, frozenset({"TC21"}))
PICKING = WorkType("picking", "Order picking", 60, 480, 1, frozenset({"TC21", "CT60"}))


def ready(number: int, battery: int, model: str) -> SlotView:
    return SlotView(number, SlotState.READY, "pda", DeviceView(f"D{number}", model, battery))


def test_ok__the_picker_gets_a_rugged_device_and_the_only_standard_one_stays_for_price_tags() -> None:
    # The standard device has the most charge: by battery alone the picker would get it.
    stock = [ready(1, 100, "TC21"), ready(2, 80, "CT60"), ready(3, 75, "CT60")]
    assert [slot.number for slot in rank_devices(stock, PICKING)] == [1, 2, 3]
    ranked = rank_for_scarcity(stock, PICKING, [PRICING])
    assert [slot.number for slot in ranked] == [2, 3, 1]
    left = [slot for slot in stock if slot.number != ranked[0].number]
    assert [slot.number for slot in rank_for_scarcity(left, PRICING, [PICKING])] == [1]


def test_ok__without_anyone_else_waiting_todays_ranking_stands() -> None:
    stock = [ready(1, 100, "TC21"), ready(2, 80, "CT60")]
    assert [slot.number for slot in rank_for_scarcity(stock, PICKING, [])] == [1, 2]
    # The renter's own work type among the others changes nothing.
    assert [slot.number for slot in rank_for_scarcity(stock, PICKING, [PICKING])] == [1, 2]


def test_ok__a_device_only_this_work_can_take_goes_first_even_when_both_stay_served() -> None:
    stock = [ready(1, 100, "TC21"), ready(2, 90, "TC21"), ready(3, 70, "CT60")]
    assert [slot.number for slot in rank_for_scarcity(stock, PICKING, [PRICING])] == [3, 1, 2]


def test_ok__the_battery_another_work_needs_counts_not_only_the_model() -> None:
    # Stock-taking takes the standard model too, but only above 90 %: device 1 is the only one for it.
    stocktaking = WorkType("stock", "Stock-taking", 90, 480, 1, frozenset({"TC21"}))
    stock = [ready(1, 95, "TC21"), ready(2, 70, "TC21")]
    assert [slot.number for slot in rank_for_scarcity(stock, PRICING, [stocktaking])] == [2, 1]


def test_fail__a_device_no_other_rule_allows_is_still_never_offered() -> None:
    stock = [ready(1, 100, "TC21"), ready(2, 40, "CT60"), SlotView(3, SlotState.CHARGING, "pda", None)]
    assert [slot.number for slot in rank_for_scarcity(stock, PICKING, [PRICING])] == [1]


MODELS = ["TC21", "CT60", "EDA52"]
# Cheap examples, so many of them; no deadline: a loaded test machine is not a failure of the rule.
MANY = settings(max_examples=200, deadline=None)


@dataclass(frozen=True)
class Cabinet:
    renter: WorkType
    others: list[WorkType]
    stock: list[SlotView]


@st.composite
def cabinets(draw: st.DrawFn, max_work_types: int = 4) -> Cabinet:
    count = draw(st.integers(2, max_work_types))
    work_types = [
        WorkType(
            f"w{index}",
            f"Work {index}",
            draw(st.integers(0, 100)),
            480,
            1,
            draw(st.frozensets(st.sampled_from(MODELS), min_size=1)),
        )
        for index in range(count)
    ]
    devices = draw(st.lists(st.tuples(st.sampled_from(MODELS), st.integers(0, 100)), max_size=8))
    stock = [ready(number, battery, model) for number, (model, battery) in enumerate(devices, start=1)]
    return Cabinet(work_types[0], work_types[1:], stock)


def left_without(cabinet: Cabinet, taken: SlotView) -> set[str]:
    """The other work types with no suiting ready device once `taken` has gone."""
    left = [slot for slot in cabinet.stock if slot.number != taken.number]
    return {other.id for other in cabinet.others if not any(suits(slot, other) for slot in left)}


@MANY
@given(cabinets())
def test_ok__scarcity_reorders_and_never_refuses(cabinet: Cabinet) -> None:
    ranked = rank_for_scarcity(cabinet.stock, cabinet.renter, cabinet.others)
    plain = rank_devices(cabinet.stock, cabinet.renter)
    assert sorted(slot.number for slot in ranked) == sorted(slot.number for slot in plain)


@MANY
@given(cabinets(max_work_types=2))
def test_ok__a_rent_never_leaves_a_work_type_with_no_device_when_another_choice_served_both(cabinet: Cabinet) -> None:
    ranked = rank_for_scarcity(cabinet.stock, cabinet.renter, cabinet.others)
    if not ranked:
        return
    (other,) = cabinet.others
    if other.id in left_without(cabinet, ranked[0]):
        # Every choice for the renter leaves the other work without a device.
        assert all(other.id in left_without(cabinet, alternative) for alternative in ranked)


@MANY
@given(cabinets())
def test_ok__any_work_type_left_without_is_a_trade_for_another_that_keeps_one(cabinet: Cabinet) -> None:
    ranked = rank_for_scarcity(cabinet.stock, cabinet.renter, cabinet.others)
    if not ranked:
        return
    chosen = left_without(cabinet, ranked[0])
    for alternative in ranked[1:]:
        instead = left_without(cabinet, alternative)
        assert len(chosen) <= len(instead)
        if chosen - instead:
            # The alternative would have served one the choice leaves without, only at the cost of another.
            assert instead - chosen
