"""Every flow of DESIGN.md §6 end to end through the real drivers on the fakes, with a test clock for
the controller's timers."""

from __future__ import annotations

import pytest

from cabinetd.flows import return_
from cabinetd.flows.watch import REMINDER_CHECK_S
from cabinetd.fsm.slot import Trigger
from cabinetd.hal.base import PortRecovery
from cabinetd.maintenance import Technician
from cabinetd.sim.usbdevices import SimUsbDevice
from tests.flows.rig import Rig

ANNA, PIET, OLGA, TOM, NOBODY = "A1B2C3", "B2C3D4", "C3D4E5", "D4E5F6", "ABCDEF"


def screen(rig: Rig) -> dict[str, object]:
    return dict(rig.controller.screen.state)


async def rent(rig: Rig, badge: str = ANNA) -> int:
    rig.sim.badge(badge)
    await rig.until(lambda: screen(rig).get("step") == "door", within=10)
    slot = int(screen(rig)["slot"])  # type: ignore[call-overload]
    await take_out(rig, slot)
    return slot


async def take_out(rig: Rig, slot: int) -> None:
    """The person at the released door of `slot`: opens it, takes the device, shuts it."""
    rig.sim.locks.door(slot).pull()
    await rig.until(lambda: screen(rig).get("step") == "take")
    rig.sim.remove(slot)
    await rig.until(lambda: screen(rig).get("step") == "close")
    rig.sim.locks.door(slot).push()
    await rig.until(lambda: rig.state(slot) == "empty")


async def put_back(rig: Rig, serial: str, badge: str = ANNA, *, model: str = "pda-s1") -> int:
    rig.sim.badge(badge)
    await rig.until(lambda: screen(rig).get("view") == "returning" and screen(rig).get("step") == "door")
    slot = int(screen(rig)["slot"])  # type: ignore[call-overload]
    assert rig.state(slot) == "receiving"
    rig.sim.locks.door(slot).pull()
    await rig.until(lambda: screen(rig).get("step") == "insert")
    rig.sim.insert(slot, rig.sim.handheld(serial, model=model))
    await rig.until(lambda: rig.sim.holds(slot) is not None)
    await rig.until(lambda: rig.controller.core.hardware.ports.present(slot) is not None)
    rig.sim.locks.door(slot).push()
    await rig.until(lambda: screen(rig).get("view") == "returned", within=10)
    return slot


async def test_ok__rent_then_return_closes_the_rental(rig: Rig) -> None:
    slot = await rent(rig)
    rental = rig.ledger.held_by("anna")[0]
    back = await put_back(rig, rental.device)
    assert screen(rig)["passed"] is True
    assert rig.ledger.held_by("anna") == []
    assert rig.ledger.rental(rental.rental_id).status == "closed"  # type: ignore[union-attr]
    assert rig.state(back) in ("ready", "charging")
    assert rig.events("return_started", "device_returned")[-2:] == ["return_started", "device_returned"]
    assert slot != back or rig.state(slot) != "empty"


@pytest.mark.parametrize(("badge", "reason"), [(NOBODY, "unknown_badge"), (OLGA, "other_store")])
async def test_fail__refused_badges_show_the_reason_and_unlock_nothing(rig: Rig, badge: str, reason: str) -> None:
    before = rig.events()
    rig.sim.badge(badge)
    await rig.until(lambda: screen(rig).get("view") == "refused")
    assert screen(rig)["reason"] == reason
    assert rig.events() == [*before, "rent_refused"]
    assert rig.ledger.tail(1)[0].payload == {"reason": reason, "minutes": None}


async def test_fail__limit_reached_offers_the_return_instead(rig: Rig) -> None:
    await rent(rig)
    rig.sim.badge(ANNA)  # holds one, limit one: the return starts, "rent" is not offered
    await rig.until(lambda: screen(rig).get("view") == "returning")
    assert rig.controller.session.choices == ["report", "look"]
    await rig.controller.choose("cancel")
    await rig.until(lambda: not any(rig.state(n) == "receiving" for n in rig.controller.slots))
    assert rig.events()[-2:] == ["return_cancelled", "slot_state_changed"]


async def test_ok__a_holder_below_the_limit_may_take_another_then_not_more(rig: Rig) -> None:
    first = await rent(rig, PIET)  # picking: two rugged devices at most
    rig.sim.badge(PIET)
    await rig.until(lambda: screen(rig).get("view") == "returning")
    assert rig.controller.session.choices == ["rent", "report", "look"]
    await rig.controller.choose("rent")
    await rig.until(lambda: screen(rig).get("step") == "door", within=10)
    second = int(screen(rig)["slot"])  # type: ignore[call-overload]
    assert {first, second} == {5, 7}
    assert rig.events("return_cancelled")  # the return it began first was called off, and recorded
    await rig.clock.advance(25)  # he walks away: the door relocks
    await rig.until(lambda: rig.state(second) in ("ready", "charging"))


async def test_fail__no_device_ready_gives_the_minutes_until_one_will_be(rig: Rig) -> None:
    core = rig.controller.core
    for number in (5, 7):  # the rugged devices are charging: 50 % at 2 % a minute, picking needs 60 %
        slot = core.slots[number]
        slot.battery, slot.charge_rate = 50, 2.0
        await core.fire(slot, Trigger.BATTERY_LOW)
    rig.sim.badge(PIET)
    await rig.until(lambda: screen(rig).get("view") == "refused")
    assert screen(rig)["reason"] == "no_device_available"
    assert screen(rig)["minutes"] == 5


async def test_fail__door_not_opened_in_time_relocks_and_cancels(rig: Rig) -> None:
    rig.sim.badge(ANNA)
    await rig.until(lambda: screen(rig).get("step") == "door", within=10)
    slot = int(screen(rig)["slot"])  # type: ignore[call-overload]
    await rig.clock.advance(19)
    assert rig.state(slot) == "dispensing"
    await rig.clock.advance(2)
    await rig.until(lambda: rig.state(slot) in ("ready", "charging"))
    cancelled = [e for e in rig.ledger.tail(5) if e.type == "dispense_cancelled"]
    assert cancelled[0].payload["reason"] == "the door was not opened in time"
    assert rig.controller.session is None


async def test_fail__a_stuck_lock_ends_the_rent_at_the_door_deadline(rig: Rig) -> None:
    for number in (1, 3):  # the slots a price-tags rent can use: whichever it picks, its latch holds
        rig.sim.locks.door(number).lock_stuck = True
    rig.sim.badge(ANNA)
    await rig.until(lambda: screen(rig).get("step") == "door", within=10)
    slot = int(screen(rig)["slot"])  # type: ignore[call-overload]
    assert not rig.sim.locks.door(slot).pull()
    await rig.clock.advance(rig.config.timeouts.door_open_s + 1)
    await rig.until(lambda: rig.state(slot) in ("ready", "charging"))
    cancelled = [e for e in rig.ledger.tail(5) if e.type == "dispense_cancelled"]
    assert [e.payload["reason"] for e in cancelled] == ["the door was not opened in time"]
    assert rig.ledger.held_by("anna") == []


async def test_fail__door_closed_on_the_device_cancels_the_rent(rig: Rig) -> None:
    rig.sim.badge(ANNA)
    await rig.until(lambda: screen(rig).get("step") == "door", within=10)
    slot = int(screen(rig)["slot"])  # type: ignore[call-overload]
    rig.sim.locks.door(slot).pull()
    await rig.until(lambda: screen(rig).get("step") == "take")
    rig.sim.locks.door(slot).push()
    await rig.until(lambda: rig.state(slot) in ("ready", "charging"))
    assert rig.ledger.held_by("anna") == []
    assert [e.payload["reason"] for e in rig.ledger.tail(5) if e.type == "dispense_cancelled"] == [
        "the door closed with the device inside"
    ]


async def test_ok__a_device_never_rented_here_is_accepted_and_flagged(rig: Rig) -> None:
    await rent(rig)
    rig.sim.badge(ANNA)  # her return starts; she puts in a device this cabinet never rented out
    await rig.until(lambda: screen(rig).get("view") == "returning")
    slot = int(screen(rig)["slot"])  # type: ignore[call-overload]
    rig.sim.locks.door(slot).pull()
    rig.sim.insert(slot, rig.sim.handheld("STRANGER1", model="pda-s1"))
    await rig.until(lambda: rig.controller.core.hardware.ports.present(slot) is not None)
    rig.sim.locks.door(slot).push()
    await rig.until(lambda: screen(rig).get("view") == "returned", within=10)
    returned = [e for e in rig.ledger.tail(10) if e.type == "device_returned"][-1]
    assert returned.device == "STRANGER1"
    assert returned.payload["rental_id"] is None


async def test_ok__another_device_than_expected_is_accepted_flagged_and_recorded(rig: Rig) -> None:
    await rent(rig)
    slot = await put_back(rig, "SIM0003X")
    alarms = [e for e in rig.ledger.tail(20) if e.type == "alarm_raised"]
    assert alarms[-1].payload["alarm"] == "unexpected_device"
    assert rig.state(slot) in ("ready", "charging")


async def test_fail__a_failed_selftest_quarantines_and_opens_a_repair_ticket(rig: Rig) -> None:
    await rent(rig)
    serial = rig.ledger.held_by("anna")[0].device
    rig.sim.handheld(serial).agent.checks["scanner"].passed = False
    slot = await put_back(rig, serial)
    assert screen(rig)["passed"] is False
    assert screen(rig)["failing"] == ["scanner"]
    assert rig.state(slot) == "faulty"
    ticket = [e for e in rig.ledger.tail(10) if e.type == "repair_ticket_opened"][-1]
    assert ticket.payload["evidence"]["scanner"]["passed"] is False
    assert rig.ledger.held_by("anna") == []


async def test_ok__second_badge_during_a_session_is_told_to_wait(rig: Rig) -> None:
    rig.sim.badge(ANNA)
    await rig.until(lambda: screen(rig).get("step") == "door", within=10)
    rig.sim.badge(PIET)
    await rig.until(lambda: rig.controller.screen.notice is not None)
    assert rig.controller.screen.notice["kind"] == "busy"
    assert screen(rig)["view"] == "dispensing"  # Anna's instructions stay
    assert [e.type for e in rig.ledger.tail(3)].count("dispense_started") <= 1
    assert sum(1 for n in rig.controller.slots if rig.state(n) == "dispensing") == 1


async def test_ok__forced_door_and_door_left_open_raise_and_clear_alarms(rig: Rig) -> None:
    door = rig.sim.locks.door(2)
    assert door.pull(force=True)
    await rig.until(lambda: "door_forced" in {a.value for a in rig.controller.slots[2].alarms})
    await rig.clock.advance(61)
    await rig.until(lambda: "door_left_open" in {a.value for a in rig.controller.slots[2].alarms})
    door.push()
    await rig.until(lambda: not rig.controller.slots[2].alarms)
    kinds = [(e.type, e.payload.get("alarm")) for e in rig.ledger.tail(10) if e.type.startswith("alarm")]
    assert kinds == [
        ("alarm_raised", "door_forced"),
        ("alarm_raised", "door_left_open"),
        ("alarm_cleared", "door_left_open"),
        ("alarm_cleared", "door_forced"),
    ]


# The test clock runs through a four-hour rental, waking every sleeper on the way: six to seven seconds.
@pytest.mark.slow
async def test_ok__due_soon_then_overdue_are_recorded_once(rig: Rig) -> None:
    await rent(rig)
    await rig.clock.advance(240 * 60 - 16 * 60)  # price-tags: 240 minutes; 16 before the due time
    assert rig.events("rental_due_soon") == []
    await rig.clock.advance(60 + REMINDER_CHECK_S)  # 15 minutes before, and the next look: due soon
    await rig.until(lambda: "rental_due_soon" in rig.events("rental_due_soon"))
    assert rig.events("rental_overdue") == []
    await rig.clock.advance(15 * 60)  # past the due time: overdue
    await rig.until(lambda: "rental_overdue" in rig.events("rental_overdue"))
    await rig.clock.advance(3600)
    assert rig.events("rental_due_soon", "rental_overdue") == ["rental_due_soon", "rental_overdue"]


async def test_ok__technician_needs_the_pin_and_every_action_is_recorded(rig: Rig) -> None:
    rig.sim.badge(TOM)
    await rig.until(lambda: screen(rig).get("view") == "pin")
    assert not await rig.controller.submit_pin("0000")
    assert await rig.controller.submit_pin("2468")
    assert screen(rig)["view"] == "maintenance"
    desk, tom = rig.controller.maintenance, Technician("tom")
    await desk.disable(2, tom, "broken hinge")
    assert rig.state(2) == "disabled"
    await desk.disable(1, tom)
    await desk.open(4, tom, "check")
    assert rig.sim.locks.door(4).pull()
    await rig.until(lambda: rig.controller.core.hardware.doors(4).is_open(4))
    assert "door_forced" not in {a.value for a in rig.controller.slots[4].alarms}
    actions = [e.payload["action"] for e in rig.ledger.tail(20) if e.type == "technician_action"]
    assert actions == ["pin_refused", "pin_accepted", "disable", "disable", "open"]


async def test_ok__restart_rebuilds_slots_and_records_differences(rig: Rig) -> None:
    await rent(rig)
    states = {n: rig.state(n) for n in rig.controller.slots}
    rig.sim.remove(3)  # a device vanishes while the daemon is down
    await rig.restart()
    await rig.until(lambda: rig.state(3) == "empty")
    assert {n: rig.state(n) for n in rig.controller.slots if n != 3} == {n: s for n, s in states.items() if n != 3}
    differences = [e.payload["what"] for e in rig.ledger.tail(10) if e.type == "reconciliation_difference"]
    assert differences == ["device missing from its slot"]
    assert rig.ledger.verify().ok


async def test_ok__a_charging_device_becomes_ready_when_it_crosses_the_threshold(rig: Rig) -> None:
    from cabinetd.hal.base import DeviceRefresh

    agent = rig.sim.holds(1).agent  # type: ignore[union-attr]
    agent.set_battery(30.0)
    link = rig.controller.core.hardware.link
    rig.controller.post(DeviceRefresh(1, await link.hello(1), None))
    await rig.until(lambda: rig.state(1) == "charging")
    agent.set_battery(45.0)  # price-tags needs 40 %
    rig.controller.post(DeviceRefresh(1, await link.hello(1), None))
    await rig.until(lambda: rig.state(1) == "ready")
    statuses = [e.payload["battery"] for e in rig.ledger.tail(10) if e.type == "device_status"]
    assert statuses[-2:] == [30, 45]


async def test_ok__restart_during_a_dispense_ends_it_and_keeps_the_device(rig: Rig) -> None:
    rig.sim.badge(ANNA)
    await rig.until(lambda: screen(rig).get("step") == "door", within=10)
    slot = int(screen(rig)["slot"])  # type: ignore[call-overload]
    await rig.restart()
    await rig.until(lambda: rig.state(slot) in ("ready", "charging"))
    cancelled = [e.payload["reason"] for e in rig.ledger.tail(10) if e.type == "dispense_cancelled"]
    assert cancelled == ["restart during dispense; the device is still in the slot"]
    assert rig.ledger.held_by("anna") == []


async def return_instead(rig: Rig, badge: str) -> int:
    """A return of a device the cabinet cannot place (no model known: any slot fits): the slot offered.
    The screen offers a return only to a holder, so the return flow is started as the controller does."""
    rig.sim.badge(badge)  # a rent starts (they hold nothing); they call it off
    await rig.until(lambda: screen(rig).get("step") == "door", within=10)
    staff = rig.controller.session.staff
    await rig.controller.choose("cancel")
    assert await return_.start_return(rig.controller.core, staff, None)
    assert screen(rig)["view"] == "returning"
    return int(screen(rig)["slot"])  # type: ignore[call-overload]


async def test_ok__a_return_prefers_a_slot_whose_usb_hub_is_on_the_bus(rig: Rig) -> None:
    ports = rig.controller.core.hardware.ports
    rig.sim.usb.unplug("1-1")  # the hub behind slots 1-4 drops off the bus, slots 1 and 3 read empty
    await rig.until(lambda: [part.part for part in ports.parts() if not part.connected] == ["USB hub 1-1"])
    await rig.until(lambda: rig.state(1) == rig.state(3) == "empty")
    # Piet rents from the rugged slots (the other hub); a device he returns instead fits any slot, and
    # of the free ones (1-4 behind the missing hub, 6 and 8) it is sent to one whose port works.
    assert await return_instead(rig, PIET) == 6


async def test_ok__a_return_prefers_a_slot_whose_port_gave_the_last_identity(rig: Rig) -> None:
    # A device that gives no serial number, pushed into slot 2 through a forced door, then taken out.
    door = rig.sim.locks.door(2)
    assert door.pull(force=True)
    rig.sim.usb.plug("1-1.2", SimUsbDevice(0x1209, 0x0002))
    await rig.until(lambda: rig.state(2) == "faulty", within=10)
    rig.sim.usb.unplug("1-1.2")
    door.push()
    await rig.until(lambda: rig.state(2) == "empty")
    assert [view.number for view in rig.controller.core.slot_views() if not view.usb_ok] == [2]
    await rent(rig)  # Anna's device, from slot 1 or 3
    rig.sim.badge(ANNA)  # her return: a standard slot, 2 or 4 (the one she emptied has been used more)
    await rig.until(lambda: screen(rig).get("view") == "returning" and screen(rig).get("step") == "door")
    assert screen(rig)["slot"] == 4


async def test_ok__a_return_prefers_a_slot_whose_last_power_cycle_worked(rig: Rig) -> None:
    await rent(rig)
    rig.controller.core.ports.power_cycled(2, PortRecovery.UNRESPONSIVE)  # as inspection records it
    rig.sim.badge(ANNA)
    await rig.until(lambda: screen(rig).get("view") == "returning" and screen(rig).get("step") == "door")
    assert screen(rig)["slot"] == 4
    rig.controller.core.ports.power_cycled(2, PortRecovery.RECOVERED)
    assert all(view.usb_ok for view in rig.controller.core.slot_views())
