"""The package cache's subsystem: keeps `adb.packages` holding what the work types need.

At start it reads every file the cache holds again (removing one that is not what its name says).
Then, whenever the work type replicas change (and every `look_s` to find out), it removes the files
no work type needs and stray `.part` files, and downloads the packages that are needed and missing,
one at a time, under the retry rule of retry.py. Downloads need the cloud; the cache and the
provisioning from it do not, so a cabinet offline provisions from what it holds.

The event loop owns the state (what is held, the failures); hashing, APK parsing, fsync and renames
run in a worker thread. Cached, refused and removed files are ledger events.
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
from pathlib import Path
from typing import Any

import httpx

from cabinetd.config import CabinetConfig
from cabinetd.ledger import Ledger, LedgerError
from cabinetd.lifecycle import Subsystem
from cabinetd.packages import download
from cabinetd.packages.cache import Held, Need, PackageCache, Refusal, Removed, needed
from cabinetd.packages.download import Unreachable
from cabinetd.packages.retry import FetchPacing, Retries

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Lacking:
    need: Need
    reason: str | None  # the last refusal ("sha256", "signer" ...), None if never refused
    detail: str  # what the last failure said
    failed_at: datetime | None
    retry_in_s: float | None


@dataclass(frozen=True)
class CacheReport:
    """What `cabinetctl packages` shows."""

    directory: str
    downloads: bool  # False without cloud.url: the cache keeps what it holds and fetches nothing
    held: list[tuple[Held, tuple[str, ...]]]  # each file and the work types that need it
    lacking: list[Lacking]
    downloading: str | None
    last_error: str | None


class AppPackages(Subsystem):
    name = "packages"
    stall_after_s = None  # a download of tens of megabytes over a store's line is its normal state

    def __init__(
        self,
        config: CabinetConfig,
        ledger: Callable[[], Ledger],
        *,
        pacing: FetchPacing | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        rng: random.Random | None = None,
        directory: Path | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__()
        self.config = config
        # The adb link's package directory (the simulated cabinet keeps its own in its state directory).
        self.cache = PackageCache(config.adb.packages if directory is None else directory)
        self.pacing = pacing or FetchPacing()
        self._ledger = ledger
        self._transport = transport
        self.retries = Retries(self.pacing, rng or random.Random())
        self._monotonic = monotonic
        self._clock = clock
        self.held: dict[str, Held] = {}
        self.needed: dict[str, Need] = {}
        self.downloading: str | None = None
        self.last_error: str | None = None  # why the cache could not do its work at all
        self._opened = False
        self._seen_changes = -1
        self._wake = asyncio.Event()

    # --- what the rest of the daemon calls ------------------------------------------------------

    def wake(self) -> None:
        """Look now, and ask the cloud again for every missing package (a technician's `sync now`)."""
        self.retries.now()
        self._wake.set()

    def report(self) -> CacheReport:
        now = self._monotonic()
        held = [(h, self._needed_by(sha)) for sha, h in sorted(self.held.items(), key=lambda i: i[1].package or "")]
        lacking = []
        for sha, need in sorted(self.needed.items(), key=lambda item: item[1].package):
            if sha in self.held:
                continue
            tries = self.retries.tries.get(sha)
            wait = None if tries is None else max(0.0, tries.not_before - now)
            reason = None if tries is None else tries.reason
            detail, at = ("", None) if tries is None else (tries.detail, tries.at)
            lacking.append(Lacking(need, reason, detail, at, wait))
        downloads = self.config.cloud.url is not None
        return CacheReport(str(self.cache.directory), downloads, held, lacking, self.downloading, self.last_error)

    def _needed_by(self, sha256: str) -> tuple[str, ...]:
        need = self.needed.get(sha256)
        return () if need is None else need.work_types

    # --- life cycle -----------------------------------------------------------------------------

    async def prepare(self) -> None:
        # Nothing here may fail the daemon: a cabinet whose cache cannot be read still rents.
        await self._open()

    async def _open(self) -> bool:
        if self._opened:
            return True
        try:
            await asyncio.to_thread(self.cache.open)
            self.held, removed = await asyncio.to_thread(self.cache.survey)
        except OSError as exc:
            self._trouble(f"package cache {self.cache.directory}: {exc.strerror}")
            return False
        self._opened = True
        self.last_error = None
        for gone in removed:
            self._record_removed(gone)
        log.info("package cache %s holds %d packages", self.cache.directory, len(self.held))
        return True

    async def run(self) -> None:
        while True:
            self.tick()
            try:
                await self.step()
            except (LedgerError, OSError) as exc:
                # The cabinet goes on renting from what the cache holds; the next look tries again.
                self._trouble(f"package cache {self.cache.directory}: {exc}")
            await self._pause()

    async def step(self) -> None:
        """One look: the work types again if they changed, then the collection and the downloads due."""
        ledger = self._ledger()
        if ledger.replica_changes != self._seen_changes:
            self._seen_changes = ledger.replica_changes
            self._look(ledger)
        if not await self._open():
            return  # what is lacking is still shown: `cabinetctl packages` says why
        await self._collect()
        await self._fetch_due()

    async def cleanup(self) -> None:
        """Nothing held open: a download cut by the stop leaves a `.part`, removed at the next look."""

    async def _pause(self) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self.pacing.look_s)

    def _trouble(self, message: str) -> None:
        if message != self.last_error:
            log.error("%s", message)
        self.last_error = message

    # --- the work ---------------------------------------------------------------------------------

    def _look(self, ledger: Ledger) -> None:
        self.needed = needed(ledger.work_types())
        self.retries.keep_only(set(self.needed))

    async def _collect(self) -> None:
        """Remove what no work type needs. Not while the cabinet holds no work types at all (never
        synced, or a replica being rebuilt): with nothing to judge by, a technician's files stay."""
        if not self.needed:
            return
        for sha, held in list(self.held.items()):
            if sha in self.needed:
                continue
            try:
                gone = await asyncio.to_thread(self.cache.remove, sha, held.package, "unneeded")
            except OSError as exc:
                self._trouble(f"package cache: cannot remove {self.cache.path(sha)}: {exc.strerror}")
                continue
            del self.held[sha]
            self._record_removed(gone)
        for part in await asyncio.to_thread(self.cache.stray_parts, self.downloading):
            log.info("package cache: removed %s, left by a download that did not finish", part)

    async def _fetch_due(self) -> None:
        due = [
            need
            for sha, need in sorted(self.needed.items(), key=lambda item: item[1].package)
            if sha not in self.held and self.retries.due(sha, self._monotonic())
        ]
        if not due or self.config.cloud.url is None:
            return
        try:
            http = download.client(self.config, self._transport, self.pacing.request_timeout_s)
        except Unreachable as exc:
            for need in due:
                self._failed(need, str(exc), None)
            return
        async with http:
            for at, need in enumerate(due):
                unreachable = await self._fetch(http, need)
                if unreachable is not None:
                    # The others would fail the same way: they wait as if they had been asked.
                    for other in due[at + 1 :]:
                        self._failed(other, str(unreachable), None, unreachable.retry_after_s)
                    return

    async def _fetch(self, http: httpx.AsyncClient, need: Need) -> Unreachable | None:
        """One package; what went wrong when the cloud could not be reached."""
        self.downloading = need.sha256
        part = self.cache.part(need.sha256)
        try:
            await download.fetch(http, need, part)
            held = await asyncio.to_thread(self.cache.admit, need)
        except Unreachable as exc:
            self._failed(need, str(exc), None, exc.retry_after_s)
            return exc
        except Refusal as refusal:
            self._refused(need, refusal)
            return None
        except OSError as exc:
            self._failed(need, f"package cache: {exc.filename or self.cache.directory}: {exc.strerror}", None)
            return None
        finally:
            self.downloading = None
            await asyncio.to_thread(part.unlink, missing_ok=True)
        self.held[need.sha256] = held
        self.retries.succeeded(need.sha256)
        log.info("package cache: %s cached (%d bytes)", need.what, held.size)
        self._record(
            "app_package_cached",
            {
                "package": need.package,
                "version_code": held.version_code,
                "sha256": held.sha256,
                "size": held.size,
                "signer_sha256": held.signer_sha256,
                "work_types": list(need.work_types),
            },
        )
        return None

    def _failed(self, need: Need, detail: str, reason: Any, retry_after_s: float | None = None) -> None:
        wait = self.retries.failed(need.sha256, self._monotonic(), self._clock(), detail, reason, retry_after_s)
        log.warning("package cache: %s not fetched: %s; again in %.0f s", need.what, detail, wait)

    def _refused(self, need: Need, refusal: Refusal) -> None:
        self._failed(need, refusal.detail, refusal.reason)
        detail = refusal.detail if len(refusal.detail) <= 500 else refusal.detail[:499] + "…"
        payload: dict[str, Any] = {"package": need.package, "sha256": need.sha256, "reason": refusal.reason}
        payload["detail"] = detail
        if need.version_code is not None:
            payload["version_code"] = need.version_code
        self._record("app_package_refused", payload)

    def _record_removed(self, gone: Removed) -> None:
        log.info("package cache: removed %s (%s, %s)", self.cache.path(gone.sha256), gone.package, gone.reason)
        payload = {"sha256": gone.sha256, "package": gone.package, "size": gone.size, "reason": gone.reason}
        self._record("app_package_removed", payload)

    def _record(self, event_type: str, payload: dict[str, Any]) -> None:
        try:
            self._ledger().append(event_type, payload)
        except LedgerError as exc:
            # The cache is right either way; the ledger's own trouble is reported by the ledger.
            log.error("package cache: %s not recorded: %s", event_type, exc)
