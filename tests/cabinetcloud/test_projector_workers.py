"""Two workers projecting one backlog on PostgreSQL: each event applied once, the same projection
as one worker alone. The cabinets rent and return the same devices, so the workers meet on the
devices' rows as well as on the cabinets' progress."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from cabinetcloud import schema
from cabinetcloud.projections import projector, run_once
from cabinetcloud.projections import tables as projected
from cabinetcloud.storage import Storage
from testbed import cloudharness
from tests.cabinetcloud.fleet_history import Clock, Fleet

CABINETS = 6
DEVICES = 8
ROUNDS = 12


@pytest.fixture
def backlog(postgres: cloudharness.PostgresCluster, tmp_path: Path) -> Iterator[Storage]:
    storage = cloudharness.seeded(cloudharness.migrated(postgres.new_database()))
    fleet = Fleet(storage, Clock(), tmp_path)
    cabinets = [fleet.cabinet(f"c-{number}", "demo" if number % 2 else "north") for number in range(CABINETS)]
    for round_ in range(ROUNDS):
        for number, cabinet in enumerate(cabinets):
            serial = f"D-{(round_ + number) % DEVICES}"
            rental = f"R-{number}-{round_}"
            cabinet.status(1, serial, 80)
            fleet.clock.advance(minutes=7)
            cabinet.rent(1, serial, "demo-anna", rental, "price-tags")
            fleet.clock.advance(minutes=5)
            cabinet.give_back(2, serial, rental, 60, passed=round_ % 5 != 4, ticket=f"T-{number}-{round_}")
    for cabinet in cabinets:
        fleet.sync(cabinet)
    fleet.close()
    yield storage
    storage.dispose()


def _waiting(storage: Storage) -> bool:
    progress = projected.progress
    with storage.reading() as conn:
        held = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(schema.epochs.c.acked_seq), 0))).scalar_one()
        done = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(progress.c.projected_seq), 0))).scalar_one()
    return bool(done < held)


def _dump(storage: Storage) -> dict[str, list[Any]]:
    with storage.reading() as conn:
        return {
            table.name: sorted(tuple(map(str, row)) for row in conn.execute(sa.select(table)))
            for table in projected.PROJECTION_TABLES
        }


@pytest.mark.slow
def test_ok__two_workers_apply_each_event_once(backlog: Storage) -> None:
    with backlog.reading() as conn:
        events = conn.execute(sa.select(sa.func.count()).select_from(schema.events)).scalar_one()
    applied = [0, 0]
    failures: list[BaseException] = []
    start = threading.Barrier(2)

    def work(index: int) -> None:
        try:
            start.wait()
            while _waiting(backlog):  # 0 from run_once may mean the other worker holds what is left
                applied[index] += run_once(backlog, Clock().now, limit=1)
        except BaseException as exc:  # reported below, with the thread's result
            failures.append(exc)

    workers = [threading.Thread(target=work, args=(index,)) for index in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert failures == []
    assert sum(applied) == events
    together = _dump(backlog)
    assert len(together["projected_rentals"]) == CABINETS * ROUNDS
    projector.reset(backlog)
    assert projector.catch_up(backlog, Clock().now) == events
    assert _dump(backlog) == together
