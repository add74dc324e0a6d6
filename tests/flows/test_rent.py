"""Renting, end to end: badge frame on the pty → lock → door model → USB presence → device link → ledger."""

from __future__ import annotations

from tests.flows.rig import Rig


async def test_ok__one_tap_rents_provisions_unlocks_and_records(rig: Rig) -> None:
    await rig.until(lambda: rig.state(1) in ("ready", "charging"))
    rig.sim.badge("A1B2C3")
    await rig.until(lambda: rig.controller.screen.state.get("step") == "door", within=10)
    slot = rig.controller.screen.state["slot"]
    assert rig.state(slot) == "dispensing"
    door = rig.sim.locks.door(slot)
    assert door.pull(), f"slot {slot}: the lock did not let go for the rent"  # a shut latch holds the door
    await rig.until(lambda: rig.controller.screen.state.get("step") == "take")
    rig.sim.remove(slot)
    await rig.until(lambda: rig.controller.screen.state.get("step") == "close")
    door.push()
    await rig.until(lambda: rig.state(slot) == "empty")
    assert rig.events("device_provisioned", "dispense_started", "device_rented") == [
        "device_provisioned",
        "dispense_started",
        "device_rented",
    ]
    assert [r.staff for r in rig.ledger.held_by("anna")] == ["anna"]
