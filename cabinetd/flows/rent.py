"""Renting a device: pick it, provision it, record the start, unlock, and follow the door.

Order matters and is the point of this module: the `dispense_started` event is durable before the
lock is pulsed; `device_rented` is written when the device leaves the slot with the door open; the
slot is done when the door closes. A door that never opens, or that closes on the device, cancels.
"""

from __future__ import annotations

import logging
from datetime import datetime

from cabinetd.flows.core import Core, Flow, FlowKind, policy_work_type
from cabinetd.flows.leds import start_blinking, stop_blinking
from cabinetd.flows.watch import device_appeared, rejudge
from cabinetd.fsm.slot import Slot, Trigger
from cabinetd.hal.agentprotocol import AppPackage
from cabinetd.hal.base import UsbIdentity
from cabinetd.hal.errors import LinkError, LockFault
from cabinetd.ledger import NewEvent
from cabinetd.ledger.replicas import StaffMember, WorkType
from cabinetd.policy import Refusal, due_at, minutes_until_ready, rank_devices, rank_for_scarcity
from cabinetd.policy import WorkType as PolicyWorkType
from cabinetproto.chain import uuid7
from cabinetproto.enums import Alarm, SlotState

log = logging.getLogger(__name__)


def app_packages(work_type: WorkType) -> list[AppPackage]:
    """The apps the cabinet can install: those the fleet gives a version code and checksum for (the
    agent link also needs the URL it downloads from; the adb link installs from the package cache).
    An app listed without them is expected on the device's image already."""
    return [
        AppPackage(package=app.package, version_code=app.version_code, url=app.url, sha256=app.sha256)
        for app in work_type.apps
        if app.version_code is not None and app.sha256 is not None
    ]


async def start_rent(core: Core, staff: StaffMember, work_type: WorkType) -> bool:
    """Hand out the best device for this work; False (with the reason on screen) when none can go."""
    await rejudge(core, only_if_changed=True)  # thresholds as the roster has them now
    wanted = policy_work_type(work_type)
    views = core.slot_views()
    ranked = rank_devices(views, wanted)
    if len(ranked) > 1:  # a choice to make: keep back what other work needs (docs/flows.md)
        ranked = rank_for_scarcity(views, wanted, waiting_work(core, staff))
    if not ranked:
        minutes = minutes_until_ready(views, wanted)
        core.refuse(Refusal.NO_DEVICE_AVAILABLE.value, staff, minutes)
        return False
    for view in ranked:
        slot = core.slots[view.number]
        assert view.device is not None
        if view.device.provisioned_work_type != work_type.id and app_packages(work_type):
            core.screen.show("dispensing", step="provisioning", slot=slot.number, name=staff.name)
            if not await provision(core, slot, work_type):
                continue
        if await _unlock_for_rent(core, slot, staff, work_type):
            return True
    core.refuse(Refusal.NO_DEVICE_AVAILABLE.value, staff)
    return False


def waiting_work(core: Core, renter: StaffMember) -> list[PolicyWorkType]:
    """The other work types someone in this cabinet's store may still rent for: an active staff
    member (not the renter) who holds fewer devices than their work type allows."""
    held: dict[str, int] = {}
    for rental in core.ledger.open_rentals():
        held[rental.staff] = held.get(rental.staff, 0) + 1
    work_types = {work_type.id: work_type for work_type in core.work_types()}
    waiting: dict[str, PolicyWorkType] = {}
    for member in core.ledger.staff_of_store(core.config.cabinet.store):
        found = work_types.get(member.work_type)
        if (
            member.staff_id == renter.staff_id
            or found is None
            or found.id in waiting
            or held.get(member.staff_id, 0) >= found.max_devices_per_staff
        ):
            continue
        waiting[found.id] = policy_work_type(found)
    return list(waiting.values())


async def provision(core: Core, slot: Slot, work_type: WorkType) -> bool:
    device = slot.device
    packages = app_packages(work_type)
    if not packages:
        return True  # nothing the cabinet could install
    home = work_type.home_app if work_type.home_app in {app.package for app in packages} else None
    try:
        others = core.work_apps(besides=work_type)
        report = await core.hardware.link.provision(slot.number, work_type.id, packages, home_app=home, others=others)
    except LinkError as exc:
        log.warning("slot %d: provisioning %s for %s failed: %s", slot.number, device, work_type.id, exc)
        if device is not None:
            reason = str(exc)[:500]
            payload = {"work_type": work_type.id, "reason": reason}
            core.commit(core.event("provisioning_failed", payload, slot=slot.number, device=device))
        return False
    apps = [{"package": app.package, "version": str(app.version_code)} for app in report.apps]
    core.commit(
        core.event("device_provisioned", {"work_type": work_type.id, "apps": apps}, slot=slot.number, device=device)
    )
    return True


async def _unlock_for_rent(core: Core, slot: Slot, staff: StaffMember, work_type: WorkType) -> bool:
    device = slot.device
    flow = Flow(FlowKind.RENT, slot.number, staff, device, work_type=work_type)
    core.flows[slot.number] = flow
    started = core.event(
        "dispense_started", {"work_type": work_type.id}, slot=slot.number, device=device, staff=staff.staff_id
    )
    # The one path a person waits on: record the start (which is also the move to dispensing) durably,
    # pulse the lock, and only then walk the slot machine (ready → dispensing is always allowed; the
    # policy only offers ready slots), so its bookkeeping is not between the badge and the lock.
    core.expect_move(slot, SlotState.DISPENSING)
    core.commit(started)
    slot.uses += 1
    try:
        await core.hardware.lock_bank(slot.number).unlock(slot.number)
    except LockFault as exc:
        await slot.fire(Trigger.RENT)
        alarm = core.raise_alarm(slot, Alarm.LOCK_FAULT, str(exc))
        await cancel(core, slot, f"lock fault: {exc}", alarm, cause="lock_fault")
        return False
    await slot.fire(Trigger.RENT)
    start_blinking(core, slot.number)
    core.screen.show("dispensing", step="door", slot=slot.number, name=staff.name, relock_at=core.relock_at())
    return True


async def door_opened(core: Core, flow: Flow) -> None:
    flow.door_opened = True
    core.screen.show("dispensing", step="take", slot=flow.slot, name=flow.staff.name if flow.staff else "")


async def device_removed(core: Core, flow: Flow, now: datetime) -> None:
    """The device left the slot while the door was open: the rental starts now."""
    if flow.device_removed:
        return
    flow.device_removed = True
    assert flow.work_type is not None
    assert flow.staff is not None
    assert flow.device is not None
    flow.rental_id = str(uuid7())
    due = due_at(now, policy_work_type(flow.work_type))
    # The ledger refuses a second open rental of a device. The policy offers none that is out on one,
    # so this is a ledger the cabinet did not write this way: the device was just in the slot, so the
    # older rental had ended, and it is closed in the same commit (the replay rule, docs/ledger.md).
    stale = core.ledger.open_rental_of(flow.device)
    ended = [] if stale is None else [
        core.event(
            "rental_cancelled",
            {"rental_id": stale, "reason": f"the device was in slot {flow.slot} when it was rented again"},
            slot=flow.slot,
            device=flow.device,
        )
    ]
    core.commit(
        *ended,
        core.event(
            "device_rented",
            {"rental_id": flow.rental_id, "due_at": due.isoformat()},
            slot=flow.slot,
            device=flow.device,
            staff=flow.staff.staff_id,
        )
    )
    core.hardware.link.unwatch(flow.slot)
    slot = core.slots[flow.slot]
    slot.device, slot.battery = None, None
    core.screen.show("dispensing", step="close", slot=flow.slot, due_at=due.isoformat(), name=flow.staff.name)


async def device_put_back(core: Core, flow: Flow, identity: UsbIdentity) -> None:
    """The device handed out came back into its slot before the door closed: its rental ends here, so
    that the door closing on it cancels the rent (a rental and a slot never both hold a device)."""
    if not flow.device_removed or flow.rental_id is None or identity.serial not in (None, flow.device):
        return  # another device: the door's close finds it on the port (door_closed)
    reason = "the device was put back before the door closed"
    payload = {"rental_id": flow.rental_id, "reason": reason}
    core.commit(core.event("rental_cancelled", payload, slot=flow.slot, device=flow.device))
    flow.device_removed, flow.rental_id = False, None
    core.slots[flow.slot].device = flow.device
    core.hardware.link.watch(flow.slot)
    core.screen.show("dispensing", step="take", slot=flow.slot, name=flow.staff.name if flow.staff else "")


async def door_closed(core: Core, flow: Flow) -> None:
    slot = core.slots[flow.slot]
    if flow.device_removed:
        core.flows.pop(flow.slot, None)
        await core.fire(slot, Trigger.DEVICE_TAKEN)
        stop_blinking(core, flow.slot)
        core.screen.show("done", kind="rent", slot=flow.slot)
        other = core.hardware.ports.present(flow.slot)
        if other is not None:
            await device_appeared(core, slot, other)  # another device left behind the closed door
    else:
        await cancel(core, slot, "the door closed with the device inside", cause="device_left_inside")


async def cancel(core: Core, slot: Slot, reason: str, *extra: NewEvent | None, cause: str = "other") -> None:
    """End a rent that did not hand the device over; the slot goes back to what it holds. `cause` is
    the reason as the kiosk words it (door_not_opened, cancelled_on_screen, looked, ...)."""
    flow = core.flows.pop(slot.number, None)
    log.info("slot %d: rent cancelled: %s", slot.number, reason)
    cancelled = core.event(
        "dispense_cancelled",
        {"reason": reason},
        slot=slot.number,
        device=flow.device if flow else slot.device,
        staff=flow.staff.staff_id if flow and flow.staff else None,
    )
    if slot.state is SlotState.DISPENSING:
        await core.fire(slot, Trigger.RENT_CANCELLED, cancelled, *[e for e in extra if e is not None])
    stop_blinking(core, slot.number)
    core.screen.show("refused", reason="dispense_cancelled", cause=cause, detail=reason, slot=slot.number)
