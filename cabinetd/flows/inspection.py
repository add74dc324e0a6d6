"""Checking a device over its slot's USB port: identity, self-test, usage since it left, sign-out.

A device that does not answer gets its port power-cycled once; still silent, it is faulty with
"unresponsive" as evidence. A failed self-test opens a repair ticket carrying the checks' evidence.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from cabinetd.flows import problems
from cabinetd.flows.core import Core
from cabinetd.fsm.slot import Slot, Trigger
from cabinetd.hal.agentprotocol import Hello
from cabinetd.hal.base import PortRecovery
from cabinetd.hal.errors import HardwareError, LinkError, LockFault, PortPowerError
from cabinetd.ledger import NewEvent
from cabinetproto.chain import uuid7
from cabinetproto.enums import Alarm, SlotState

log = logging.getLogger(__name__)

HEALTH_OF_BATTERY = {"good": "good", "unknown": "unknown", "cold": "degraded", "overheat": "degraded"}


def status_event(core: Core, slot: Slot, hello: Hello) -> NewEvent:
    health = HEALTH_OF_BATTERY.get(hello.battery_health, "faulty")
    payload = {
        "serial": hello.serial,
        "model": core.model_of(hello),
        "battery": hello.battery_percent,
        "health": health,
        "charging": hello.charging,
    }
    return core.event("device_status", payload, slot=slot.number, device=hello.serial)


def learn(core: Core, slot: Slot, hello: Hello) -> None:
    slot.device = hello.serial
    slot.battery = int(hello.battery_percent)
    slot.threshold = core.threshold_for(core.model_of(hello))


async def _hello(core: Core, slot: Slot) -> tuple[Hello | None, LinkError | None]:
    """The device's hello, or the link's last word on why there is none."""
    link = core.hardware.link
    try:
        return await link.hello(slot.number), None
    except LinkError as exc:
        log.warning("slot %d: %s; power-cycling its port once", slot.number, exc)
        error = exc
    recovery = await core.hardware.ports.recover(slot.number)
    core.ports.power_cycled(slot.number, recovery)
    if recovery is not PortRecovery.RECOVERED:
        return None, error
    try:
        return await link.hello(slot.number), None
    except LinkError as exc:
        log.warning("slot %d: still silent after a power cycle: %s", slot.number, exc)
        return None, exc


def evidence_of(error: HardwareError) -> dict[str, Any]:
    """A hardware error as a repair ticket's evidence: what part failed, in the driver's own words."""
    if isinstance(error, PortPowerError):
        return {"port_power": str(error)}
    if isinstance(error, LinkError):
        return {"link": str(error)}
    if isinstance(error, LockFault):
        return {"lock": str(error)}
    return {"hardware": str(error)}


async def inspect(core: Core, slot: Slot, *, unexpected: bool = False, show: bool = False) -> None:
    """Run with the slot in `inspecting`; ends in ready, charging or faulty. This step owns the
    hardware's failures: a hub or port error, like a silent device, makes the device faulty with the
    error as evidence, so the slot never stays in `inspecting`. Anything else takes the daemon down."""
    try:
        await _inspect(core, slot, unexpected=unexpected, show=show)
    except HardwareError as exc:
        log.warning("slot %d: inspection of %s failed: %s", slot.number, slot.device, exc)
        device = slot.device
        evidence = evidence_of(exc)
        await _faulty(core, slot, device, core.ledger.open_rental_of(device) if device else None, evidence, unexpected)
        if show:
            core.screen.show("returned", slot=slot.number, passed=False, failing=sorted(evidence))


async def _inspect(core: Core, slot: Slot, *, unexpected: bool, show: bool) -> None:
    hello, error = await _hello(core, slot)
    device = hello.serial if hello else slot.device
    rental_id = core.ledger.open_rental_of(device) if device else None
    if hello is None:
        # The link's own words go with it (an adb key not accepted is no power cycle's to mend).
        said = {"link": str(error)} if error is not None else {}
        evidence = {"unresponsive": "no answer, also after a power cycle", **said}
        await _faulty(core, slot, device, rental_id, evidence, unexpected)
        if show:
            core.screen.show("returned", slot=slot.number, passed=False, failing=["unresponsive"])
        return
    learn(core, slot, hello)
    try:
        since = _rental_start(core, rental_id)
        selftest = await core.hardware.link.selftest(slot.number, since=since)
        usage = await core.hardware.link.usage(slot.number, since) if since else None
        # Every work app's data goes, so the next person sees nothing of this one's session.
        await core.hardware.link.end_session(slot.number, clear=core.work_apps())
    except LinkError as exc:
        await _faulty(core, slot, device, rental_id, {"link": str(exc)}, unexpected)
        if show:
            core.screen.show("returned", slot=slot.number, passed=False, failing=["link"])
        return
    checks = {check.name: {"passed": check.passed, "evidence": check.evidence} for check in selftest.checks}
    returned = core.event(
        "device_returned",
        {
            "rental_id": rental_id,
            "usage": usage.model_dump(mode="json") if usage else {},
            "selftest": checks,
            "unexpected": unexpected,
        },
        slot=slot.number,
        device=device,
    )
    # Taken in and recorded whatever the fleet knows of it; one it does not list is flagged and kept.
    flagged = [alarm] if (alarm := core.judge_fleet(slot)) is not None else []
    # A problem the person reported makes the device faulty beside whatever the self-test says.
    reported = problems.beside_selftest(core, slot.number, device)
    if selftest.passed and not reported:
        await core.fire(slot, Trigger.INSPECTION_PASSED, status_event(core, slot, hello), returned, *flagged)
        core.hardware.link.watch(slot.number)
    else:
        await core.fire(
            slot,
            Trigger.INSPECTION_FAILED,
            status_event(core, slot, hello),
            returned,
            repair_ticket(core, slot, device, {**checks, **reported}),
            *flagged,
        )
    if show:
        failing = [name for name, check in checks.items() if not check["passed"]]
        unknown = Alarm.UNKNOWN_TO_FLEET in slot.alarms
        shown = {"passed": selftest.passed, "failing": failing, "unknown_to_fleet": unknown, **_shown(reported)}
        core.screen.show("returned", slot=slot.number, **shown)


def _shown(reported: dict[str, Any]) -> dict[str, Any]:
    """The returned screen's `report` (what the person reported; the device went to repair)."""
    found = reported.get("report")
    return {} if found is None else {"report": {"reason": found["reason"], "note": found["note"]}}


def _rental_start(core: Core, rental_id: str | None) -> datetime | None:
    rental = core.ledger.rental(rental_id) if rental_id else None
    return datetime.fromisoformat(rental.started_at) if rental else None


def repair_ticket(core: Core, slot: Slot, device: str | None, evidence: dict[str, Any]) -> NewEvent:
    return core.event(
        "repair_ticket_opened", {"ticket_id": str(uuid7()), "evidence": evidence}, slot=slot.number, device=device
    )


async def _faulty(
    core: Core, slot: Slot, device: str | None, rental_id: str | None, evidence: dict[str, Any], unexpected: bool
) -> None:
    evidence = {**evidence, **problems.beside_selftest(core, slot.number, device)}
    events = []
    if device is not None:
        events.append(
            core.event(
                "device_returned",
                {"rental_id": rental_id, "usage": {}, "selftest": evidence, "unexpected": unexpected},
                slot=slot.number,
                device=device,
            )
        )
    if device is not None:
        events.append(repair_ticket(core, slot, device, evidence))
    else:
        # A repair ticket follows a device by its serial; one that never gave it gets none (the ledger
        # would refuse it), and the evidence is kept with the slot instead.
        what = "a device that gives no serial failed its inspection"
        events.append(
            core.event(
                "reconciliation_difference",
                {"what": what, "ledger_said": None, "hardware_says": evidence},
                slot=slot.number,
            )
        )
    if slot.state is SlotState.INSPECTING:
        await core.fire(slot, Trigger.INSPECTION_FAILED, *events)
    else:
        await core.fire(slot, Trigger.DEVICE_FAILED, *events)
