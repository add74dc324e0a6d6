"""Several processes serving one fleet on PostgreSQL: `cabinet-cloud serve --workers 3` on one address,
cabinets uploading their backlogs at once through the real sync client, one worker killed in the middle
of it (the cabinets retry, uvicorn starts another): every event is kept exactly once, the acknowledged
seqs match, nothing is dead-lettered, the workers' projectors fold every event in once (one rental per
cabinet), and the server stops cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from cabinetcloud import schema
from cabinetcloud.storage import Storage
from cabinetd.ledger import Ledger, NewEvent, open_ledger
from testbed import cloudharness
from testbed.syncrig import cabinet_config, client_for, run_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

CABINETS = 8
BACKLOG = 702  # two batches each: 500, then 202, the last two a rental


def _rental(ledger: Ledger, cabinet_id: str) -> None:
    due = (datetime.now(UTC) + timedelta(hours=4)).isoformat()
    device, staff = f"DEV-{cabinet_id}", "anna"
    ledger.append_many(
        [
            NewEvent("dispense_started", {"work_type": "price-tags"}, slot=1, device=device, staff=staff),
            NewEvent(
                "device_rented", {"rental_id": f"r-{cabinet_id}", "due_at": due}, slot=1, device=device, staff=staff
            ),
        ]
    )


def _projected(storage: Storage) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """How far the projector got in each cabinet, and the rentals it made."""
    from cabinetcloud.projections import tables

    with storage.reading() as conn:
        progress = conn.execute(sa.select(tables.progress.c.cabinet_id, tables.progress.c.projected_seq)).all()
        rentals = conn.execute(sa.select(tables.rentals.c.cabinet_id, tables.rentals.c.rental_id)).all()
    return dict(tuple(row) for row in progress), sorted(tuple(row) for row in rentals)


def _kept(storage: Storage) -> int:
    with storage.reading() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(schema.events)).scalar_one())


async def _upload_all(ledgers: dict[str, Ledger], work: Path, url: str) -> None:
    async def one(cabinet_id: str, ledger: Ledger) -> None:
        client = client_for(cabinet_config(work / cabinet_id, url, cabinet_id=cabinet_id), ledger)

        def done() -> bool:
            state = ledger.sync_state()
            return state.acked_seq == state.last_seq

        await run_until(client, done, timeout_s=180)

    await asyncio.gather(*(one(cabinet_id, ledger) for cabinet_id, ledger in ledgers.items()))


def _kill_a_worker_once_events_arrive(cloud: cloudharness.ServedCloud, storage: Storage) -> int:
    deadline = time.monotonic() + 120
    while _kept(storage) == 0:
        assert time.monotonic() < deadline, "no event arrived"
        time.sleep(0.02)
    victim = cloud.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    return victim


def test_ok__three_workers_keep_every_event_once_through_a_killed_worker(
    postgres: cloudharness.PostgresCluster, tmp_path: Path
) -> None:
    url = postgres.new_database()
    storage = cloudharness.seeded(cloudharness.migrated(url))
    ledgers: dict[str, Ledger] = {}
    for number in range(1, CABINETS + 1):
        cabinet_id = f"cab-{number:02d}"
        state_dir = tmp_path / cabinet_id
        cloudharness.write_token(state_dir / "cloud.token", cloudharness.enroll(storage, cabinet_id))
        ledgers[cabinet_id] = open_ledger(state_dir, cabinet_id)
        cloudharness.fill_ledger(ledgers[cabinet_id], BACKLOG - 2)
        _rental(ledgers[cabinet_id], cabinet_id)
    cloud = cloudharness.ServedCloud(url, tmp_path / "cloud.log", workers=3).start()
    try:
        assert len(cloud.worker_pids()) == 3

        async def scenario() -> int:
            uploads = asyncio.ensure_future(_upload_all(ledgers, tmp_path, cloud.url))
            victim = await asyncio.to_thread(_kill_a_worker_once_events_arrive, cloud, storage)
            await uploads
            return victim

        victim = asyncio.run(scenario())
        assert victim not in cloud.worker_pids()
        deadline = time.monotonic() + 120
        while set(_projected(storage)[0].values()) != {BACKLOG}:  # the workers' projectors, not ours
            assert time.monotonic() < deadline, _projected(storage)
            time.sleep(0.1)
    finally:
        status = cloud.stop()
    # uvicorn's parent ends by itself once its workers have stopped (the jobs' loops with them).
    assert status == 0, (tmp_path / "cloud.log").read_text()[-3000:]
    for cabinet_id, ledger in ledgers.items():
        held = cloudharness.cloud_event_ids(storage, cabinet_id)
        mine = [event.event_id for event in ledger.events_after(0, BACKLOG + 1, 1 << 40)]
        assert sorted(held) == sorted(mine), cabinet_id  # each once, none lost, none doubled
        state = ledger.sync_state()
        with storage.reading() as conn:
            acked = conn.execute(
                sa.select(schema.epochs.c.acked_seq).where(schema.epochs.c.cabinet_id == cabinet_id)
            ).scalar_one()
        assert (state.acked_seq, acked) == (BACKLOG, BACKLOG)
        ledger.close()
    with storage.reading() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.dead_letters)).scalar() == 0
    assert _kept(storage) == CABINETS * BACKLOG
    progress, rentals = _projected(storage)
    assert progress == {cabinet_id: BACKLOG for cabinet_id in ledgers}
    assert rentals == [(cabinet_id, f"r-{cabinet_id}") for cabinet_id in sorted(ledgers)]
    storage.dispose()
