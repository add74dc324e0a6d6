"""After a restart: every slot as the ledger left it, then the hardware read and every difference
recorded as an event (never silently overwritten). A flow cut short by the restart is ended: the
locks are commanded locked before this runs, so no door is still unlocked for anyone.
"""

from __future__ import annotations

import logging
from typing import Any

from cabinetd.flows.core import Core
from cabinetd.flows.inspection import inspect
from cabinetd.fsm.slot import Slot, Trigger
from cabinetd.ledger import NewEvent
from cabinetproto.enums import Alarm, SlotState

log = logging.getLogger(__name__)

S = SlotState


def _difference(
    core: Core, slot: Slot, what: str, ledger_said: Any, hardware_says: Any, device: str | None = None
) -> NewEvent:
    log.warning("slot %d: %s (ledger: %r, hardware: %r)", slot.number, what, ledger_said, hardware_says)
    return core.event(
        "reconciliation_difference",
        {"what": what, "ledger_said": ledger_said, "hardware_says": hardware_says},
        slot=slot.number,
        device=device or slot.device,
    )


async def reconcile(core: Core, *, first_start: bool) -> None:
    """`first_start`: the ledger knew no slot yet, so devices found are the cabinet's first stock,
    recorded as differences but not flagged as unexpected."""
    for slot in list(core.slots.values()):
        await _reconcile_slot(core, slot, first_start)


async def _reconcile_slot(core: Core, slot: Slot, first_start: bool) -> None:
    present = core.hardware.ports.present(slot.number)
    core.ports.identity_read(slot.number, present)
    serial = present.serial if present else None
    door_open = core.hardware.doors(slot.number).is_open(slot.number)
    events: list[NewEvent] = []
    if door_open:
        events.append(_difference(core, slot, "door open at start", "closed", "open"))
        alarm = core.raise_alarm(slot, Alarm.DOOR_LEFT_OPEN, "open at start")
        if alarm is not None:
            events.append(alarm)

    if slot.state is S.DISPENSING:
        await _end_dispense(core, slot, serial if present else None, present is not None, events)
        return
    if slot.state is S.RECEIVING:
        if present:
            slot.device = serial
            await core.fire(slot, Trigger.DEVICE_INSERTED, *events)
            core.spawn(inspect(core, slot), f"inspect slot {slot.number}")
        else:
            cancelled = core.event("return_cancelled", {"reason": "restart during return"}, slot=slot.number)
            await core.fire(slot, Trigger.RETURN_CANCELLED, cancelled, *events)
        return

    holding = slot.state in (S.CHARGING, S.READY, S.INSPECTING, S.FAULTY)
    if holding and present is None:
        events.append(_difference(core, slot, "device missing from its slot", slot.device, None))
        await core.fire(slot, Trigger.DEVICE_LOST, *events)
        slot.device = None
        return
    if slot.state is S.EMPTY and present is not None:
        await _found(core, slot, serial, first_start=first_start, events=events)
        return
    if holding and serial is not None and slot.device is not None and serial != slot.device:
        events.append(_difference(core, slot, "another device in the slot", slot.device, serial, serial))
        slot.device = serial
    if holding and serial is not None:
        # A ledger written before rentals were ended this way may hold a rental for a device that is
        # here: the device is in the cabinet, so that rental has ended.
        events += _end_rental_of(core, slot, serial, f"the device is in slot {slot.number} at start")
    core.commit(*events)
    if slot.state is S.INSPECTING:
        core.spawn(inspect(core, slot), f"inspect slot {slot.number}")
    elif slot.state in (S.CHARGING, S.READY):
        core.hardware.link.watch(slot.number)


async def _found(core: Core, slot: Slot, serial: str | None, *, first_start: bool, events: list[NewEvent]) -> None:
    events.append(_difference(core, slot, "device found in an empty slot", None, serial, serial))
    if not first_start:
        alarm = core.raise_alarm(slot, Alarm.UNEXPECTED_DEVICE, f"found {serial} at start")
        if alarm is not None:
            events.append(alarm)
    slot.device = serial
    await core.fire(slot, Trigger.DEVICE_FOUND, *events)
    core.spawn(inspect(core, slot, unexpected=not first_start), f"inspect slot {slot.number}")


def _end_rental_of(core: Core, slot: Slot, serial: str, reason: str) -> list[NewEvent]:
    rental_id = core.ledger.open_rental_of(serial)
    if rental_id is None:
        return []
    log.warning("slot %d: rental %s of %s ended: %s", slot.number, rental_id, serial, reason)
    return [core.event("rental_cancelled", {"rental_id": rental_id, "reason": reason}, slot=slot.number, device=serial)]


def _dispensed(core: Core, slot: Slot) -> tuple[str | None, str | None]:
    """The device of a rent cut short at this slot, and its rental when `device_rented` was committed
    (which takes the device out of the slot's row): the latest open rental from this slot."""
    if slot.device is not None:
        return slot.device, None
    latest = max(
        (rental for rental in core.ledger.open_rentals() if rental.slot == slot.number),
        key=lambda rental: rental.started_at,
        default=None,
    )
    return (latest.device, latest.rental_id) if latest else (None, None)


async def _end_dispense(
    core: Core, slot: Slot, serial: str | None, present: bool, events: list[NewEvent]
) -> None:
    """A rent cut short by the restart: its rental, if one began, is closed when the device is in the
    slot and kept when it is gone, in the same commit as the cancel."""
    device, rental_id = _dispensed(core, slot)
    if present and (serial is None or device is None or serial == device):
        slot.device = serial or device
        ended: list[NewEvent] = []
        reason = "restart during dispense; the device is still in the slot"
        if rental_id is not None and slot.device is not None:
            reason = "restart during dispense; the device is back in the slot"
            payload = {"rental_id": rental_id, "reason": reason}
            ended.append(core.event("rental_cancelled", payload, slot=slot.number, device=slot.device))
        cancelled = core.event("dispense_cancelled", {"reason": reason}, slot=slot.number, device=slot.device)
        await core.fire(slot, Trigger.RENT_CANCELLED, *ended, cancelled, *events)
        await _inspect_again(core, slot)
        return
    events.append(_difference(core, slot, "device gone during an unfinished dispense", device, serial, device))
    await core.fire(slot, Trigger.DEVICE_TAKEN, *events)
    slot.device = None
    if present and serial is not None:
        # Another device than the one handed out is in the slot: looked at as one put in unannounced.
        await _found(core, slot, serial, first_start=False, events=[])


async def reconcile_slot(core: Core, slot: Slot) -> None:
    """One slot read against the hardware again, as at a restart (its flow, if any, already ended)."""
    await _reconcile_slot(core, slot, first_start=False)


async def _inspect_again(core: Core, slot: Slot) -> None:
    """A device back in ready/charging after a cut-short rent is looked at again by its refresh."""
    core.hardware.link.watch(slot.number)
