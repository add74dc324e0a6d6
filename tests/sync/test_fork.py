"""A cabinet restored from an old copy of its ledger: caught at the next session, and recovered."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from cabinetcloud import schema
from cabinetcloud.app import create_app
from cabinetcloud.storage import Storage
from cabinetd.ledger import LEDGER_FILE, Ledger, open_ledger
from testbed import cloudharness
from testbed.syncrig import cabinet_config, client_for, run_until
from tests.sync.faulty_transport import FaultyTransport


@pytest.fixture
def cloud(storage: Storage, state_dir: Path) -> Iterator[FaultyTransport]:
    cloudharness.seeded(storage)
    cloudharness.write_token(state_dir / "cloud.token", cloudharness.enroll(storage))
    return FaultyTransport(create_app(storage, max_wait_s=0.2, poll_s=0.05))


def rent(ledger: Ledger, slot: int, device: str, rental_id: str) -> None:
    ledger.append(
        "device_status",
        {"serial": device, "model": "pda-s1", "battery": 90, "health": "good", "charging": False},
        slot=slot,
    )
    due = datetime.now(UTC) + timedelta(hours=4)
    ledger.append(
        "device_rented",
        {"rental_id": rental_id, "due_at": due.isoformat()},
        slot=slot,
        device=device,
        staff="demo-anna",
    )


async def restored_cabinet(cloud: FaultyTransport, ledger: Ledger, state_dir: Path, tmp_path: Path) -> Path:
    """A cabinet that synced 300 events, then was restored from its copy taken at 200, and wrote
    5 more events before it reached the cloud again. Returns the restored state directory."""
    cloudharness.fill_ledger(ledger, 199)
    rent(ledger, 1, "S1-0001", "rental-before-copy")  # seq 200-201
    restored = tmp_path / "restored"
    restored.mkdir()
    with sqlite3.connect(ledger.path) as source, sqlite3.connect(restored / LEDGER_FILE) as copy:
        source.backup(copy)
    rent(ledger, 2, "S1-0002", "rental-after-copy")
    cloudharness.fill_ledger(ledger, 97, start=1_000)
    client = client_for(cabinet_config(state_dir, "http://cloud.test"), ledger, transport=cloud)
    await run_until(client, lambda: ledger.sync_state().acked_seq == 300)
    shutil.copy(state_dir / "cloud.token", restored / "cloud.token")
    (restored / "cloud.token").chmod(0o600)
    return restored


async def test_fail__a_restored_ledger_is_caught_at_the_session(
    cloud: FaultyTransport, storage: Storage, ledger: Ledger, state_dir: Path, tmp_path: Path
) -> None:
    restored_dir = await restored_cabinet(cloud, ledger, state_dir, tmp_path)
    original = sorted(cloudharness.cloud_event_ids(storage))
    restored = open_ledger(restored_dir, "sim-1")
    try:
        cloudharness.fill_ledger(restored, 5, start=2_000)
        assert restored.sync_state().last_seq == 206
        client = client_for(cabinet_config(restored_dir, "http://cloud.test"), restored, transport=cloud)
        epoch = restored.sync_state().epoch

        def caught() -> bool:
            with storage.reading() as conn:
                row = conn.execute(sa.select(schema.epochs.c.fork_detected_at).where(schema.epochs.c.epoch == epoch))
                return row.scalar() is not None

        await run_until(client, caught)
        # Whatever the ledger can do about it, nothing of the cloud's was overwritten or doubled.
        held = cloudharness.cloud_event_ids(storage)
        assert len(held) == len(set(held))
        assert set(original) <= set(held)
    finally:
        restored.close()


async def test_ok__a_restored_cabinet_recovers_every_event_and_its_open_rentals(
    cloud: FaultyTransport, storage: Storage, ledger: Ledger, state_dir: Path, tmp_path: Path
) -> None:
    restored_dir = await restored_cabinet(cloud, ledger, state_dir, tmp_path)
    restored = open_ledger(restored_dir, "sim-1")
    try:
        cloudharness.fill_ledger(restored, 5, start=2_000)
        mine_after_restore = [e["event_id"] for e in cloudharness.wire_events(restored, 201, 10)]
        client = client_for(cabinet_config(restored_dir, "http://cloud.test"), restored, transport=cloud)

        def recovered() -> bool:
            state = restored.sync_state()
            return client.status().state == "online" and state.acked_seq == state.last_seq and state.last_seq == 5

        await run_until(client, recovered, timeout_s=15)
        held = cloudharness.cloud_event_ids(storage)
        assert len(held) == len(set(held)) == 305
        assert set(mine_after_restore) <= set(held)
        assert sorted(r.rental_id for r in restored.open_rentals()) == ["rental-after-copy", "rental-before-copy"]
        # The cabinet holds exactly what the cloud holds: its own events and those it took back.
        assert sorted(row[0] for row in restored.store.rows("SELECT event_id FROM events")) == sorted(held)
        assert restored.verify().ok
        assert restored.rebuild().identical
    finally:
        restored.close()


async def test_ok__a_restored_cabinet_takes_back_a_later_epoch_too(
    cloud: FaultyTransport, storage: Storage, ledger: Ledger, state_dir: Path, tmp_path: Path
) -> None:
    """The cabinet had moved on to a second epoch (an earlier fork) before it was restored from a
    copy of the first: both epochs come back, in order, before its own events go up."""
    restored_dir = await restored_cabinet(cloud, ledger, state_dir, tmp_path)
    first = ledger.sync_state().epoch
    later = ledger.new_epoch("fork: an earlier one")
    cloudharness.fill_ledger(ledger, 10, start=3_000)
    client = client_for(cabinet_config(state_dir, "http://cloud.test"), ledger, transport=cloud)
    await run_until(client, lambda: ledger.sync_state().acked_seq == 10)
    restored = open_ledger(restored_dir, "sim-1")
    try:
        cloudharness.fill_ledger(restored, 3, start=4_000)
        client = client_for(cabinet_config(restored_dir, "http://cloud.test"), restored, transport=cloud)

        def recovered() -> bool:
            state = restored.sync_state()
            return client.status().state == "online" and state.acked_seq == state.last_seq == 3

        await run_until(client, recovered, timeout_s=15)
        held = cloudharness.cloud_event_ids(storage)
        assert len(held) == len(set(held)) == 313
        assert [(e.epoch, e.acked_seq, e.last_seq) for e in restored.epochs()] == [
            (first, 300, 300),
            (later, 10, 10),
            (restored.sync_state().epoch, 3, 3),
        ]
        assert sorted(row[0] for row in restored.store.rows("SELECT event_id FROM events")) == sorted(held)
        assert sorted(r.rental_id for r in restored.open_rentals()) == ["rental-after-copy", "rental-before-copy"]
        assert restored.verify().ok
        assert restored.rebuild().identical
    finally:
        restored.close()
