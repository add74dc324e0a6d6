"""`cabinet-cloud cabinets`: the fleet operator's view of each cabinet, flagged devices included."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from cabinetcloud.__main__ import main
from cabinetcloud.storage import Storage
from cabinetd.ledger import Ledger, NewEvent
from testbed import cloudharness
from tests.cabinetcloud.test_ingest import session, upload


def flag(slot: int, serial: str, kind: str = "alarm_raised") -> NewEvent:
    return NewEvent(kind, {"alarm": "unknown_to_fleet", "detail": f"{serial} is not listed"}, slot, serial, None)


def test_ok__the_cabinets_view_shows_the_devices_a_cabinet_flagged_as_unknown_to_the_fleet(
    cloud: TestClient, ledger: Ledger, storage: Storage, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger.append_many([flag(2, "STRANGER1"), flag(4, "STRANGER2"), flag(4, "STRANGER2", "alarm_cleared")])
    ledger.append_many([flag(6, "S1-0001")])  # flagged by a cabinet, but the fleet lists it (the seed has it)
    session(cloud, ledger)
    assert upload(cloud, cloudharness.wire_events(ledger)).status_code == 200
    assert main(["cabinets", "--db", storage.url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("events held  unknown devices")
    assert lines[1].startswith("sim-1 ")
    assert lines[1].endswith("  4  STRANGER1")
