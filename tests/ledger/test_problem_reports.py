"""What the ledger answers about problems reported at the cabinet: the report that waits for a slot's
return (until an inspection, a ticket or a call-off takes it), and the devices a critical report keeps
out of service until a technician's `clear_report`."""

from __future__ import annotations

from typing import Any

import pytest

from cabinetd.ledger import Ledger
from cabinetproto.events import PayloadError, validate_payload

SCREEN: dict[str, Any] = {"reason": "screen", "note": "cracked", "rental_id": None, "critical": False}
BATTERY: dict[str, Any] = {"reason": "battery", "note": "", "rental_id": None, "critical": True}
RETURNED: dict[str, Any] = {"rental_id": None, "usage": {}, "selftest": {}, "unexpected": False}


def report(ledger: Ledger, payload: dict[str, Any], device: str | None = "PDA-001", slot: int = 2) -> None:
    ledger.append("problem_reported", payload, slot=slot, device=device, staff="S-1")


def clear(ledger: Ledger, serial: str) -> None:
    payload = {"action": "clear_report", "args": {"serial": serial}, "technician": "tom"}
    ledger.append("technician_action", payload)


def test_ok__a_report_waits_for_its_return_until_the_inspection_takes_it(ledger: Ledger) -> None:
    ledger.append("return_started", {"expected": "PDA-001"}, slot=2)
    assert ledger.pending_report(2) is None
    report(ledger, SCREEN)
    report(ledger, {**SCREEN, "note": "cracked badly"})  # the latest report is the one that counts
    found = ledger.pending_report(2)
    assert found is not None
    assert found.payload["note"] == "cracked badly"
    assert ledger.pending_report(3) is None  # another slot's return knows nothing of it
    ledger.append("device_returned", RETURNED, slot=2, device="PDA-001")
    assert ledger.pending_report(2) is None


@pytest.mark.parametrize(
    ("event_type", "payload", "envelope"),
    [
        ("return_cancelled", {"reason": "door not opened"}, {}),
        ("repair_ticket_opened", {"ticket_id": "T-1", "evidence": {}}, {"device": "PDA-001"}),
        ("return_started", {"expected": None}, {}),
    ],
)
def test_ok__a_ticket_a_call_off_or_the_next_return_ends_the_wait(
    ledger: Ledger, event_type: str, payload: dict[str, Any], envelope: dict[str, Any]
) -> None:
    report(ledger, SCREEN)
    ledger.append(event_type, payload, slot=2, **envelope)
    assert ledger.pending_report(2) is None


def test_ok__critical_until_a_technician_clears_it(ledger: Ledger) -> None:
    report(ledger, SCREEN, device="PDA-002")  # not critical
    report(ledger, BATTERY)
    assert ledger.critical_devices() == {"PDA-001": "battery"}
    clear(ledger, "PDA-003")  # another device's clear changes nothing here
    assert ledger.critical_devices() == {"PDA-001": "battery"}
    clear(ledger, "PDA-001")
    assert ledger.critical_devices() == {}
    report(ledger, {**BATTERY, "reason": "damaged"})  # reported again after the clear
    assert ledger.critical_devices() == {"PDA-001": "damaged"}


def test_ok__a_critical_report_made_before_the_device_was_known_counts_from_its_ticket(ledger: Ledger) -> None:
    report(ledger, BATTERY, device=None)
    assert ledger.critical_devices() == {}
    evidence = {"report": {"reason": "battery", "note": "", "critical": True, "staff": "S-1"}}
    ledger.append("repair_ticket_opened", {"ticket_id": "T-1", "evidence": evidence}, slot=2, device="PDA-007")
    assert ledger.critical_devices() == {"PDA-007": "battery"}


def test_fail__a_report_with_a_reason_nobody_offers_is_refused_naming_the_field() -> None:
    # The cloud validates uploads with the same model, so it dead-letters what the cabinet refuses.
    with pytest.raises(PayloadError) as caught:
        validate_payload("problem_reported", {**SCREEN, "reason": "exploded"})
    assert str(caught.value).startswith("event type 'problem_reported': field 'reason': Input should be 'screen'")
    with pytest.raises(PayloadError, match="field 'note': String should have at most 500 characters"):
        validate_payload("problem_reported", {**SCREEN, "note": "x" * 501})
