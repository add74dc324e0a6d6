"""The sync client: the daemon's subsystem that keeps the ledger and the cloud in step.

Two loops share one HTTPS link: the uplink (session, then the outbox in batches) and the downlink
(changes long-polled into the replicas, then remote commands run through the controller). Each has
its own full-jitter backoff; either can fail without stopping the other, and neither stops the
cabinet: renting and returning work offline, and the client only reports what it could not do.

The daemon builds it with the config, the ledger (or a callable that returns the open ledger) and
the controller's command executor, then runs it like any other subsystem:

    sync = CloudSync(config, lambda: ledger_service.ledger, controller.execute_command)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import httpx

from cabinetd import __version__
from cabinetd.config import CabinetConfig
from cabinetd.ledger.ledger import Ledger
from cabinetd.lifecycle import Subsystem
from cabinetd.sync import downlink
from cabinetd.sync.errors import SyncError
from cabinetd.sync.link import CloudLink, CloudRefusal, read_token
from cabinetd.sync.pacing import Backoff, Pacing
from cabinetd.sync.remote import CommandExecutor, CommandRunner
from cabinetd.sync.uplink import Forked, UpgradeRequired, Uplink

log = logging.getLogger(__name__)

State = Literal["disabled", "starting", "online", "offline", "fork", "upgrade_required"]


@dataclass(frozen=True)
class SyncStatus:
    """What the kiosk and `cabinetctl sync status` show."""

    state: State
    online: bool
    last_success_at: datetime | None
    pending_events: int
    last_error: str | None
    clock_skew_s: float | None
    skew_flagged: bool
    epoch: str | None
    acked_seq: int
    dead_lettered: int
    batch_limit: int


class CloudSync(Subsystem):
    name = "sync"
    # No watchdog: a cloud that cannot be reached must never get the cabinet restarted (a restart
    # locks doors mid-rental); the client's health is in status() instead.
    stall_after_s = None

    def __init__(
        self,
        config: CabinetConfig,
        ledger: Ledger | Callable[[], Ledger],
        execute: CommandExecutor,
        *,
        pacing: Pacing | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        rng: random.Random | None = None,
        software_version: str = __version__,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.config = config
        self._ledger_source = ledger
        self._execute = execute
        self.pacing = pacing or Pacing()
        self._transport = transport
        self._rng = rng or random.Random()
        self._software_version = software_version
        self._clock = clock
        self._monotonic = monotonic
        self._ledger: Ledger | None = None
        self._link: CloudLink | None = None
        self._uplink: Uplink | None = None
        self._commands: CommandRunner | None = None
        self._up_backoff = Backoff(self.pacing, self._rng)
        self._down_backoff = Backoff(self.pacing, self._rng)
        self._wake_up = asyncio.Event()
        self._wake_down = asyncio.Event()
        # Roster refreshes asked for (an unknown badge), each answered once a pull has been tried.
        self._roster_waiters: list[asyncio.Future[bool]] = []
        self._refresh = asyncio.Event()
        self._state: State = "disabled" if config.cloud.url is None else "starting"
        self._online = False
        self._last_success_at: datetime | None = None
        self._last_error: str | None = None

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            source = self._ledger_source
            self._ledger = source if isinstance(source, Ledger) else source()
        return self._ledger

    # --- what the rest of the daemon calls ------------------------------------------------------

    def status(self) -> SyncStatus:
        uplink = None if self._uplink is None else self._uplink.state
        ledger_state = self.ledger.sync_state() if self._ledger is not None else None
        skew = None if uplink is None else uplink.skew_s
        return SyncStatus(
            state=self._state,
            online=self._online,
            last_success_at=self._last_success_at,
            pending_events=0 if ledger_state is None else ledger_state.pending,
            last_error=self._last_error,
            clock_skew_s=skew,
            skew_flagged=skew is not None and abs(skew) > self.pacing.skew_flag_s,
            epoch=None if ledger_state is None else ledger_state.epoch,
            acked_seq=0 if ledger_state is None else ledger_state.acked_seq,
            dead_lettered=0 if uplink is None else uplink.dead_lettered,
            batch_limit=0 if uplink is None else uplink.batch_limit,
        )

    def wake(self) -> None:
        """Sync now: skip any backoff (a technician's `sync now`, or new events in the outbox)."""
        self._up_backoff.reset()
        self._down_backoff.reset()
        self._wake_up.set()
        self._wake_down.set()

    async def refresh_roster(self) -> bool:
        """Bring the roster down now, cutting short a long poll under way; True once a pull that
        started after this call has reached the cloud, False when it failed (or no cloud is set)."""
        if self.config.cloud.url is None:
            return False
        answered: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._roster_waiters.append(answered)
        self._down_backoff.reset()
        self._refresh.set()
        self._wake_down.set()
        self._wake_up.set()  # ends the first request's spread too: a person is waiting
        return await answered

    def _answer_roster_waiters(self, waiters: list[asyncio.Future[bool]], reached: bool) -> None:
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(reached)

    def first_request_delay(self) -> float:
        """The wait before the first request: spread over `first_request_spread_s` so that a fleet
        restarted at once does not reach the cloud in one second, except for a cabinet that has never
        synced or holds no roster, which would refuse every badge until then (docs/sync.md)."""
        ledger = self.ledger
        if ledger.sync_state().downlink_cursor is None or ledger.roster_size() == 0:
            return 0.0
        return self._rng.uniform(0, self.pacing.first_request_spread_s)

    # --- life cycle -----------------------------------------------------------------------------

    async def prepare(self) -> None:
        # Nothing here may fail the daemon: a cabinet without its token still rents offline.
        if self.config.cloud.url is None:
            log.info("no cloud.url configured: the cabinet runs without sync")

    async def run(self) -> None:
        url = self.config.cloud.url
        if url is None:
            await asyncio.Event().wait()
            return
        await self._pause(self.first_request_delay(), self._wake_up)
        async with asyncio.TaskGroup() as group:
            group.create_task(self._uplink_loop(), name="sync-uplink")
            group.create_task(self._downlink_loop(), name="sync-downlink")

    async def cleanup(self) -> None:
        if self._link is not None:
            await self._link.close()
            self._link = None

    # --- the loops ------------------------------------------------------------------------------

    def _ensure_link(self) -> CloudLink:
        if self._link is None:
            cloud = self.config.cloud
            token = read_token(cloud.token_file)
            self._link = CloudLink(
                str(cloud.url),
                self.config.cabinet.id,
                token,
                ca_bundle=cloud.ca_bundle,
                timeout_s=self.pacing.request_timeout_s,
                transport=self._transport,
            )
        if self._uplink is None:
            self._uplink = Uplink(
                self._link, self.ledger, self.pacing, self._software_version, self._clock, self._monotonic
            )
        self._uplink.link = self._link
        return self._link

    def _succeeded(self) -> None:
        self._online = True
        self._state = "online"
        self._last_success_at = self._clock()
        self._last_error = None

    async def _failed(self, exc: SyncError, backoff: Backoff, wake: asyncio.Event) -> None:
        retry_after = exc.retry_after_s if isinstance(exc, CloudRefusal) else None
        if isinstance(exc, CloudRefusal) and exc.status == 401 and self._link is not None:
            # Read the token file again next time: the operator may have rotated it.
            await self._link.close()
            self._link = None
        self._online = False
        self._last_error = str(exc)
        if isinstance(exc, UpgradeRequired):
            self._state = "upgrade_required"
            delay = self.pacing.backoff_cap_s
        else:
            self._state = "fork" if isinstance(exc, Forked) else "offline"
            delay = backoff.next_delay(retry_after)
        log.warning("sync: %s; retrying in %.2f s", exc, delay)
        await self._pause(delay, wake)

    async def _pause(self, seconds: float, wake: asyncio.Event) -> None:
        """Wait `seconds` or until woken, ticking so that status shows the loop alive."""
        wake.clear()
        deadline = self._monotonic() + seconds
        while not wake.is_set():
            left = deadline - self._monotonic()
            if left <= 0:
                return
            self.tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), min(left, 1.0))

    async def _uplink_loop(self) -> None:
        while True:
            try:
                self._ensure_link()
                uplink = self._uplink
                assert uplink is not None
                opened = not uplink.in_session
                if opened:
                    await uplink.open_session()
                sent = await uplink.push()
            except SyncError as exc:
                await self._failed(exc, self._up_backoff, self._wake_up)
                continue
            self._up_backoff.reset()
            if opened or sent is not None:
                self._succeeded()  # only a request that was answered says the cloud is there
            self.tick()
            if sent is None:
                await self._pause(self.pacing.outbox_poll_s, self._wake_up)

    async def _downlink_loop(self) -> None:
        while True:
            started = self._monotonic()
            # Those who asked for a refresh before this pull started are answered by it.
            waiters, self._roster_waiters = self._roster_waiters, []
            quick = bool(waiters)
            self._refresh.clear()
            try:
                link = self._ensure_link()
                pulled = await self._pull(link, 0.0 if quick else self.pacing.long_poll_s, cut_short=not quick)
                if pulled is None:  # a refresh was asked for during a long poll: start again at once
                    self._roster_waiters[:0] = waiters
                    continue
                self._answer_roster_waiters(waiters, True)
                changed = pulled
                ran = await self._run_commands(link)
            except SyncError as exc:
                self._answer_roster_waiters(waiters, False)
                await self._failed(exc, self._down_backoff, self._wake_down)
                continue
            self._down_backoff.reset()
            self._succeeded()
            if ran:
                self._wake_up.set()
            quiet = not changed and not ran and not self._roster_waiters
            if quiet and self._monotonic() - started < self.pacing.outbox_poll_s:
                # The cloud answered at once with nothing new: do not spin on it.
                await self._pause(self.pacing.outbox_poll_s, self._wake_down)

    async def _pull(self, link: CloudLink, wait_s: float, *, cut_short: bool) -> int | None:
        """One downlink pull (rows changed); None when a roster refresh cut a long poll short. Cutting
        it is safe: nothing is applied until the cloud's pages are complete."""
        cursor = self.ledger.sync_state().downlink_cursor
        pulling = asyncio.ensure_future(downlink.pull(link, self.ledger, cursor, wait_s))
        if not cut_short:
            return await pulling
        asked = asyncio.ensure_future(self._refresh.wait())
        try:
            await asyncio.wait({pulling, asked}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            asked.cancel()
            if not pulling.done():
                pulling.cancel()
                await asyncio.gather(pulling, return_exceptions=True)
        return None if pulling.cancelled() else pulling.result()

    async def _run_commands(self, link: CloudLink) -> int:
        uplink = self._uplink
        if uplink is None or uplink.state.skew_s is None:
            return 0  # expiry is judged by the cloud's clock, known only after a session
        if self._commands is None:
            self._commands = CommandRunner(self.ledger, self._execute, uplink.cloud_now, self.pacing.command_timeout_s)
        return await self._commands.handle(await link.commands(self._commands.after))
