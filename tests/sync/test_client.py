"""The sync client against the real cloud app, in process, with faults placed at exact requests."""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from cabinetcloud import commands, fleet, schema
from cabinetcloud.app import create_app
from cabinetcloud.storage import Storage
from cabinetd.ledger import Ledger, open_ledger
from cabinetproto.wire import CommandKind, Entity
from testbed import cloudharness
from testbed.syncrig import Executed, cabinet_config, client_for, run_until
from tests.sync.faulty_transport import FaultyTransport


@pytest.fixture
def cloud(storage: Storage, state_dir: Path) -> Iterator[FaultyTransport]:
    cloudharness.seeded(storage)
    cloudharness.write_token(state_dir / "cloud.token", cloudharness.enroll(storage))
    return FaultyTransport(create_app(storage, max_wait_s=0.2, poll_s=0.05))


def synced(ledger: Ledger) -> bool:
    state = ledger.sync_state()
    return state.acked_seq == state.last_seq


def assert_cloud_holds_exactly(storage: Storage, ledger: Ledger) -> None:
    held = cloudharness.cloud_event_ids(storage)
    mine = [event["event_id"] for event in cloudharness.wire_events(ledger, 0, 1_000_000)]
    assert len(held) == len(set(held)), "the cloud holds an event twice"
    assert sorted(held) == sorted(mine)


async def test_ok__the_outbox_is_drained_and_acknowledged(
    cloud: FaultyTransport, storage: Storage, ledger: Ledger, state_dir: Path
) -> None:
    cloudharness.fill_ledger(ledger, 1_200)
    client = client_for(cabinet_config(state_dir, "http://cloud.test"), ledger, transport=cloud)
    await run_until(client, lambda: synced(ledger))
    assert_cloud_holds_exactly(storage, ledger)
    status = client.status()
    assert (status.state, status.online, status.pending_events, status.acked_seq) == ("online", True, 0, 1_200)
    assert status.last_error is None


async def test_ok__a_reply_lost_after_the_cloud_committed_is_not_sent_twice(
    cloud: FaultyTransport, storage: Storage, ledger: Ledger, state_dir: Path
) -> None:
    cloudharness.fill_ledger(ledger, 1_100)
    for _ in range(3):
        cloud.then("/events", "lost_reply")
    cloud.then("/session", "connect")
    client = client_for(cabinet_config(state_dir, "http://cloud.test"), ledger, transport=cloud)
    await run_until(client, lambda: synced(ledger))
    assert_cloud_holds_exactly(storage, ledger)
    assert not cloud.script


async def test_ok__retry_after_is_honoured(
    cloud: FaultyTransport, ledger: Ledger, state_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cloudharness.fill_ledger(ledger, 3)
    cloud.then("/session", "503:0.15")
    client = client_for(cabinet_config(state_dir, "http://cloud.test"), ledger, transport=cloud)
    with caplog.at_level(logging.WARNING, logger="cabinetd.sync"):
        await run_until(client, lambda: synced(ledger))
    waits = [float(m) for m in re.findall(r"retrying in ([0-9.]+) s", caplog.text)]
    assert waits
    assert waits[0] >= 0.15
    assert "503 Service Unavailable: injected" in caplog.text


async def test_ok__the_batch_is_halved_on_413_and_on_repeated_timeouts(
    cloud: FaultyTransport, storage: Storage, ledger: Ledger, state_dir: Path
) -> None:
    cloudharness.fill_ledger(ledger, 600)
    cloud.then("/events", "413")
    cloud.then("/events", "timeout")
    cloud.then("/events", "timeout")
    client = client_for(cabinet_config(state_dir, "http://cloud.test"), ledger, transport=cloud)
    await run_until(client, lambda: synced(ledger))
    assert client.status().batch_limit == 125
    assert_cloud_holds_exactly(storage, ledger)


async def test_ok__a_poison_event_is_dead_lettered_and_the_queue_moves_on(
    cloud: FaultyTransport, storage: Storage, ledger: Ledger, state_dir: Path
) -> None:
    cloudharness.fill_ledger(ledger, 30)
    # Damage one stored event the way a bad disk sector or a bug would: its payload no longer
    # matches its model or its hash.
    with sqlite3.connect(ledger.path) as raw:
        raw.execute('UPDATE events SET payload = \'{"action": ""}\' WHERE seq = 10')
    client = client_for(cabinet_config(state_dir, "http://cloud.test"), ledger, transport=cloud)
    await run_until(client, lambda: synced(ledger))
    with storage.reading() as conn:
        dead = conn.execute(sa.select(schema.dead_letters.c.seq, schema.dead_letters.c.code)).all()
        kept = conn.execute(sa.select(sa.func.count()).select_from(schema.events)).scalar()
    assert [tuple(row) for row in dead] == [(10, "bad_payload")]
    assert kept == 29
    assert client.status().dead_lettered == 1
    assert [seen for seen in cloud.seen if seen.endswith("/events")] == ["POST /v1/cabinets/sim-1/events"]


async def test_ok__the_roster_comes_down_and_changes_follow(
    cloud: FaultyTransport, storage: Storage, ledger: Ledger, state_dir: Path
) -> None:
    client = client_for(cabinet_config(state_dir, "http://cloud.test"), ledger, transport=cloud)
    await run_until(client, lambda: ledger.staff_by_badge("0001715004", "decimal") is not None)
    anna = ledger.staff_by_badge("0001715004", "decimal")
    assert anna is not None
    assert (anna.staff_id, anna.store, anna.work_type, anna.pin_hash) == ("demo-anna", "demo", "price-tags", None)
    erik = ledger.staff_by_badge("018,54919", "wiegand26")
    assert erik is not None
    assert (erik.store, erik.name) == ("north", "")  # another store's staff: no name travels
    tech = ledger.staff_by_badge("00C0FFEE", "hex8")
    assert tech is not None
    assert tech.pin_hash is not None
    assert tech.pin_hash.startswith("scrypt$")
    with storage.writing() as conn:
        row = fleet.current(conn, Entity.STAFF, "demo-anna")
        assert row is not None
        fleet.upsert(conn, Entity.STAFF, {**row, "work_type": "picking"})
    # A page cut short on the way is never applied; the next good one is.
    cloud.then("/changes", "cut_page")
    client = client_for(cabinet_config(state_dir, "http://cloud.test"), ledger, transport=cloud)

    def moved() -> bool:
        member = ledger.staff_by_badge("0001715004", "decimal")
        return member is not None and member.work_type == "picking"

    await run_until(client, moved)
    assert not cloud.script
    assert cloud.seen.count("GET /v1/cabinets/sim-1/snapshot") == 1


async def test_ok__a_compacted_cursor_leads_to_one_snapshot_swap(
    cloud: FaultyTransport, storage: Storage, ledger: Ledger, state_dir: Path
) -> None:
    client = client_for(cabinet_config(state_dir, "http://cloud.test"), ledger, transport=cloud)
    await run_until(client, lambda: ledger.sync_state().downlink_cursor is not None)
    with storage.writing() as conn:
        for serial in ("S1-0001", "S1-0002"):
            fleet.delete(conn, Entity.DEVICES, serial)
        fleet.compact(conn, keep=1)
    cloud.seen.clear()
    head = ledger.sync_state().downlink_cursor
    await run_until(client, lambda: ledger.sync_state().downlink_cursor != head)
    assert cloud.seen.count("GET /v1/cabinets/sim-1/snapshot") == 1
    serials = {row[0] for row in ledger.store.rows("SELECT serial FROM fleet_devices")}
    assert serials == {"S1-0003", "R1-0001", "R1-0002", "R1-0003", "A1-0001", "S1-0101"}


async def test_ok__commands_run_once_and_expired_ones_never(
    cloud: FaultyTransport, storage: Storage, ledger: Ledger, state_dir: Path
) -> None:
    now = datetime.now(UTC)
    with storage.writing() as conn:
        late = commands.queue(
            conn, "sim-1", CommandKind.UNLOCK_SLOT, {"slot": 1}, timedelta(minutes=1), now=now - timedelta(hours=1)
        )
        fresh = commands.queue(
            conn, "sim-1", CommandKind.DISABLE_SLOT, {"slot": 2, "reason": "jammed"}, timedelta(minutes=30)
        )
    executed = Executed()
    client = client_for(cabinet_config(state_dir, "http://cloud.test"), ledger, executed, transport=cloud)

    def closed() -> bool:
        with storage.reading() as conn:
            return all(commands.status(conn, c.command_id).status != "pending" for c in (late, fresh))

    await run_until(client, closed)
    assert [c.command_id for c in executed.commands] == [fresh.command_id]
    with storage.reading() as conn:
        late_row, fresh_row = commands.status(conn, late.command_id), commands.status(conn, fresh.command_id)
    assert (fresh_row.status, fresh_row.result_detail) == ("done", "disable_slot done")
    assert late_row.status == "failed"
    assert late_row.result_detail.startswith(f"expired at {late.expires_at.isoformat()} (cloud time now ")
    # A second client on the same ledger (a restart) runs nothing again.
    again = Executed()
    client = client_for(cabinet_config(state_dir, "http://cloud.test"), ledger, again, transport=cloud)
    await run_until(client, lambda: client.status().online)
    assert again.commands == []


@pytest.mark.parametrize("cabinet_clock", ["1970-01-01T00:00:00+00:00", "+366d"])
async def test_ok__a_wrong_cabinet_clock_changes_no_order_and_no_expiry(
    cloud: FaultyTransport, storage: Storage, state_dir: Path, cabinet_clock: str
) -> None:
    offset = (
        timedelta(days=366) if cabinet_clock == "+366d" else datetime.fromisoformat(cabinet_clock) - datetime.now(UTC)
    )

    def clock() -> datetime:
        return datetime.now(UTC) + offset

    ledger = open_ledger(state_dir, "sim-1", clock=clock)
    cloudharness.fill_ledger(ledger, 50)
    with storage.writing() as conn:
        expired = commands.queue(
            conn,
            "sim-1",
            CommandKind.ENABLE_SLOT,
            {"slot": 3},
            timedelta(seconds=1),
            now=datetime.now(UTC) - timedelta(minutes=5),
        )
        valid = commands.queue(conn, "sim-1", CommandKind.ENABLE_SLOT, {"slot": 4}, timedelta(minutes=30))
    executed = Executed()
    client = client_for(cabinet_config(state_dir, "http://cloud.test"), ledger, executed, transport=cloud, clock=clock)

    def done() -> bool:
        with storage.reading() as conn:
            open_commands = commands.pending(conn, "sim-1", 0, datetime.now(UTC))
        return synced(ledger) and not open_commands and ledger.pending_count() == 0

    try:
        await run_until(client, done)
        assert [c.command_id for c in executed.commands] == [valid.command_id]
        assert ledger.command_executed(expired.command_id)
        status = client.status()
        assert status.skew_flagged
        assert status.clock_skew_s is not None
        assert abs(status.clock_skew_s + offset.total_seconds()) < 60
        with storage.reading() as conn:
            seqs = (
                conn.execute(
                    sa.select(schema.events.c.seq).order_by(schema.events.c.occurred_at_utc, schema.events.c.seq)
                )
                .scalars()
                .all()
            )
            cabinet = conn.execute(sa.select(schema.cabinets).where(schema.cabinets.c.id == "sim-1")).one()
            dead = conn.execute(sa.select(sa.func.count()).select_from(schema.dead_letters)).scalar()
        assert seqs == sorted(seqs)
        assert dead == 0
        assert cabinet.skew_flagged
    finally:
        ledger.close()
