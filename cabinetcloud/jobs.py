"""Background jobs: work the cloud does besides answering requests, in every `cabinet-cloud serve` process.

A job is a name, an interval and a function `fn(storage, now) -> int` that does one round of its work
and says how much it did. Each serve process (each uvicorn worker) runs the same loop over the
registered jobs; a job's row in `background_jobs` is claimed for the length of a run (FOR UPDATE SKIP
LOCKED on PostgreSQL), so a job runs in one process at a time, and its due time is shared, so the
fleet's processes keep one schedule between them. SQLite serves one process, so there the loop's own
order is the claim.

A run that did something (`fn` returned more than 0) is followed at once by another, until a round
finds nothing left. A job marked `after_ingest` is also run at once when a batch of events has been
committed in this process, rather than at its next tick; when another process holds it then, this one
tries again shortly, since the holder may have started its round before the batch was committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cabinetcloud import schema
from cabinetcloud.storage import Storage

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

# How soon a job woken after an ingest is tried again while another process holds it.
HELD_RETRY_S: Final = 0.05


class Job(NamedTuple):
    name: str
    every_s: float
    fn: Callable[[Storage, datetime], int]
    after_ingest: bool = False


# The jobs every serve process runs. The projector joins as
# Job("projections", 0.5, projections.run_once, after_ingest=True).
JOBS: Final[tuple[Job, ...]] = ()


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
    """The loop one serve process runs over the jobs, on its event loop, each run in a thread."""

    def __init__(self, storage: Storage, jobs: Sequence[Job], clock: Clock) -> None:
        self.storage = storage
        self.jobs = tuple(jobs)
        self.clock = clock
        self._next = {job.name: 0.0 for job in self.jobs}  # monotonic time of each job's next try
        self._at_once: set[str] = set()  # jobs to run at their next try even if not due
        self._stirred = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="background jobs")

    async def stop(self) -> None:
        """Let the run in progress finish, then end the loop."""
        self._stopping = True
        self._stirred.set()
        if self._task is not None:
            await self._task

    def wake_after_ingest(self) -> None:
        """Run the `after_ingest` jobs now. Safe from any thread (the routes run in a thread pool)."""
        if self._loop is not None and not self._stopping:
            self._loop.call_soon_threadsafe(self._wake, [job.name for job in self.jobs if job.after_ingest])

    def _wake(self, names: list[str]) -> None:
        for name in names:
            self._next[name] = 0.0
            self._at_once.add(name)
        self._stirred.set()

    async def _run(self) -> None:
        await asyncio.to_thread(register, self.storage, self.jobs, self.clock())
        while not self._stopping:
            for job in self.jobs:
                if not self._stopping and self._next[job.name] <= time.monotonic():
                    await self._round(job)
            self._stirred.clear()
            wait = min(self._next.values(), default=time.monotonic() + 3600.0) - time.monotonic()
            if wait > 0 and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stirred.wait(), timeout=wait)

    async def _round(self, job: Job) -> None:
        at_once = job.name in self._at_once
        self._at_once.discard(job.name)
        try:
            count = await asyncio.to_thread(run_job, self.storage, job, self.clock(), at_once=at_once)
        except Exception:
            # A database that went away, or a bug in the job: said in the log, tried again at the next
            # tick; the process keeps serving the cabinets.
            log.exception("background job %s failed", job.name)
            count = 0
        if count is None and at_once:
            self._next[job.name] = time.monotonic() + HELD_RETRY_S
            self._at_once.add(job.name)
        elif count or job.name in self._at_once:
            # More may be waiting, or a batch was committed while this round ran.
            self._next[job.name] = 0.0
            self._at_once.add(job.name)
        else:
            self._next[job.name] = time.monotonic() + job.every_s
