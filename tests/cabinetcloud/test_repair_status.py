"""A device stays in repair until the repair service closes its ticket, even once it is back in a slot
passing its self-test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cabinetcloud import projections
from cabinetcloud.outbox import tickets
from cabinetcloud.projections import DeviceState
from cabinetcloud.storage import Storage
from testbed import cloudharness
from tests.cabinetcloud.fleet_history import Clock, Fleet


@pytest.fixture
def fleet(storage: Storage, tmp_path: Path) -> Iterator[Fleet]:
    cloudharness.seeded(storage)
    made = Fleet(storage, Clock(), tmp_path)
    yield made
    for cabinet in made.cabinets.values():
        cabinet.ledger.close()


def state(fleet: Fleet) -> DeviceState:
    with fleet.storage.reading() as conn:
        return projections.device_status(conn, ["S1-0001"], fleet.clock.now)["S1-0001"]


def test_in_repair_until_the_ticket_is_closed(fleet: Fleet) -> None:
    cabinet = fleet.cabinet("sim-1", "demo")
    cabinet.rent(1, "S1-0001", "demo-anna", "r-1", "price-tags")
    fleet.clock.advance(hours=2)
    cabinet.give_back(1, "S1-0001", "r-1", 40, passed=False, ticket="T-9")
    fleet.clock.advance(days=1)
    cabinet.give_back(2, "S1-0001", None, 95)  # repaired and put back, passing
    fleet.sync(cabinet)
    fleet.contact(cabinet)
    projections.catch_up(fleet.storage, fleet.clock.now)
    assert state(fleet) is DeviceState.IN_REPAIR
    with fleet.storage.writing() as conn:
        tickets.update(fleet.storage, conn, "T-9", {"status": "closed"}, "repair:demo/repairs", fleet.clock.now)
    assert state(fleet) is DeviceState.IN_SLOT
