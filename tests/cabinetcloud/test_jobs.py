"""Background jobs: one shared schedule, one process at a time, woken after an ingest, stopped cleanly."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from cabinetcloud import schema
from cabinetcloud.app import create_app
from cabinetcloud.jobs import Job, register, run_job
from cabinetcloud.storage import Storage
from cabinetd.ledger import Ledger
from testbed import cloudharness
from tests.cabinetcloud.test_ingest import session, upload

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
WAIT_S = 20.0  # a bound for what happens at once, far above it: a hang fails, a slow machine does not


class Counted:
    """A job's function that counts its runs and, while `hold` is clear, waits inside its run."""

    def __init__(self, returns: list[int] | None = None) -> None:
        self.runs: list[datetime] = []
        self.returns = list(returns or [])
        self.ran = threading.Semaphore(0)
        self.inside = threading.Event()
        self.hold = threading.Event()
        self.hold.set()

    def __call__(self, _storage: Storage, now: datetime) -> int:
        self.runs.append(now)
        self.inside.set()
        assert self.hold.wait(WAIT_S)
        self.ran.release()
        return self.returns.pop(0) if self.returns else 0

    def wait_runs(self, count: int) -> None:
        for _ in range(count):
            assert self.ran.acquire(timeout=WAIT_S), f"job ran {len(self.runs)} times, not {count}"


def test_ok__a_job_runs_when_due_and_its_schedule_is_kept_in_the_database(storage: Storage) -> None:
    counted = Counted(returns=[3])
    job = Job("tidy", 30.0, counted)
    register(storage, [job], T0)
    assert run_job(storage, job, T0) == 3
    assert run_job(storage, job, T0 + timedelta(seconds=29)) is None  # any process: not due yet
    assert run_job(storage, job, T0 + timedelta(seconds=29), at_once=True) == 0
    assert run_job(storage, job, T0 + timedelta(seconds=60)) == 0
    assert counted.runs == [T0, T0 + timedelta(seconds=29), T0 + timedelta(seconds=60)]
    with storage.reading() as conn:
        row = conn.execute(sa.select(schema.background_jobs)).one()
    assert (row.name, row.due_at, row.last_run_at, row.last_count) == (
        "tidy",
        T0 + timedelta(seconds=90),
        T0 + timedelta(seconds=60),
        0,
    )
    register(storage, [job], T0 + timedelta(hours=1))  # a process starting later keeps the schedule
    assert run_job(storage, job, T0 + timedelta(seconds=61)) is None


def test_ok__a_job_not_registered_does_not_run(storage: Storage) -> None:
    counted = Counted()
    assert run_job(storage, Job("nobody", 1.0, counted), T0, at_once=True) is None
    assert counted.runs == []


def test_ok__a_job_that_claims_its_own_work_runs_in_every_round_and_keeps_no_row(storage: Storage) -> None:
    counted = Counted(returns=[4])
    job = Job("projector", 30.0, counted, parallel=True)
    assert [run_job(storage, job, T0), run_job(storage, job, T0)] == [4, 0]
    with storage.reading() as conn:
        assert conn.execute(sa.select(schema.background_jobs)).all() == []


@pytest.mark.slow
def test_ok__a_job_another_process_runs_is_skipped_not_waited_for(postgres: cloudharness.PostgresCluster) -> None:
    url = postgres.new_database()
    storage = cloudharness.migrated(url)
    other = Storage(url)  # a second pool: another process's connections
    try:
        counted = Counted()
        job = Job("tidy", 30.0, counted)
        register(storage, [job], T0)
        counted.hold.clear()
        first = threading.Thread(target=run_job, args=(storage, job, T0))
        first.start()
        assert counted.inside.wait(WAIT_S)
        assert run_job(other, job, T0, at_once=True) is None  # held: skipped at once
        counted.hold.set()
        first.join(WAIT_S)
        assert run_job(other, job, T0 + timedelta(seconds=1)) is None  # the first run moved the due time
        assert run_job(other, job, T0 + timedelta(seconds=1), at_once=True) == 0
        assert len(counted.runs) == 2
    finally:
        other.dispose()
        storage.dispose()


@pytest.fixture
def jobs_cloud(sqlite_storage: Storage) -> Iterator[tuple[TestClient, Counted, Counted]]:
    cloudharness.seeded(sqlite_storage)
    token = cloudharness.enroll(sqlite_storage)
    projector, hourly = Counted(), Counted()
    jobs = [Job("projector", 3600.0, projector, after_ingest=True), Job("hourly", 3600.0, hourly)]
    app = create_app(sqlite_storage, max_wait_s=0.2, poll_s=0.05, run_jobs=True, jobs=jobs)
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        yield client, projector, hourly


def test_ok__an_ingest_wakes_the_jobs_that_follow_it_and_only_those(
    jobs_cloud: tuple[TestClient, Counted, Counted], ledger: Ledger
) -> None:
    client, projector, hourly = jobs_cloud
    projector.wait_runs(1)  # at start: whatever waited while no process ran
    hourly.wait_runs(1)
    cloudharness.fill_ledger(ledger, 3)
    session(client, ledger)
    reply = upload(client, cloudharness.wire_events(ledger))
    assert reply.status_code == 200, reply.text
    projector.wait_runs(1)  # long before its hour
    assert (len(projector.runs), len(hourly.runs)) == (2, 1)


def test_ok__a_job_that_found_work_runs_again_until_it_finds_none(sqlite_storage: Storage) -> None:
    counted = Counted(returns=[50, 50, 7])
    app = create_app(sqlite_storage, run_jobs=True, jobs=[Job("projector", 3600.0, counted)])
    with TestClient(app):
        counted.wait_runs(4)
    assert len(counted.runs) == 4


def test_ok__a_failing_job_is_logged_and_the_loop_goes_on(
    sqlite_storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_storage: Storage, _now: datetime) -> int:
        raise RuntimeError("the repair service's table is gone")

    counted = Counted()
    jobs = [Job("broken", 3600.0, broken), Job("projector", 3600.0, counted)]
    with TestClient(create_app(sqlite_storage, run_jobs=True, jobs=jobs)):
        counted.wait_runs(1)
    assert "background job broken failed" in caplog.messages


def test_ok__shutdown_lets_the_run_in_progress_finish_then_stops_the_loop(sqlite_storage: Storage) -> None:
    counted = Counted()
    counted.hold.clear()
    app = create_app(sqlite_storage, run_jobs=True, jobs=[Job("projector", 0.01, counted)])
    client = TestClient(app)
    client.__enter__()
    assert counted.inside.wait(WAIT_S)
    threading.Timer(0.2, counted.hold.set).start()
    client.__exit__(None, None, None)  # returns only once the held run has finished
    assert counted.ran.acquire(blocking=False)
    with sqlite_storage.reading() as conn:
        assert conn.execute(sa.select(schema.background_jobs.c.last_count)).scalar() == 0
    runs = len(counted.runs)
    threading.Event().wait(0.1)
    assert len(counted.runs) == runs


def test_ok__a_serving_app_sends_what_the_outbox_holds_without_being_asked(sqlite_storage: Storage) -> None:
    # The registered jobs, as `serve` runs them: the delivery worker among them.
    from testbed.receivers import webhook_receiver
    from tests.cabinetcloud.test_outbox import make_store, make_webhook, publish_one

    make_store(sqlite_storage)
    with webhook_receiver() as receiver:
        make_webhook(sqlite_storage, receiver.url)
        with TestClient(create_app(sqlite_storage, run_jobs=True)):
            publish_one(sqlite_storage, "t-1")
            for _ in range(int(WAIT_S / 0.05)):
                if receiver.accepted:
                    break
                time.sleep(0.05)
        assert [payload["data"] for payload in receiver.accepted.values()] == [{"ticket_id": "t-1"}]
