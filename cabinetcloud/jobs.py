"""Background jobs: work the cloud does besides answering requests, in every `cabinet-cloud serve` process.

A job is a name, an interval and a function `fn(storage, now) -> int` that does one round of its work
and says how much it did. Each serve process (each uvicorn worker) runs every registered job, each in
a task of its own. A job that claims its own work items (`parallel`: the projector claims cabinets,
the delivery worker deliveries, FOR UPDATE SKIP LOCKED) runs in every process side by side. Any other
job is claimed whole: its row in `background_jobs` is locked for the length of a run (FOR UPDATE SKIP
LOCKED on PostgreSQL), so it runs in one process at a time, and its due time is shared, so the
fleet's processes keep one schedule between them. SQLite serves one process, in which a job's task
never overlaps itself: that is the claim there.

A round that did something (`fn` returned more than 0) is followed at once by another, until a round
finds nothing left. A job marked `after_ingest` is also run at once when a batch of events has been
committed in this process, rather than at its next tick; when another process holds it then, this one
tries again shortly, since the holder may have started its round before the batch was committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cabinetcloud import projections, schema
from cabinetcloud.outbox import worker as deliveries
from cabinetcloud.storage import Storage

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

# How soon a job woken after an ingest is tried again while another process holds it.
HELD_RETRY_S: Final = 0.05


class Job(NamedTuple):
    name: str
    every_s: float
    fn: Callable[[Storage, datetime], int]
    # Run at once when a batch of events commits in this process, not only every `every_s`.
    after_ingest: bool = False
    # The job claims its own work (rows taken FOR UPDATE SKIP LOCKED, as the projector takes cabinets
    # and the delivery worker deliveries): every process runs it side by side, each on other rows,
    # on a schedule of its own. Otherwise the job's row is the claim, and one process runs it at a time.
    parallel: bool = False


# The jobs every serve process runs, each claiming its own rows. The projector folds newly ingested
# events into the views' tables (docs/fleet-views.md), cabinet epoch by cabinet epoch. Deliveries are
# written in the transaction of their cause (an ingested event above all), so a batch wakes the
# delivery worker too; its wait for a receiver is outside any transaction (docs/webhooks.md).
JOBS: Final[tuple[Job, ...]] = (
    Job("projections", 0.5, projections.run_once, after_ingest=True, parallel=True),
    Job("deliveries", 1.0, deliveries.run_once, after_ingest=True, parallel=True),
)


def register(storage: Storage, jobs: Sequence[Job], now: datetime) -> None:
    """Give each job its row, due at once; a job already known keeps its schedule."""
    if not jobs:
        return
    with storage.writing() as conn:
        conn.execute(
            storage.insert_ignoring_duplicates(schema.background_jobs),
            [{"name": job.name, "due_at": now} for job in jobs],
        )


def _query(job: Job) -> sa.Select[Any]:
    return sa.select(schema.background_jobs.c.due_at).where(schema.background_jobs.c.name == job.name)


def _record(conn: Connection, job: Job, now: datetime, count: int) -> None:
    conn.execute(
        sa.update(schema.background_jobs)
        .where(schema.background_jobs.c.name == job.name)
        .values(due_at=now + timedelta(seconds=job.every_s), last_run_at=now, last_count=count)
    )


def run_job(storage: Storage, job: Job, now: datetime, *, at_once: bool = False) -> int | None:
    """One run of `job` if it is due (or `at_once`) and no other process holds it: what `fn` returned,
    or None when it did not run."""
    if job.parallel:
        return job.fn(storage, now)
    if storage.dialect == "postgresql":
        # The row stays locked while fn runs on connections of its own, and is released at commit.
        with storage.writing() as conn:
            due = conn.execute(storage.claim(_query(job))).scalar()
            if due is None or (due > now and not at_once):
                return None
            count = job.fn(storage, now)
            _record(conn, job, now, count)
            return count
    # SQLite: one process, whose loop runs one job at a time. A transaction held open here would
    # hold the database's write lock against fn's own writes.
    with storage.reading() as conn:
        due = conn.execute(_query(job)).scalar()
    if due is None or (due > now and not at_once):
        return None
    count = job.fn(storage, now)
    with storage.writing() as conn:
        _record(conn, job, now, count)
    return count


class JobLoop:
    """The jobs of one serve process, each in a task of its own on the process's event loop (a slow
    round of one job, a delivery waiting on a receiver, holds up no other), each round in a thread."""

    def __init__(self, storage: Storage, jobs: Sequence[Job], clock: Clock) -> None:
        self.storage = storage
        self.jobs = tuple(jobs)
        self.clock = clock
        self._stirred = {job.name: asyncio.Event() for job in self.jobs}
        self._at_once: set[str] = set()  # jobs to run at their next round even if not due
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="background jobs")

    async def stop(self) -> None:
        """Let the rounds in progress finish, then end the loop."""
        self._stopping = True
        for stirred in self._stirred.values():
            stirred.set()
        if self._task is not None:
            await self._task

    def wake_after_ingest(self) -> None:
        """Run the `after_ingest` jobs now. Safe from any thread (the routes run in a thread pool)."""
        if self._loop is not None and not self._stopping:
            self._loop.call_soon_threadsafe(self._wake, [job.name for job in self.jobs if job.after_ingest])

    def _wake(self, names: list[str]) -> None:
        for name in names:
            self._at_once.add(name)
            self._stirred[name].set()

    async def _run(self) -> None:
        await asyncio.to_thread(register, self.storage, [job for job in self.jobs if not job.parallel], self.clock())
        await asyncio.gather(*(self._keep(job) for job in self.jobs))

    async def _keep(self, job: Job) -> None:
        stirred = self._stirred[job.name]
        while not self._stopping:
            stirred.clear()
            wait = await self._round(job)
            if wait > 0 and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stirred.wait(), timeout=wait)

    async def _round(self, job: Job) -> float:
        """One round of the job; how long to wait before the next."""
        at_once = job.name in self._at_once
        self._at_once.discard(job.name)
        try:
            count = await asyncio.to_thread(run_job, self.storage, job, self.clock(), at_once=at_once)
        except Exception:
            # A database that went away, or a bug in the job: said in the log, tried again at the next
            # tick; the process keeps serving the cabinets.
            log.exception("background job %s failed", job.name)
            return job.every_s
        if count is None and at_once:
            self._at_once.add(job.name)
            return HELD_RETRY_S
        if count or job.name in self._at_once:
            # More may be waiting, or a batch was committed while this round ran: again, due or not.
            self._at_once.add(job.name)
            return 0.0
        return job.every_s
