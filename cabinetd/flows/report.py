"""A problem reported at the screen while returning a device ("I have a problem with this device"):
recorded when submitted, then taken in by the return's inspection, or, when the device is already in
and checked, by a repair ticket at once. Either way the device goes to `faulty` with the report as
evidence beside its self-test; a critical report keeps it out of service until a technician clears it
(`Maintenance.clear_report`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Final

from cabinetd.flows import problems
from cabinetd.flows.core import Core, Flow, FlowKind
from cabinetd.flows.inspection import repair_ticket
from cabinetd.fsm.slot import Trigger
from cabinetd.ledger.replicas import StaffMember
from cabinetproto.enums import SlotState
from cabinetproto.events import CRITICAL_REASONS

log = logging.getLogger(__name__)

S = SlotState
# A report about a return under way waits for its inspection; one about a device checked and at rest
# opens its repair ticket at once.
WAITING: Final = (S.RECEIVING, S.INSPECTING)
AT_REST: Final = (S.READY, S.CHARGING, S.FAULTY)


class ReportRefused(Exception):
    """The report was not taken: no return it could be about (the message says why, for the page)."""


@dataclass(frozen=True)
class ReportedReturn:
    """The return a report is about: its slot, who returned, and the rental it closes (if known)."""

    slot: int
    staff: StaffMember | None
    rental_id: str | None = None


def closing(core: Core, flow: Flow) -> ReportedReturn:
    """A return whose door closes: a problem may still be reported for it while its screens show."""
    return ReportedReturn(flow.slot, flow.staff, core.ledger.open_rental_of(flow.device) if flow.device else None)


async def from_screen(
    core: Core, staff: StaffMember | None, last_return: ReportedReturn | None, reason: str, note: str
) -> str | None:
    """A report from the screen: None when it is recorded, else why not (for the page)."""
    try:
        await submit(core, about(core, staff, last_return), reason, note)
    except ReportRefused as refused:
        return str(refused)
    return None


def about(core: Core, staff: StaffMember | None, last_return: ReportedReturn | None) -> ReportedReturn:
    """The return a report from the screen is about: the person's return under way, else the last
    return while its screen (returning or returned, same slot) is still shown."""
    flow = next(
        (f for f in core.flows.values() if staff is not None and f.kind is FlowKind.RETURN and f.staff == staff),
        None,
    )
    if flow is not None:
        return ReportedReturn(flow.slot, flow.staff)
    shown = core.screen.state
    if last_return is None or shown.get("view") not in ("returning", "returned"):
        raise ReportRefused("no return is under way")
    if shown.get("slot") != last_return.slot:
        raise ReportRefused("no return is under way")
    return last_return


async def submit(core: Core, about: ReportedReturn, reason: str, note: str) -> None:
    slot = core.slots[about.slot]
    flow = core.flows.get(slot.number)
    device = slot.device
    if flow is not None:
        device = (flow.inserted.serial if flow.inserted else None) or flow.device or device
    if slot.state not in (*WAITING, *AT_REST) or (slot.state in AT_REST and device is None):
        raise ReportRefused(f"the device of this return is no longer in slot {slot.number}")
    shown_now = core.screen.state
    if slot.state in AT_REST and shown_now.get("slot") == slot.number and shown_now.get("report"):
        # Its repair ticket is open; a second report would open a second ticket for one problem.
        raise ReportRefused(f"a problem is already reported for the return to slot {slot.number}")
    rental_id = about.rental_id or (core.ledger.open_rental_of(device) if device else None)
    critical = reason in CRITICAL_REASONS
    payload: dict[str, Any] = {"reason": reason, "note": note, "rental_id": rental_id, "critical": critical}
    staff = about.staff.staff_id if about.staff else None
    reported = core.event("problem_reported", payload, slot=slot.number, device=device, staff=staff)
    log.info("slot %d: problem reported for %s: %s%s", slot.number, device, reason, " (critical)" if critical else "")
    if slot.state in WAITING:
        core.commit(reported)  # the inspection takes it in
    else:
        evidence = {**_last_selftest(core, slot.number), "report": problems.report_evidence(payload, staff)}
        ticket = repair_ticket(core, slot, device, evidence)
        if slot.state is S.FAULTY:
            core.commit(reported, ticket)
        else:
            core.hardware.link.unwatch(slot.number)
            await core.fire(slot, Trigger.DEVICE_FAILED, reported, ticket)
    if critical and device is not None:
        core.critical[device] = reason
    shown = {key: value for key, value in core.screen.state.items() if key != "view"}
    view = core.screen.state.get("view")
    if view in ("returning", "returned") and shown.get("slot") == slot.number:
        core.screen.show(str(view), **{**shown, "report": {"reason": reason, "note": note}})


def _last_selftest(core: Core, slot: int) -> dict[str, Any]:
    """The self-test of the device's return, to sit beside the report in its repair ticket."""
    returned = core.ledger.last_at_slot(slot, "device_returned")
    selftest = returned.payload.get("selftest") if returned is not None else None
    return dict(selftest) if isinstance(selftest, dict) else {}
