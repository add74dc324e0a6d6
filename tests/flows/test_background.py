"""Background steps of the flows: each has an owner that handles its failure or takes the daemon down."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cabinetd.controller import BackgroundStepFailed
from cabinetd.maintenance import Technician
from cabinetd.sim.usbdevices import SWITCHING
from tests.flows.rig import Rig
from tests.flows.test_flows import ANNA, rent


async def test_fail__an_inspection_whose_hub_cannot_switch_power_marks_the_device_faulty(rig: Rig) -> None:
    # Slot 1's hub switches power for all its ports at once, and the device in it stops answering USB.
    hub = rig.sim.usb.device_at("1-1")
    hub.characteristics = SWITCHING["ganged"]  # type: ignore[union-attr]
    handheld = rig.sim.holds(1)
    assert handheld is not None
    rig.sim.usb.timeout_scale = 0.01  # a hung device holds each transfer for its timeout: keep it short
    handheld.usb.make_unresponsive()
    desk, tom = rig.controller.maintenance, Technician("tom")
    await desk.disable(1, tom)
    await desk.enable(1, tom)  # the device is inspected again
    await rig.until(lambda: rig.state(1) != "inspecting", within=30)
    assert rig.state(1) == "faulty"
    ticket = [e for e in rig.ledger.tail(10) if e.type == "repair_ticket_opened"][-1]
    assert ticket.device == handheld.serial
    assert ticket.payload["evidence"]["port_power"] == (
        "slot 1 (USB 1-1.1): hub 1-1 cannot switch power per port (wHubCharacteristics 0x0000: ganged switching)"
    )


async def test_fail__a_background_step_that_fails_takes_the_controller_down(rig: Rig) -> None:
    async def broken() -> None:
        raise RuntimeError("a bug in a background step")

    rig.controller.core.spawn(broken(), "a step with a bug")
    controller_task = next(task for task in rig.tasks if task.get_name() == "controller")
    expected = "background step .a step with a bug. failed: a bug in a background step"
    with pytest.raises(BackgroundStepFailed, match=expected):
        await asyncio.wait_for(asyncio.shield(controller_task), 5)


async def test_fail__a_step_the_ledger_refuses_is_recorded_shown_and_the_cabinet_carries_on(rig: Rig) -> None:
    # A device whose serial the ledger cannot store (over 64 characters) is pushed into slot 2.
    serial = "S" * 70
    door = rig.sim.locks.door(2)
    assert door.pull(force=True)
    rig.sim.insert(2, rig.sim.handheld(serial, model="pda-s1"))
    door.push()
    await rig.until(lambda: "step_refused" in rig.events("step_refused"))
    refused = [e for e in rig.ledger.tail(20) if e.type == "step_refused"][-1]
    assert refused.payload == {
        "step": "DevicePlugged at slot 2",
        "error": (
            "event type 'reconciliation_difference': device must be text of 1 to 64 characters, "
            f"got {serial!r}"
        ),
    }
    assert rig.controller.screen.state["view"] == "refused"
    assert rig.controller.screen.state["reason"] == "step_refused"
    assert rig.state(2) == "empty"  # as the ledger has it
    assert not any(rig.sim.locks.door(n).lock_released() for n in rig.controller.slots)
    await rent(rig)  # the controller carries on
    assert [r.staff for r in rig.ledger.held_by("anna")] == ["anna"]


@pytest.fixture
async def bounded_rig(tmp_path: Path) -> AsyncIterator[Rig]:
    rig = Rig(tmp_path, transient_state_s=120)
    await rig.start()
    await rig.until(lambda: all(rig.state(n) in ("ready", "charging") for n in (1, 3, 5, 7)))
    yield rig
    await rig.stop()
    rig.sim.close()


async def test_fail__a_slot_held_dispensing_beyond_the_bound_is_a_fault_and_starves_the_watchdog(
    bounded_rig: Rig,
) -> None:
    rig = bounded_rig
    rig.sim.badge(ANNA)
    await rig.until(lambda: rig.controller.screen.state.get("step") == "door", within=10)
    slot = int(rig.controller.screen.state["slot"])
    rig.sim.locks.door(slot).pull()  # opened, and then left: nobody takes the device or closes the door
    await rig.until(lambda: rig.controller.screen.state.get("step") == "take")
    await rig.clock.advance(119)
    assert rig.events("slot_stuck") == []
    assert not rig.controller.stalled(time.monotonic())
    await rig.clock.advance(3)
    await rig.until(lambda: rig.events("slot_stuck") == ["slot_stuck"])
    stuck = [e for e in rig.ledger.tail(20) if e.type == "slot_stuck"][-1]
    assert (stuck.slot, stuck.payload["state"], stuck.payload["bound_s"]) == (slot, "dispensing", 120)
    assert rig.controller.stalled(time.monotonic())  # the daemon stops pinging the watchdog
    await rig.clock.advance(300)
    assert rig.events("slot_stuck") == ["slot_stuck"]  # recorded once
    rig.sim.locks.door(slot).push()  # the person comes back and shuts it: the slot moves on
    await rig.until(lambda: rig.state(slot) in ("ready", "charging"))
    await rig.clock.advance(2)
    assert not rig.controller.stalled(time.monotonic())


async def test_fail__a_door_timer_that_fails_takes_the_controller_down(rig: Rig) -> None:
    rig.controller.slots[1].timer_failed(RuntimeError("a bug in the door deadline"))
    controller_task = next(task for task in rig.tasks if task.get_name() == "controller")
    expected = "background step .door deadline at slot 1. failed: a bug in the door deadline"
    with pytest.raises(BackgroundStepFailed, match=expected):
        await asyncio.wait_for(asyncio.shield(controller_task), 5)
