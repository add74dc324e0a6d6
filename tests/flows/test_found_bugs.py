"""Controller bugs the stateful test (test_stateful.py) found, each reduced to a plain example.

Each is marked xfail(strict=True): it fails today, and the day the controller is fixed it passes, the
mark turns that into a failure, and whoever fixed it removes the mark (and the restriction on the
stateful rule that names the test).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.flows.rig import Rig

HOLDING = ("ready", "charging", "faulty", "inspecting")


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    rig = Rig(tmp_path)
    await rig.start()
    await rig.until(lambda: all(rig.state(n) in ("ready", "charging") for n in (1, 3, 5, 7)))
    yield rig
    await rig.stop()
    rig.sim.close()


def port_sees(rig: Rig, slot: int, present: bool) -> bool:
    return (rig.controller.core.hardware.ports.present(slot) is not None) is present


def door_reads(rig: Rig, slot: int, is_open: bool) -> bool:
    return bool(rig.controller.core.hardware.doors(slot).is_open(slot)) is is_open


async def test_fail__a_device_taken_through_a_forced_door_empties_its_slot(rig: Rig) -> None:
    door = rig.sim.locks.door(1)
    assert door.pull(force=True)
    await rig.until(lambda: "door_forced" in {a.value for a in rig.controller.slots[1].alarms})
    assert rig.sim.remove(1) is not None
    door.push()
    await rig.until(lambda: port_sees(rig, 1, False) and door_reads(rig, 1, False))
    await rig.until(lambda: rig.controller.inbox.empty())
    assert rig.state(1) == "empty"


async def test_fail__a_device_put_in_through_a_forced_door_is_inspected_and_flagged(rig: Rig) -> None:
    door = rig.sim.locks.door(2)
    assert door.pull(force=True)
    await rig.until(lambda: "door_forced" in {a.value for a in rig.controller.slots[2].alarms})
    rig.sim.insert(2, rig.sim.handheld("STRANGER001", model="pda-s1"))
    door.push()
    await rig.until(lambda: port_sees(rig, 2, True) and door_reads(rig, 2, False))
    await rig.until(lambda: rig.controller.inbox.empty())
    assert rig.state(2) in HOLDING
    raised = [e.payload["alarm"] for e in rig.ledger.tail(20) if e.type == "alarm_raised" and e.slot == 2]
    assert "unexpected_device" in raised


async def test_fail__a_restart_keeps_the_slots_alarms(rig: Rig) -> None:
    door = rig.sim.locks.door(2)
    assert door.pull(force=True)
    rig.sim.insert(2, rig.sim.handheld("STRANGER001", model="pda-s1"))
    door.push()
    await rig.until(lambda: port_sees(rig, 2, True) and door_reads(rig, 2, False))
    await rig.restart()  # the recovery finds the device and flags it
    await rig.until(lambda: rig.state(2) in ("ready", "charging"))
    recorded = {row.slot: set(row.alarms) for row in rig.ledger.slot_states()}
    assert recorded[2] == {a.value for a in rig.controller.slots[2].alarms} == {"unexpected_device"}
    await rig.restart()
    await rig.until(lambda: rig.state(2) in ("ready", "charging"))
    recorded = {row.slot: set(row.alarms) for row in rig.ledger.slot_states()}
    assert {a.value for a in rig.controller.slots[2].alarms} == recorded[2]
