"""A day of a fleet of three cabinets in two stores, told through their real ledgers.

08:00 every cabinet reports the devices in its slots; sim-1's ledger is backed up.
Rentals at sim-1 (demo) and north-1 (north); S1-0001 comes back at demo-2 (same store, another
cabinet), S1-0002 at north-1 (another store: away from home). S1-0003 is reported broken (a
critical battery report) and fails its self-test: a repair ticket with the report as evidence.
14:00 sim-1 rents R1-0001 (R-A4), then is restored from its 08:00 backup, rents R1-0001 again
(R-B1), and adopts the cloud's history as after a fork: R1-0001 is in two open rentals.
16:00 a technician clears the report at sim-1; the ticket stays open. S1-0101 never comes back.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from cabinetcloud.projections import catch_up
from tests.cabinetcloud.fleet_history import START, Cabinet, Fleet, copy_ledger

DAY_END = START + timedelta(hours=10)  # 18:00 of the day
LATER = START + timedelta(days=5)


def story(fleet: Fleet, root: Path, *, project: Callable[[], object] | None = None) -> None:
    project = project or (lambda: catch_up(fleet.storage, fleet.clock.now))
    clock = fleet.clock
    a = fleet.cabinet("sim-1", "demo")
    b = fleet.cabinet("demo-2", "demo")
    n = fleet.cabinet("north-1", "north")
    for slot, serial, battery in ((1, "S1-0001", 90), (2, "S1-0002", 85), (3, "S1-0003", 70)):
        a.status(slot, serial, battery)
    a.status(5, "R1-0001", 99, model="pda-r1")
    n.status(1, "S1-0101", 95)
    sync_all(fleet, a, b, n)
    backup = copy_ledger(a, root / "sim-1-backup")
    agreed = a.sent[a.ledger.sync_state().epoch]  # all the backup holds is in the cloud
    clock.advance(minutes=10)
    a.rent(1, "S1-0001", "demo-anna", "R-A1", "price-tags", hours=4)
    clock.advance(minutes=10)
    a.rent(2, "S1-0002", "demo-bo", "R-A2", "picking", hours=8)
    clock.advance(minutes=40)
    n.rent(1, "S1-0101", "north-erik", "R-N1", "picking", hours=2)
    sync_all(fleet, a, n)
    project()
    clock.advance(hours=2, minutes=30)  # 11:30
    b.give_back(4, "S1-0001", None, 55)
    clock.advance(minutes=30)
    n.give_back(2, "S1-0002", None, 40)
    clock.advance(minutes=30)
    a.rent(3, "S1-0003", "demo-anna", "R-A3", "price-tags")
    clock.advance(minutes=30)  # 13:00
    a.report(3, "S1-0003", "demo-anna", "battery", critical=True, rental_id="R-A3")
    a.give_back(3, "S1-0003", "R-A3", 20, passed=False, ticket="T-1")
    sync_all(fleet, n, b)
    clock.advance(hours=1)  # 14:00
    a.rent(5, "R1-0001", "demo-chen", "R-A4", "stock-taking", hours=10)
    sync_all(fleet, a)
    project()
    restored = restore(fleet, a, backup, agreed)
    clock.advance(hours=1, minutes=30)  # 16:00
    restored.clear("S1-0003")
    sync_all(fleet, restored, b, n)


def restore(fleet: Fleet, cabinet: Cabinet, backup: Path, agreed: int) -> Cabinet:
    """sim-1 back from its 08:00 backup rents R1-0001 once more before it syncs, then adopts."""
    epoch = cabinet.ledger.sync_state().epoch
    restored = fleet.restore(cabinet, backup)
    fleet.clock.advance(minutes=30)  # 14:30
    restored.rent(5, "R1-0001", "demo-chen", "R-B1", "stock-taking", hours=10)
    fleet.adopt(restored, epoch, agreed)
    fleet.sync(restored)
    return restored


def sync_all(fleet: Fleet, *cabinets: Cabinet) -> None:
    for cabinet in cabinets:
        fleet.sync(cabinet)
        fleet.contact(cabinet)
