"""Bugs the stateful test (test_stateful.py) found, each reduced to a plain example.

While a bug stands its test is marked xfail(strict=True): the day it is fixed the test passes, the mark
turns that into a failure, and whoever fixed it removes the mark (and the restriction in the stateful
test that names it); the test stays, as the bug's regression test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.flows.rig import Rig

HOLDING = ("ready", "charging", "faulty", "inspecting")


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


@pytest.fixture
async def slow_usb_rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Rig]:
    """A rig whose USB poller looks every 3 s (a drop-in, as a cabinet's conf.d would set it), so that
    what a poll has not seen yet stays unseen for the length of a door cycle."""
    conf_d = tmp_path / "etc" / "conf.d"
    conf_d.mkdir(parents=True)
    (conf_d / "usb.toml").write_text("[usb]\npoll_s = 3.0\n")
    monkeypatch.setenv("CABINETD_CONFIG_DIR", str(conf_d.parent))
    rig = Rig(tmp_path)
    await rig.start()
    await rig.until(lambda: all(rig.state(n) in ("ready", "charging") for n in (1, 3, 5, 7)), within=10)
    yield rig
    await rig.stop()
    rig.sim.close()


# Its USB poller looks every 3 s on purpose, and the rent waits for a poll: three seconds or more.
@pytest.mark.slow
async def test_fail__a_handheld_entering_accessory_mode_during_a_rent_is_not_taken_for_a_removal(
    slow_usb_rig: Rig,
) -> None:
    rig = slow_usb_rig
    ports = rig.controller.core.hardware.ports
    for slot in (1, 3):  # as the cloud's power-cycle command does: the handhelds come back in normal mode
        await ports.power_cycle(slot)
    # The rent provisions its device, which takes the accessory handshake, just after the cycle's poll.
    rig.sim.badge("A1B2C3")
    await rig.until(lambda: rig.controller.screen.state.get("step") == "door", within=10)
    slot = int(rig.controller.screen.state["slot"])
    door = rig.sim.locks.door(slot)
    assert door.pull()
    await rig.until(lambda: door_reads(rig, slot, True))
    identity = ports.present(slot)
    await rig.until(lambda: ports.present(slot) != identity, within=10)  # the poll sees the accessory
    await asyncio.sleep(0.1)
    door.push()  # shut on the device, which never left
    await rig.until(lambda: rig.state(slot) != "dispensing")
    assert rig.sim.holds(slot) is not None
    assert rig.state(slot) in ("ready", "charging")
    assert rig.ledger.held_by("anna") == []


async def test_fail__stopping_the_controller_leaves_no_door_timer_behind(rig: Rig) -> None:
    rig.sim.badge("A1B2C3")
    await rig.until(lambda: rig.controller.screen.state.get("step") == "door", within=10)
    slot = int(rig.controller.screen.state["slot"])
    stopped = rig.controller
    await rig.restart()  # the new controller ends the cut-short rent; the old one must do nothing more
    machine = stopped.slots[slot].machine
    assert not any(state.runner for state in machine.states.values()), "a door timer outlived its controller"
    await rig.clock.advance(rig.config.timeouts.door_open_s + 1)
    assert stopped.slots[slot].state.value == "dispensing", "a stopped controller's door timer fired"
