"""A problem reported at the screen, as the inspection and the policy read it: the report waiting for
the return at a slot (until an inspection or a repair ticket takes it in), and the devices a critical
report keeps out of service until a technician clears them (`Core.critical`, folded from the ledger
at start and kept up to date by the flows that write those events).
"""

from __future__ import annotations

from typing import Any

from cabinetd.flows.core import Core


def report_evidence(payload: dict[str, Any], staff: str | None) -> dict[str, Any]:
    """A report (a `problem_reported` payload) as a repair ticket's evidence."""
    return {
        "reason": payload["reason"],
        "note": payload.get("note", ""),
        "critical": bool(payload.get("critical", False)),
        "staff": staff,
    }


def pending(core: Core, slot: int) -> dict[str, Any] | None:
    """The report waiting for the return at `slot`, as evidence; None when there is none."""
    event = core.ledger.pending_report(slot)
    return None if event is None else report_evidence(event.payload, event.staff)


def on_screen(core: Core, slot: int) -> dict[str, Any]:
    """The `report` field of a returning screen: what the person reported, once they have."""
    found = pending(core, slot)
    return {} if found is None else {"report": {"reason": found["reason"], "note": found["note"]}}


def beside_selftest(core: Core, slot: int, device: str | None) -> dict[str, Any]:
    """What goes into the repair ticket beside the self-test: the person's report for this return,
    or, for a device a critical report keeps out of service, that report's reason. Empty: nothing,
    and a passing self-test puts the device back in service. A critical report takes effect here
    for a device the cabinet only now knows (reported before it was in the slot)."""
    found = pending(core, slot)
    if found is not None:
        if found["critical"] and device is not None:
            core.critical[device] = str(found["reason"])
        return {"report": found}
    reason = core.critical.get(device) if device is not None else None
    if reason is not None:
        return {"critical": f"reported at the cabinet ({reason}); not cleared by a technician"}
    return {}
