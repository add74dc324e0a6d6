"""The outbox across processes: two workers on PostgreSQL share one backlog with nothing sent twice, and a
worker killed with SIGKILL while it sends leaves nothing doubled behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from cabinetcloud import schema
from cabinetcloud.outbox import publish, queue, worker
from cabinetcloud.storage import Storage
from testbed import cloudharness
from testbed.receivers import Reply, webhook_receiver
from tests.cabinetcloud.test_outbox import make_store, make_webhook

ROOT = Path(__file__).resolve().parents[2]


def _worker(url: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "cabinetcloud", "deliveries", "run", "--until-idle", "--db", url]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _backlog(storage: Storage, count: int) -> None:
    now = datetime.now(UTC)
    with storage.writing() as conn:
        for number in range(count):
            publish.publish(storage, conn, "north", "rental.overdue", {"n": number}, f"r{number}", now)


def _statuses(storage: Storage) -> dict[str, int]:
    d = schema.deliveries
    with storage.reading() as conn:
        return dict(conn.execute(sa.select(d.c.status, sa.func.count()).group_by(d.c.status)).all())  # type: ignore[arg-type]


@pytest.mark.slow
def test_two_workers_on_postgresql_deliver_each_of_1000_once(postgres: cloudharness.PostgresCluster) -> None:
    url = postgres.new_database()
    storage = cloudharness.migrated(url)
    try:
        make_store(storage)
        with webhook_receiver() as receiver:
            issued = make_webhook(storage, receiver.url)
            receiver.secret = issued.secret
            _backlog(storage, 1000)
            workers = [_worker(url), _worker(url)]
            outputs = [w.communicate(timeout=120) for w in workers]
        assert [w.returncode for w in workers] == [0, 0], outputs
        made = [int(out.split()[0]) for out, _ in outputs]
        assert sum(made) == 1000, f"none sent twice: {made}"
        assert all(made), f"both workers sent: {made}"
        assert len(receiver.received) == 1000
        assert all(r.verified for r in receiver.received)
        assert len(receiver.accepted) == 1000
        assert _statuses(storage) == {"delivered": 1000}
        with storage.reading() as conn:
            a = schema.delivery_attempts
            assert (
                conn.execute(sa.select(sa.func.count()).select_from(a).where(a.c.outcome == "delivered")).scalar()
                == 1000
            )
            assert conn.execute(sa.select(sa.func.max(a.c.number))).scalar() == 1
    finally:
        storage.dispose()


def test_a_worker_killed_mid_delivery_resumes_without_a_double(storage: Storage) -> None:
    make_store(storage)
    with webhook_receiver(script=[Reply(200, delay_s=3.0)]) as receiver:
        issued = make_webhook(storage, receiver.url)
        receiver.secret = issued.secret
        _backlog(storage, 1)
        sender = _worker(storage.url)
        deadline = time.monotonic() + 30
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.05)
        assert receiver.received, "the worker never reached the receiver"
        os.kill(sender.pid, signal.SIGKILL)
        sender.wait(timeout=10)
        time.sleep(3.2)  # the receiver finishes its slow answer to a sender that is gone
        assert worker.run_once(storage, datetime.now(UTC) + timedelta(seconds=5)) == 0, "still leased"
        assert worker.run_once(storage, datetime.now(UTC) + queue.LEASE + timedelta(seconds=1)) == 1
    with storage.reading() as conn:
        a = schema.delivery_attempts
        outcomes = [row.outcome for row in conn.execute(sa.select(a).order_by(a.c.number))]
    assert outcomes == ["interrupted", "delivered"]
    assert _statuses(storage) == {"delivered": 1}
    ids = {r.headers["webhook-id"] for r in receiver.received}
    assert len(receiver.received) == 2
    assert len(ids) == 1, "tried again with the same webhook-id"
    assert len(receiver.accepted) == 1, "a receiver deduplicating on webhook-id holds it once"
