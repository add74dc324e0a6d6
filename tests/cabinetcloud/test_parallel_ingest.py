"""Cabinets ingest in parallel on PostgreSQL: nothing in a batch's transaction is shared by all cabinets,
not even the numbering of a cabinet's first epoch."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cabinetcloud import ingest
from cabinetcloud.auth import Caller
from cabinetd.ledger import open_ledger
from cabinetproto.wire import BatchReply, EventBatch
from testbed import cloudharness

pytestmark = pytest.mark.slow
NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def test_ok__a_first_batch_does_not_wait_for_another_cabinets_open_one(
    postgres: cloudharness.PostgresCluster, tmp_path: Path
) -> None:
    storage = cloudharness.seeded(cloudharness.migrated(postgres.new_database()))
    for cabinet in ("sim-1", "sim-2"):
        cloudharness.enroll(storage, cabinet)
    ledger = open_ledger(tmp_path / "sim-2", "sim-2")
    cloudharness.fill_ledger(ledger, 3)
    events = cloudharness.wire_events(ledger)
    batch = EventBatch.model_validate({"epoch": events[0]["epoch"], "from_seq": 1, "events": events})
    inside, release = threading.Event(), threading.Event()

    def first_batch_of_sim_1() -> None:
        with storage.writing() as conn:
            ingest._epoch_row(storage, conn, "sim-1", "epoch-a", NOW)
            inside.set()
            assert release.wait(30)

    held = threading.Thread(target=first_batch_of_sim_1)
    held.start()
    try:
        assert inside.wait(30)
        replies: list[object] = []
        other = threading.Thread(
            target=lambda: replies.append(ingest.ingest_batch(storage, Caller("sim-2", "demo"), batch, NOW))
        )
        other.start()
        other.join(30)  # would wait for sim-1's commit if the two shared a lock
        assert [type(reply) for reply in replies] == [BatchReply]
    finally:
        release.set()
        held.join(30)
        ledger.close()
        storage.dispose()
