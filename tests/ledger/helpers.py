"""What the ledger tests share: a cabinet id, a clock the tests control, example payloads and a way
to read every projection table for comparison."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

from cabinetd.ledger import Ledger, NewEvent
from cabinetd.ledger.schema import PROJECTION_TABLES
from cabinetd.ledger.store import Row

CABINET: Final = "cab-test-1"
T0: Final = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


class StepClock:
    """A wall clock that starts at T0 and is one second later at every reading."""

    def __init__(self, start: datetime = T0, step: timedelta = timedelta(seconds=1)) -> None:
        self.now = start
        self.step = step

    def __call__(self) -> datetime:
        self.now += self.step
        return self.now


# One valid payload and envelope per event type: every declared type must have one.
EXAMPLES: Final[dict[str, tuple[dict[str, Any], dict[str, Any]]]] = {
    "cabinet_started": ({"software_version": "0.1.0"}, {}),
    "slot_state_changed": ({"from": "empty", "to": "ready", "reason": "device found"}, {"slot": 1}),
    "alarm_raised": ({"alarm": "door_forced", "detail": "opened without an unlock"}, {"slot": 3}),
    "alarm_cleared": ({"alarm": "door_forced", "detail": "closed by technician"}, {"slot": 3}),
    "device_status": (
        {"serial": "PDA-001", "model": "TC21", "battery": 87, "health": "good", "charging": True},
        {"slot": 1},
    ),
    "device_provisioned": (
        {"work_type": "picking", "apps": [{"package": "com.store.picking", "version": "4.2.0"}]},
        {"device": "PDA-001"},
    ),
    "provisioning_failed": (
        {"work_type": "picking", "reason": "install failed: INSTALL_FAILED_INSUFFICIENT_STORAGE"},
        {"slot": 3, "device": "PDA-001"},
    ),
    "repair_ticket_opened": ({"ticket_id": "T-1", "evidence": {"battery": "fail"}}, {"device": "PDA-001"}),
    "problem_reported": (
        {"reason": "battery", "note": "hot to the touch", "rental_id": "R-1", "critical": True},
        {"slot": 2, "device": "PDA-001", "staff": "S-100"},
    ),
    "dispense_started": ({"work_type": "picking"}, {"slot": 1, "device": "PDA-001", "staff": "S-100"}),
    "dispense_cancelled": ({"reason": "door not opened within 20 s"}, {"slot": 1}),
    "return_cancelled": ({"reason": "door closed with no device inside"}, {"slot": 2}),
    "rent_refused": ({"reason": "limit_reached", "minutes": None}, {"staff": "s-1"}),
    "trigger_refused": ({"trigger": "dispense", "state": "empty"}, {"slot": 2}),
    "device_rented": (
        {"rental_id": "R-1", "due_at": "2025-03-01T16:00:00Z"},
        {"slot": 1, "device": "PDA-001", "staff": "S-100"},
    ),
    "rental_cancelled": ({"rental_id": "R-1", "reason": "device back in its slot"}, {"slot": 1, "device": "PDA-001"}),
    "step_refused": ({"step": "DeviceUnplugged at slot 1", "error": "device 'PDA-001' is in a rental"}, {"slot": 1}),
    "slot_stuck": ({"state": "inspecting", "seconds": 901, "bound_s": 900}, {"slot": 4}),
    "return_started": ({"expected": "PDA-001"}, {"slot": 2, "staff": "S-100"}),
    "device_returned": (
        {"rental_id": None, "usage": {"scans": 3}, "selftest": {"battery": "pass"}, "unexpected": True},
        {"slot": 2, "device": "PDA-009"},
    ),
    "rental_due_soon": ({"rental_id": "R-1", "due_at": "2025-03-01T16:00:00Z"}, {"staff": "S-100"}),
    "rental_overdue": ({"rental_id": "R-1", "due_at": "2025-03-01T16:00:00Z"}, {"staff": "S-100"}),
    "technician_action": ({"action": "open_slot", "args": {"slot": 4}, "technician": "T-7"}, {"slot": 4}),
    "command_started": ({"command_id": "C-1", "kind": "disable_slot"}, {"slot": 5}),
    "command_result": ({"command_id": "C-1", "kind": "disable_slot", "ok": True, "detail": ""}, {"slot": 5}),
    "reconciliation_difference": (
        {"what": "slot 6 device", "ledger_said": "PDA-004", "hardware_says": None},
        {"slot": 6},
    ),
    "ledger_incident": ({"kind": "integrity_check_failed", "detail": "page 7", "copy_path": "/x"}, {}),
    "incident_cleared": ({"technician": "T-7", "note": "copy sent to support"}, {}),
    "update_offered": ({"release": "REL-1", "version": "0.2.0", "allow_downgrade": False}, {}),
    "update_downloaded": ({"release": "REL-1", "version": "0.2.0", "sha256": "ab" * 32, "size": 12_000_000}, {}),
    "update_refused": ({"release": "REL-1", "version": "0.1.0", "reason": "downgrade", "detail": "0.2.0 runs"}, {}),
    "update_installing": ({"release": "REL-1", "version": "0.2.0", "from_version": "0.1.0"}, {}),
    "update_installed": ({"release": "REL-1", "version": "0.2.0", "from_version": "0.1.0"}, {}),
    "update_rolled_back": ({"release": "REL-1", "version": "0.2.0", "to_version": "0.1.0", "reason": "not READY"}, {}),
    "app_package_cached": (
        {
            "package": "com.example.home",
            "version_code": 240,
            "sha256": "ab" * 32,
            "size": 48_000,
            "signer_sha256": "cd" * 32,
            "work_types": ["price-tags"],
        },
        {},
    ),
    "app_package_refused": (
        {"package": "com.example.home", "version_code": 240, "sha256": "ab" * 32, "reason": "signer", "detail": "x"},
        {},
    ),
    "app_package_removed": (
        {"sha256": "ab" * 32, "package": "com.example.home", "size": 48_000, "reason": "unneeded"},
        {},
    ),
}


def snapshot(ledger: Ledger) -> dict[str, list[Row]]:
    """Every projection table, row by row in key order."""
    return {
        table: ledger.store.rows(f"SELECT * FROM {table} ORDER BY {', '.join(keys)}")
        for table, keys in PROJECTION_TABLES.items()
    }


def stock(ledger: Ledger, devices: int, *, model: str = "TC21") -> list[str]:
    """Put devices PDA-001... into slots 1... and mark those slots ready; returns the serials."""
    serials = [f"PDA-{n:03d}" for n in range(1, devices + 1)]
    events = []
    for slot, serial in enumerate(serials, start=1):
        status = {"serial": serial, "model": model, "battery": 90, "health": "good", "charging": False}
        events.append(NewEvent("device_status", status, slot=slot))
        events.append(NewEvent("slot_state_changed", {"from": "empty", "to": "ready", "reason": "stocked"}, slot=slot))
    ledger.append_many(events)
    return serials
