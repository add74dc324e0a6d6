"""A returned device the fleet does not know: taken in, recorded and flagged, never handed out until
the fleet lists it. A cabinet that holds no device list at all judges nothing."""

from __future__ import annotations

from cabinetd.flows.core import policy_work_type
from cabinetd.policy import rank_devices
from tests.flows.rig import Rig
from tests.flows.test_flows import ANNA, return_instead, screen

STOCK = ("SIM0001", "SIM0003", "SIM0005", "SIM0007")
STRANGER = "STRANGER1"


def list_devices(rig: Rig, *serials: str) -> None:
    model = {"SIM0005": "pda-r1", "SIM0007": "pda-r1"}
    ops = [
        {"entity": "devices", "id": serial, "version": 1, "op": "upsert",
         "data": {"model": model.get(serial, "pda-s1")}}
        for serial in serials
    ]
    rig.ledger.apply_replica(ops, f"listed {len(serials)}")


def offered(rig: Rig) -> list[str]:
    core = rig.controller.core
    work_type = core.ledger.work_type("price-tags")
    assert work_type is not None
    return [view.device.serial for view in rank_devices(core.slot_views(), policy_work_type(work_type)) if view.device]


async def return_stranger(rig: Rig) -> int:
    slot = await return_instead(rig, ANNA)
    await rig.until(lambda: rig.sim.locks.door(slot).pull())  # once the board has let the latch go
    rig.sim.insert(slot, rig.sim.handheld(STRANGER, model="pda-s1"))
    await rig.until(lambda: rig.controller.core.hardware.ports.present(slot) is not None)
    rig.sim.locks.door(slot).push()
    await rig.until(lambda: screen(rig).get("view") == "returned", within=10)
    return slot


async def test_fail__a_returned_device_the_fleet_does_not_list_is_taken_in_flagged_and_never_offered(rig: Rig) -> None:
    list_devices(rig, *STOCK)
    slot = await return_stranger(rig)
    assert rig.state(slot) in ("ready", "charging")  # taken in and checked like any return
    assert screen(rig)["unknown_to_fleet"] is True  # the kiosk says so
    raised = [e for e in rig.ledger.tail(20) if e.type == "alarm_raised" and e.payload["alarm"] == "unknown_to_fleet"]
    assert [(e.slot, e.device) for e in raised] == [(slot, STRANGER)]  # recorded, for the cloud too
    listing = {summary.slot: summary.alarms for summary in rig.cabinet.view.slots()}  # what cabinetctl shows
    assert "unknown_to_fleet" in listing[slot]
    await rig.clock.advance(5)
    assert STRANGER not in offered(rig)
    list_devices(rig, *STOCK, STRANGER)  # the office adds it
    await rig.clock.advance(2)
    await rig.until(lambda: "unknown_to_fleet" not in {a.value for a in rig.controller.slots[slot].alarms})
    assert rig.events("alarm_cleared")[-1:] == ["alarm_cleared"]
    await rig.until(lambda: rig.state(slot) == "ready", within=10)
    assert STRANGER in offered(rig)


async def test_ok__without_any_device_list_a_returned_device_is_not_flagged(rig: Rig) -> None:
    slot = await return_stranger(rig)
    assert screen(rig)["unknown_to_fleet"] is False
    assert "unknown_to_fleet" not in {a.value for a in rig.controller.slots[slot].alarms}
