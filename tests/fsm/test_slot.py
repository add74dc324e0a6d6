"""The slot state machine: legal moves, refused moves, the door timer on the test clock, the drawing."""

from __future__ import annotations

from pathlib import Path

import pytest

from cabinetd.__main__ import main
from cabinetd.clock import ManualClock
from cabinetd.fsm import diagram
from cabinetd.fsm.slot import MOVES, TRANSITIONS, Slot, Trigger
from cabinetproto.enums import SlotState

S = SlotState
T = Trigger
ROOT = Path(__file__).resolve().parent.parent.parent


class Recorder:
    def __init__(self) -> None:
        self.lines: list[str] = []

    async def changed(self, slot: Slot, before: SlotState, after: SlotState) -> None:
        self.lines.append(f"{slot.number}: {before.value} -> {after.value}")

    async def invalid(self, slot: Slot, trigger: Trigger, state: SlotState) -> None:
        self.lines.append(f"{slot.number}: {trigger} refused in {state.value}")

    async def door_timeout(self, slot: Slot, state: SlotState) -> None:
        self.lines.append(f"{slot.number}: door not opened in {state.value}")
        await slot.fire(T.RENT_CANCELLED if state is S.DISPENSING else T.RETURN_CANCELLED)


def make_slot(clock: ManualClock, recorder: Recorder, initial: SlotState = S.EMPTY, battery: int | None = None) -> Slot:
    slot = Slot(
        7,
        "pda",
        clock=clock,
        door_open_s=20,
        on_changed=recorder.changed,
        on_invalid=recorder.invalid,
        on_door_timeout=recorder.door_timeout,
        initial=initial,
    )
    slot.threshold = 60
    slot.battery = battery
    slot.device = "D1" if battery is not None else None
    return slot


async def test_ok__rent_then_return_walks_the_table() -> None:
    clock, rec = ManualClock(), Recorder()
    slot = make_slot(clock, rec, S.READY, battery=90)
    for trigger in [T.RENT, T.DEVICE_TAKEN, T.RETURN, T.DEVICE_INSERTED, T.INSPECTION_PASSED]:
        assert await slot.fire(trigger)
    assert slot.state is S.READY
    assert rec.lines == [
        "7: ready -> dispensing",
        "7: dispensing -> empty",
        "7: empty -> receiving",
        "7: receiving -> inspecting",
        "7: inspecting -> ready",
    ]


@pytest.mark.parametrize(("battery", "after"), [(59, S.CHARGING), (60, S.READY)])
async def test_ok__inspection_passed_goes_by_battery(battery: int, after: SlotState) -> None:
    slot = make_slot(ManualClock(), Recorder(), S.INSPECTING, battery=battery)
    assert await slot.fire(T.INSPECTION_PASSED)
    assert slot.state is after


def test_ok__the_moves_are_the_machines_own() -> None:
    """MOVES answers "may a slot go from here to there" without asking a machine: it must agree."""
    machine = make_slot(ManualClock(), Recorder()).machine
    for source in SlotState:
        for dest in SlotState:
            allowed = bool(machine.get_transitions(source=source.name, dest=dest.name))
            assert ((source, dest) in MOVES) is allowed, f"{source.value} -> {dest.value}"
    assert (S.READY, S.DISPENSING) in MOVES
    assert (S.EMPTY, S.DISPENSING) not in MOVES


async def test_fail__illegal_trigger_is_reported_not_raised() -> None:
    rec = Recorder()
    slot = make_slot(ManualClock(), rec, S.EMPTY)
    assert not await slot.fire(T.RENT)
    assert slot.state is S.EMPTY
    assert rec.lines == ["7: dispense refused in empty"]


async def test_fail__door_not_opened_in_time_cancels_the_dispense() -> None:
    clock, rec = ManualClock(), Recorder()
    slot = make_slot(clock, rec, S.READY, battery=80)
    await slot.fire(T.RENT)
    await clock.advance(19.9)
    assert slot.state is S.DISPENSING
    await clock.advance(0.2)
    assert slot.state is S.READY
    assert rec.lines == ["7: ready -> dispensing", "7: door not opened in dispensing", "7: dispensing -> ready"]


async def test_ok__leaving_the_door_state_stops_its_timer() -> None:
    clock, rec = ManualClock(), Recorder()
    slot = make_slot(clock, rec, S.EMPTY)
    await slot.fire(T.RETURN)
    await clock.advance(5)
    slot.device, slot.battery = "D2", 30
    await slot.fire(T.DEVICE_INSERTED)
    await clock.advance(60)
    assert slot.state is S.INSPECTING
    assert "door not opened" not in " ".join(rec.lines)


async def test_ok__enable_goes_to_inspection_only_with_a_device() -> None:
    with_device = make_slot(ManualClock(), Recorder(), S.DISABLED, battery=50)
    without = make_slot(ManualClock(), Recorder(), S.DISABLED)
    assert await with_device.fire(T.ENABLE)
    assert await without.fire(T.ENABLE)
    assert (with_device.state, without.state) == (S.INSPECTING, S.EMPTY)


@pytest.mark.parametrize("state", [S.DISPENSING, S.RECEIVING])
async def test_fail__a_slot_in_a_flow_cannot_be_disabled(state: SlotState) -> None:
    rec = Recorder()
    slot = make_slot(ManualClock(), rec, state, battery=50)
    assert not await slot.fire(T.DISABLE)
    assert rec.lines == [f"7: disable refused in {state.value}"]


def test_ok__every_state_is_reachable_and_every_trigger_used() -> None:
    reachable = {S.EMPTY}
    for _ in SlotState:
        for row in TRANSITIONS:
            sources = row["source"] if isinstance(row["source"], list) else [row["source"]]
            if reachable & set(sources):
                reachable.add(row["dest"])
    assert reachable == set(SlotState)
    assert all(isinstance(row["trigger"], Trigger) for row in TRANSITIONS)
    assert {row["trigger"] for row in TRANSITIONS} == set(Trigger), "a trigger no move of the table uses"


def test_ok__docs_drawing_matches_the_table() -> None:
    drawing = (ROOT / "docs" / "slot-states.md").read_text()
    assert f"```mermaid\n{diagram.mermaid()}\n```" in drawing


def test_ok__cabinetd_fsm_diagram_prints_mermaid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fsm", "diagram"]) == 0
    out = capsys.readouterr().out
    assert "stateDiagram-v2" in out
    assert "DISPENSING --> READY: dispense_cancelled [is_charged]" in out


async def test_fail__a_door_timeout_that_raises_reaches_the_slots_owner() -> None:
    clock, rec, failures = ManualClock(), Recorder(), list[tuple[int, str]]()

    async def broken(slot: Slot, state: SlotState) -> None:
        raise RuntimeError("a bug in the door deadline")

    slot = Slot(
        7,
        "pda",
        clock=clock,
        door_open_s=20,
        on_changed=rec.changed,
        on_door_timeout=broken,
        on_timer_failed=lambda failed, error: failures.append((failed.number, str(error))),
        initial=S.READY,
    )
    slot.device, slot.battery, slot.threshold = "D1", 90, 60
    await slot.fire(T.RENT)
    await clock.advance(20.1)
    assert failures == [(7, "a bug in the door deadline")]
