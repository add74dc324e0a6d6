"""The cloud's HTTP API (FastAPI): the sync endpoints every cabinet talks to.

Every `/v1/cabinets/{cabinet_id}/...` request carries the cabinet's own token; a token used on
another cabinet's path gets 403, a missing or unknown one 401. Request bodies may be gzip-compressed
(`Content-Encoding: gzip`) and are read within the limits of bodies.py; every refusal has the one
shape of replies.py.
"""

import asyncio
import json
import logging
import os
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from types import FrameType
from typing import Annotated

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import Depends, FastAPI, Path, Query, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool

from cabinetcloud import admin, auth, commands, dashboard, fleet, ingest, operators, repair_api, replies
from cabinetcloud.apppackages import download as app_package_download
from cabinetcloud.auth import Caller
from cabinetcloud.bodies import BodyLimitedRoute
from cabinetcloud.jobs import JOBS, Job, JobLoop
from cabinetcloud.releases import download as release_download
from cabinetcloud.releases.keys import RELEASE_KEY_ENV, fleet_key
from cabinetcloud.replies import Refusal, refusals
from cabinetcloud.storage import Storage
from cabinetproto import __version__
from cabinetproto.wire import (
    MAX_PAGE_OPS,
    MAX_WAIT_S,
    BatchReply,
    ChangesPage,
    Command,
    EventBatch,
    HistoryPage,
    SessionReply,
    SessionRequest,
    Snapshot,
)

log = logging.getLogger(__name__)

CabinetId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
Clock = Callable[[], datetime]


class HeadWatch:
    """The newest change and command numbers, read at most once per interval for all long-polls."""

    def __init__(self, storage: Storage, every_s: float) -> None:
        self.storage = storage
        self.every_s = every_s
        self._read_at = float("-inf")
        self._heads = (0, 0)

    def _read(self) -> tuple[int, int]:
        with self.storage.reading() as conn:
            return fleet.head(conn), commands.head(conn)

    async def heads(self) -> tuple[int, int]:
        if time.monotonic() - self._read_at >= self.every_s:
            self._heads = await run_in_threadpool(self._read)
            self._read_at = time.monotonic()
        return self._heads


class ChangesPoll:
    """A changes request: the page after the cursor at once when it has changes, a command waits for
    the cabinet or it asked not to wait; otherwise held open until a change or a new command comes,
    the wait ends or the cabinet hangs up."""

    def __init__(self, storage: Storage, *, max_wait_s: float, poll_s: float) -> None:
        self.storage = storage
        self.max_wait_s = max_wait_s
        self.poll_s = poll_s
        self.watch = HeadWatch(storage, poll_s)
        # Set when the server begins to shut down: a held poll answers its page at the next tick rather
        # than be cut off at the end of the graceful shutdown, which the cabinet would see as a 500.
        self.stopping = False

    def _read(self, start: int, store: str) -> ChangesPage:
        with self.storage.reading() as conn:
            try:
                return fleet.changes_after(conn, start, MAX_PAGE_OPS, store)
            except fleet.CursorGone as exc:
                raise Refusal(410, "cursor_gone", f"{exc}: fetch the snapshot") from None

    def _has_commands(self, cabinet_id: str) -> bool:
        with self.storage.reading() as conn:
            return commands.undelivered(conn, cabinet_id)

    async def page(self, request: Request, who: Caller, start: int, wait: float) -> ChangesPage:
        deadline = time.monotonic() + min(wait, self.max_wait_s)
        page = await run_in_threadpool(self._read, start, who.store)
        if page.ops or time.monotonic() >= deadline or await run_in_threadpool(self._has_commands, who.cabinet_id):
            return page
        _, commands_seen = await self.watch.heads()
        while time.monotonic() < deadline:
            await asyncio.sleep(max(0.0, min(self.poll_s, deadline - time.monotonic())))
            if self.stopping:
                return page
            if await request.is_disconnected():
                # The cabinet hung up (stopped, or gave up): nobody is left to answer, so stop waiting
                # rather than hold the poll open until its deadline (and a shutdown behind it).
                return page
            changes_head, commands_head = await self.watch.heads()
            if changes_head > start:
                return await run_in_threadpool(self._read, start, who.store)
            if commands_head != commands_seen:
                commands_seen = commands_head
                if await run_in_threadpool(self._has_commands, who.cabinet_id):
                    break
        return page


def _end_polls_on_signal(poll: ChangesPoll) -> None:
    """Mark held polls to answer at their next tick when the server is told to stop (SIGTERM, SIGINT),
    then pass the signal on to the server's own handler. Only where signals can be caught: the main
    thread of a served process, not a test's client thread."""
    if threading.current_thread() is not threading.main_thread():
        return
    for number in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(number)
        if not callable(previous):
            continue

        def stop(
            sig: int, frame: FrameType | None, previous: Callable[[int, FrameType | None], object] = previous
        ) -> None:
            poll.stopping = True
            previous(sig, frame)

        signal.signal(number, stop)


_bearer = HTTPBearer(auto_error=False, description="The cabinet's own token, issued at enrolment.")


def _caller(
    request: Request,
    cabinet_id: CabinetId,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """The cabinet whose token the request carries, which must be the cabinet on its path."""
    storage: Storage = request.app.state.storage
    header = None if credentials is None else f"{credentials.scheme} {credentials.credentials}"
    with storage.reading() as conn:
        found = auth.authenticate(conn, header)
    if found is None:
        if credentials is not None and operators.is_operator_token_of(storage, credentials.credentials.strip()):
            raise Refusal(403, "forbidden", "an operator's token is not accepted on cabinet routes")
        raise Refusal(401, "unauthorized", "missing or unknown cabinet token", headers={"WWW-Authenticate": "Bearer"})
    if found.cabinet_id != cabinet_id:
        log.warning("token of cabinet %s used for cabinet %s", found.cabinet_id, cabinet_id)
        raise Refusal(403, "forbidden", f"this token does not belong to cabinet {cabinet_id!r}")
    return found


Authenticated = Annotated[Caller, Depends(_caller)]


def create_app(
    storage: Storage,
    *,
    max_wait_s: float = MAX_WAIT_S,
    poll_s: float = 1.0,
    clock: Clock | None = None,
    run_jobs: bool = False,
    jobs: Sequence[Job] = JOBS,
    release_key: Ed25519PublicKey | None = None,
) -> FastAPI:
    """The app over `storage`. With `run_jobs`, its lifespan runs the background jobs (jobs.py), as
    every `cabinet-cloud serve` process does; tests ask for them when they test them. `release_key` is
    the fleet's release public key: without it, release uploads are refused (docs/releases.md)."""
    now: Clock = clock or (lambda: datetime.now(UTC))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _end_polls_on_signal(app.state.changes_poll)
        background: JobLoop | None = app.state.jobs
        if background is not None:
            background.start()
        try:
            yield
        finally:
            if background is not None:
                await background.stop()

    # Swagger UI and ReDoc from assets packaged with fastapi-offline: no CDN, so /docs works offline.
    app = FastAPIOffline(
        title="cabinet-cloud",
        version=__version__,
        summary="The reference sync endpoint for smart device cabinets.",
        lifespan=lifespan,
    )
    app.router.route_class = BodyLimitedRoute
    app.state.storage = storage
    app.state.clock = now
    app.state.release_key = release_key
    app.state.jobs = JobLoop(storage, jobs, now) if run_jobs else None
    replies.install(app)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        # The operators' front page; the API's own documentation stays at /docs (docs/fleet.md).
        return RedirectResponse("/dashboard", status_code=307)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    _add_event_routes(app, storage, now, app.state.jobs)
    app.state.changes_poll = ChangesPoll(storage, max_wait_s=max_wait_s, poll_s=poll_s)
    _add_fleet_routes(app, storage, now, app.state.changes_poll)
    admin.install(app)
    app.include_router(repair_api.router)
    app.include_router(release_download.router)
    app.include_router(app_package_download.router)
    dashboard.install(app)
    return app


def _add_event_routes(app: FastAPI, storage: Storage, now: Clock, background: JobLoop | None) -> None:
    """The uplink: a session opened, the cabinet's events taken in, and read back after a fork."""

    @app.post("/v1/cabinets/{cabinet_id}/session", responses=refusals(400, 401, 403, 413, 415))
    def session(cabinet_id: CabinetId, request: SessionRequest, who: Authenticated) -> SessionReply:
        return ingest.open_session(storage, who, request, now())

    @app.post("/v1/cabinets/{cabinet_id}/events", responses=refusals(400, 401, 403, 409, 413, 415))
    def upload(cabinet_id: CabinetId, batch: EventBatch, who: Authenticated) -> BatchReply:
        shape = ingest.batch_shape_error(batch)
        if shape:
            raise Refusal(400, "bad_batch", shape)
        result = ingest.ingest_batch(storage, who, batch, now())
        if isinstance(result, ingest.SeqConflict):
            raise Refusal(409, result.code, result.detail, expected_seq=result.expected_seq)
        if background is not None:
            background.wake_after_ingest()  # the batch is committed: the projector need not wait its tick
        return result

    @app.get("/v1/cabinets/{cabinet_id}/events", response_model=HistoryPage, responses=refusals(401, 403))
    def fetch_back(
        cabinet_id: CabinetId,
        who: Authenticated,
        epoch: Annotated[str, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")],
        after: Annotated[int, Query(ge=0, le=2**52)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    ) -> Response:
        page = ingest.history(storage, who.cabinet_id, epoch, after, limit)
        # Encoded here, not by the model: a dead letter goes back as it came, which may nest deeper
        # than the model's serialiser goes or hold a lone surrogate (as an ASCII escape).
        body = json.dumps(page, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
        return Response(body, media_type="application/json")


def _add_fleet_routes(app: FastAPI, storage: Storage, now: Clock, poll: ChangesPoll) -> None:
    """The downlink: the fleet's changes (long-polled), its snapshot, and the commands for the cabinet."""

    @app.get("/v1/cabinets/{cabinet_id}/changes", responses=refusals(401, 403, 410))
    async def changes(
        request: Request,
        cabinet_id: CabinetId,
        who: Authenticated,
        cursor: Annotated[str, Query(pattern=r"^[0-9]{0,18}$")] = "",
        wait: Annotated[float, Query(ge=0, le=MAX_WAIT_S)] = 0,
    ) -> ChangesPage:
        return await poll.page(request, who, int(cursor or 0), wait)

    @app.get("/v1/cabinets/{cabinet_id}/snapshot", responses=refusals(401, 403))
    def snapshot(cabinet_id: CabinetId, who: Authenticated) -> Snapshot:
        with storage.reading() as conn:
            return fleet.snapshot(conn, who.store)

    @app.get("/v1/cabinets/{cabinet_id}/commands", responses=refusals(401, 403))
    def pending_commands(
        cabinet_id: CabinetId, who: Authenticated, after: Annotated[int, Query(ge=0, le=2**52)] = 0
    ) -> list[Command]:
        with storage.writing() as conn:
            return commands.pending(conn, who.cabinet_id, after, now())


def app_from_environment() -> FastAPI:
    """The app as each `cabinet-cloud serve` process (each uvicorn worker) builds it: the database named
    by CABINET_CLOUD_DB (set by `serve` from its --db), already migrated by `serve`, the release key
    named by CABINET_CLOUD_RELEASE_KEY (checked by `serve` before it started), and the jobs."""
    key = fleet_key(os.environ.get(RELEASE_KEY_ENV) or None)
    return create_app(Storage(os.environ["CABINET_CLOUD_DB"]), run_jobs=True, release_key=key)
