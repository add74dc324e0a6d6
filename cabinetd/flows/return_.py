"""Taking a device back: pick a free slot that fits, record the start, unlock, follow the door and the
USB port, then hand the slot to inspection. A return is never refused for the device: one this cabinet
did not rent out, or another than the one expected, is accepted, flagged and recorded.
"""

from __future__ import annotations

import logging

from cabinetd.flows import problems
from cabinetd.flows.core import Core, Flow, FlowKind
from cabinetd.flows.inspection import inspect
from cabinetd.flows.leds import start_blinking, stop_blinking
from cabinetd.fsm.slot import Slot, Trigger
from cabinetd.hal.base import UsbIdentity
from cabinetd.hal.errors import LockFault
from cabinetd.ledger.replicas import StaffMember
from cabinetd.policy import choose_return_slot
from cabinetproto.enums import Alarm, SlotState

log = logging.getLogger(__name__)


def slot_types_for(core: Core, device: str | None) -> frozenset[str] | None:
    """The slot types a device fits, from its model; None (any slot) when the cabinet does not know it."""
    if device is None:
        return None
    row = next((row for row in core.ledger.devices() if row.serial == device), None)
    fleet = core.ledger.fleet_device(device)
    model_id = row.model if row and row.model else (fleet.model if fleet else None)
    model = core.ledger.device_model(model_id) if model_id else None
    return frozenset(model.slot_types) if model else None


async def start_return(core: Core, staff: StaffMember | None, expected: str | None) -> bool:
    views = core.slot_views()
    skipped: set[int] = set()
    while True:
        chosen = choose_return_slot([v for v in views if v.number not in skipped], slot_types_for(core, expected))
        if chosen is None:
            core.screen.show("refused", reason="no_free_slot", name=staff.name if staff else "")
            return False
        slot = core.slots[chosen.number]
        if await _unlock_for_return(core, slot, staff, expected):
            return True
        skipped.add(chosen.number)


async def _unlock_for_return(core: Core, slot: Slot, staff: StaffMember | None, expected: str | None) -> bool:
    core.flows[slot.number] = Flow(FlowKind.RETURN, slot.number, staff, expected)
    started = core.event(
        "return_started",
        {"expected": expected},
        slot=slot.number,
        device=expected,
        staff=staff.staff_id if staff else None,
    )
    await core.fire(slot, Trigger.RETURN, started)
    slot.uses += 1
    try:
        await core.hardware.lock_bank(slot.number).unlock(slot.number)
    except LockFault as exc:
        await cancel(core, slot, f"lock fault: {exc}", alarm=str(exc), cause="lock_fault")
        return False
    start_blinking(core, slot.number)
    name = staff.name if staff else ""
    core.screen.show("returning", step="door", slot=slot.number, name=name, relock_at=core.relock_at())
    return True


async def door_opened(core: Core, flow: Flow) -> None:
    flow.door_opened = True
    name = flow.staff.name if flow.staff else ""
    core.screen.show("returning", step="insert", slot=flow.slot, name=name, **problems.on_screen(core, flow.slot))


async def device_inserted(core: Core, flow: Flow, identity: UsbIdentity) -> None:
    flow.inserted = identity
    core.ports.identity_read(flow.slot, identity)
    if flow.device is not None and identity.serial is not None and identity.serial != flow.device:
        slot = core.slots[flow.slot]
        detail = f"expected {flow.device}, got {identity.serial}"
        alarm = core.raise_alarm(slot, Alarm.UNEXPECTED_DEVICE, detail)
        if alarm is not None:
            core.commit(alarm)


async def device_pulled(core: Core, flow: Flow) -> None:
    flow.inserted = None


async def door_closed(core: Core, flow: Flow) -> None:
    slot = core.slots[flow.slot]
    if flow.inserted is None:
        await cancel(core, slot, "the door closed with no device inside", cause="no_device_put_in")
        return
    core.flows.pop(flow.slot, None)
    slot.device = flow.inserted.serial or flow.device
    slot.battery = None
    await core.fire(slot, Trigger.DEVICE_INSERTED)
    stop_blinking(core, flow.slot)
    core.screen.show("returning", step="checking", slot=flow.slot, **problems.on_screen(core, flow.slot))
    expected_back = flow.device is None or flow.device == slot.device
    core.spawn(inspect(core, slot, unexpected=not expected_back, show=True), f"inspect slot {slot.number}")


async def cancel(core: Core, slot: Slot, reason: str, *, alarm: str | None = None, cause: str = "other") -> None:
    flow = core.flows.pop(slot.number, None)
    log.info("slot %d: return cancelled: %s", slot.number, reason)
    events = [
        core.event(
            "return_cancelled",
            {"reason": reason},
            slot=slot.number,
            staff=flow.staff.staff_id if flow and flow.staff else None,
        )
    ]
    if alarm is not None:
        raised = core.raise_alarm(slot, Alarm.LOCK_FAULT, alarm)
        if raised is not None:
            events.append(raised)
    if slot.state is SlotState.RECEIVING:
        await core.fire(slot, Trigger.RETURN_CANCELLED, *events)
    stop_blinking(core, slot.number)
    core.screen.show("refused", reason="return_cancelled", cause=cause, detail=reason, slot=slot.number)
