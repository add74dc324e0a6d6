"""Policy: the rules as examples, and as properties over any cabinet hypothesis can build."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from cabinetd.policy import (
    DUE_SOON,
    DeviceView,
    Refusal,
    SlotView,
    Staff,
    WorkType,
    choose_return_slot,
    due_at,
    may_rent,
    minutes_until_ready,
    rank_devices,
    suits,
)
from cabinetproto.enums import SlotState

PRICING = WorkType("pricing", "Price tags", 60, 480, 1, frozenset({"TC21", "TC26"}))
ANNA = Staff("s1", "Anna", "0042", "pricing")
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def ready(number: int, battery: int, model: str = "TC21", **device: object) -> SlotView:
    return SlotView(number, SlotState.READY, "pda", DeviceView(f"D{number}", model, battery, **device))  # type: ignore[arg-type]


def test_ok__may_rent() -> None:
    assert may_rent(ANNA, store="0042", work_type=PRICING, held=0) is None


def test_fail__refusals_in_order_of_precedence() -> None:
    assert may_rent(ANNA, store="0042", work_type=PRICING, held=0, cabinet_disabled=True) is Refusal.CABINET_DISABLED
    assert may_rent(None, store="0042", work_type=PRICING, held=0) is Refusal.UNKNOWN_BADGE
    assert may_rent(ANNA, store="0099", work_type=PRICING, held=0) is Refusal.OTHER_STORE
    inactive = Staff("s1", "Anna", "0042", "pricing", active=False)
    assert may_rent(inactive, store="0042", work_type=PRICING, held=0) is Refusal.INACTIVE
    assert may_rent(ANNA, store="0042", work_type=None, held=0) is Refusal.INACTIVE
    assert may_rent(ANNA, store="0042", work_type=PRICING, held=1) is Refusal.LIMIT_REACHED


def test_ok__provisioned_first_then_battery_then_least_recently_rented() -> None:
    slots = [
        ready(1, 100),
        ready(2, 70, provisioned_work_type="pricing"),
        ready(3, 90, last_rented_at=T0),
        ready(4, 90, last_rented_at=T0 - timedelta(days=1)),
        ready(5, 95, model="CT60"),  # a model this work does not use
        ready(6, 50),  # below the threshold
        SlotView(7, SlotState.CHARGING, "pda", DeviceView("D7", "TC21", 100)),
    ]
    assert [slot.number for slot in rank_devices(slots, PRICING)] == [2, 1, 4, 3]


def test_ok__minutes_until_a_charging_device_will_do() -> None:
    charging = [
        SlotView(1, SlotState.CHARGING, "pda", DeviceView("D1", "TC21", 40, charge_rate=2.0)),
        SlotView(2, SlotState.CHARGING, "pda", DeviceView("D2", "TC21", 50, charge_rate=0.5)),
        SlotView(3, SlotState.CHARGING, "pda", DeviceView("D3", "CT60", 59, charge_rate=5.0)),
    ]
    assert minutes_until_ready(charging, PRICING) == 10
    assert minutes_until_ready(charging[2:], PRICING) is None


def test_ok__return_slot_prefers_working_usb_then_least_used() -> None:
    slots = [
        SlotView(1, SlotState.EMPTY, "pda", usb_ok=False),
        SlotView(2, SlotState.EMPTY, "pda", uses=9),
        SlotView(3, SlotState.EMPTY, "pda", uses=3),
        SlotView(4, SlotState.EMPTY, "rugged", uses=0),
        ready(5, 80),
    ]
    chosen = choose_return_slot(slots, frozenset({"pda"}))
    assert chosen is not None
    assert chosen.number == 3
    unknown_model = choose_return_slot(slots, None)
    assert unknown_model is not None
    assert unknown_model.number == 4
    assert choose_return_slot(slots[:1], frozenset({"rugged"})) is None


def test_ok__due_at_the_work_types_limit_and_due_soon_fifteen_minutes_before() -> None:
    # Where a rental turns due soon and overdue is checked on the cabinet's reminders
    # (tests/flows/test_flows.py: test_ok__due_soon_then_overdue_are_recorded_once).
    assert due_at(T0, PRICING) == T0 + timedelta(hours=8)
    assert timedelta(minutes=15) == DUE_SOON


devices = st.builds(
    DeviceView,
    serial=st.text(min_size=1, max_size=4),
    model=st.sampled_from(["TC21", "TC26", "CT60"]),
    battery=st.one_of(st.none(), st.integers(0, 100)),
    healthy=st.booleans(),
    provisioned_work_type=st.sampled_from([None, "pricing", "picking"]),
    last_rented_at=st.one_of(st.none(), st.datetimes(timezones=st.just(UTC))),
    rented=st.booleans(),
    fleet_listed=st.booleans(),
)
slots_st = st.lists(
    st.builds(
        SlotView,
        number=st.integers(1, 40),
        state=st.sampled_from(SlotState),
        slot_type=st.sampled_from(["pda", "rugged"]),
        device=st.one_of(st.none(), devices),
        usb_ok=st.booleans(),
        uses=st.integers(0, 1000),
    ),
    max_size=24,
)


@given(slots_st, st.integers(0, 100))
def test_ok__a_chosen_device_always_satisfies_the_rules(slots: list[SlotView], threshold: int) -> None:
    work = WorkType("pricing", "Price tags", threshold, 60, 1, frozenset({"TC21", "TC26"}))
    ranked = rank_devices(slots, work)
    for slot in ranked:
        assert slot.state is SlotState.READY
        assert slot.device is not None
        assert slot.device.healthy
        assert not slot.device.rented
        assert slot.device.fleet_listed
        assert slot.device.model in work.device_models
        assert slot.device.battery is not None
        assert slot.device.battery >= threshold
    assert len(ranked) == sum(1 for slot in slots if suits(slot, work))
    if ranked and ranked[0].device and ranked[0].device.provisioned_work_type != "pricing":
        assert all(s.device and s.device.provisioned_work_type != "pricing" for s in ranked)


@given(slots_st, st.one_of(st.none(), st.frozensets(st.sampled_from(["pda", "rugged"]), min_size=1)))
def test_ok__the_return_slot_is_always_empty_and_fits(
    slots: list[SlotView], types: frozenset[str] | None
) -> None:
    chosen = choose_return_slot(slots, types)
    fitting = [s for s in slots if s.state is SlotState.EMPTY and (types is None or s.slot_type in types)]
    if chosen is None:
        assert fitting == []
    else:
        assert chosen.state is SlotState.EMPTY
        assert types is None or chosen.slot_type in types
        assert not (not chosen.usb_ok and any(s.usb_ok for s in fitting))


def test_fail__a_device_out_on_an_open_rental_is_never_offered() -> None:
    slots = [ready(1, 100, rented=True), ready(2, 70)]
    assert [slot.number for slot in rank_devices(slots, PRICING)] == [2]
    assert not suits(ready(3, 100, rented=True), PRICING)


def test_fail__a_device_the_fleet_does_not_list_is_never_offered() -> None:
    slots = [ready(1, 100, fleet_listed=False), ready(2, 70)]
    assert [slot.number for slot in rank_devices(slots, PRICING)] == [2]
    charging = SlotView(3, SlotState.CHARGING, "pda", DeviceView("D3", "TC21", 50, charge_rate=1.0, fleet_listed=False))
    assert minutes_until_ready([charging], PRICING) is None
