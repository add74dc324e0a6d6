"""A device stays in repair until the repair service closes its ticket, even once it is back in a slot
passing its self-test."""

from __future__ import annotations

from cabinetcloud import projections
from cabinetcloud.outbox import tickets
from cabinetcloud.projections import DeviceState
from tests.cabinetcloud.fleet_history import Fleet, demo_fleet

__all__ = ["demo_fleet"]  # the `fleet` fixture


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
