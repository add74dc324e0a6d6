"""One offered release from the cloud onto the cabinet's disk, checked: the download's retries and
pauses around `download.fetch`, then the package's checks (package.py) in a worker thread, so that
hashing tens of megabytes and running dpkg-deb never hold up a badge on the loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx

from cabinetd.clock import Clock
from cabinetd.config import CabinetConfig
from cabinetd.sync.errors import SyncError
from cabinetd.sync.link import read_token, tls_context
from cabinetd.updates.download import Cut, NotServed, Short, fetch, size_of
from cabinetd.updates.offer import Offer, Refused
from cabinetd.updates.package import check_package
from cabinetproto.releasesig import ReleaseKeyError, load_public_key

log = logging.getLogger(__name__)

TRIES_WITHOUT_PROGRESS: Final = 6
RETRY_CAP_S: Final = 300.0
IDLE_POLL_S: Final = 5.0
ROOM_TO_SPARE: Final = 16 * 1024 * 1024  # the ledger shares the partition: never fill it to the last byte


@dataclass
class Fetching:
    config: CabinetConfig
    clock: Clock
    idle: Callable[[], bool]  # nobody at the cabinet: the download may go on
    online: Callable[[], bool]  # the sync link reaches the cloud
    transport: httpx.AsyncBaseTransport | None = None
    retry_s: float = 2.0

    @property
    def directory(self) -> Path:
        return self.config.updates.directory

    def files(self, release: str) -> list[Path]:
        deb = self.directory / f"{release}.deb"
        return [deb, deb.with_name(deb.name + ".part"), deb.with_name(deb.name + ".sig")]

    def discard(self, release: str) -> None:
        for path in self.files(release):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    async def take(self, offer: Offer, installed: str) -> str:
        """Download and check the offered release; returns its version, or raises Refused (the files
        are then gone)."""
        try:
            deb = await self._download(offer)
            version = await asyncio.to_thread(self._check, deb, offer, installed)
            sig = deb.with_name(deb.name + ".sig")
            sig.write_bytes(offer.signature_bytes())
        except Refused:
            self.discard(offer.release)
            raise
        except OSError as exc:
            self.discard(offer.release)
            raise Refused(
                "download", f"release {offer.release}: {exc.filename or self.directory}: {exc.strerror}"
            ) from None
        return version

    def _check(self, deb: Path, offer: Offer, installed: str) -> str:
        try:
            key = load_public_key(self.config.updates.release_key)
        except ReleaseKeyError as exc:
            raise Refused("signature", f"release {offer.release}: {exc}") from None
        return check_package(deb, offer, key, installed)

    def _client(self, offer: Offer) -> httpx.AsyncClient:
        cloud = self.config.cloud
        if cloud.url is None:
            raise Refused("download", f"release {offer.release}: no cloud.url in the configuration to download from")
        try:
            token = read_token(cloud.token_file)
            verify = tls_context(cloud.ca_bundle)
        except SyncError as exc:
            raise Refused("download", f"release {offer.release}: {exc}") from None
        return httpx.AsyncClient(
            base_url=str(cloud.url).rstrip("/"),
            headers={"Authorization": f"Bearer {token}", "User-Agent": "cabinetd-update"},
            timeout=httpx.Timeout(30.0, read=60.0),
            verify=verify,
            transport=self.transport,
            follow_redirects=False,
        )

    def _make_room(self, offer: Offer, part: Path) -> None:
        try:
            self.directory.mkdir(mode=0o750, parents=True, exist_ok=True)
            free = shutil.disk_usage(self.directory).free
        except OSError as exc:
            raise Refused(
                "download", f"release {offer.release}: updates directory {self.directory}: {exc.strerror}"
            ) from None
        need = offer.size - size_of(part)
        if free < need + ROOM_TO_SPARE:
            raise Refused(
                "download",
                f"release {offer.release}: {self.directory} has {free} bytes free, the package needs {need} "
                f"and {ROOM_TO_SPARE} more are kept free",
            )

    async def _download(self, offer: Offer) -> Path:
        deb, part, _ = self.files(offer.release)
        self._make_room(offer, part)
        failures = 0
        async with self._client(offer) as client:
            while True:
                await self._wait(self.idle)
                before = size_of(part)
                try:
                    if await fetch(client, offer.release, part, offer.size, self.idle):
                        break
                    continue  # paused for a person at the cabinet
                except Short as exc:
                    raise Refused("truncated", f"release {offer.release}: {exc}") from None
                except NotServed as exc:
                    raise Refused("download", f"release {offer.release}: {exc}") from None
                except Cut as exc:
                    failures = await self._after_cut(offer, part, before, failures, exc)
        part.replace(deb)
        return deb

    async def _after_cut(self, offer: Offer, part: Path, before: int, failures: int, exc: Cut) -> int:
        """The count of tries in a row that brought nothing, once the wait before the next is over."""
        have = size_of(part)
        if have == before and not self.online():
            # The store's line is down, not the release: wait for the sync link, and do not count it.
            log.warning(
                "release %s: download cut while the cloud is out of reach (%s); waiting for it", offer.release, exc
            )
            await self._wait(self.online)
            return failures
        failures = 0 if have > before else failures + 1
        if failures >= TRIES_WITHOUT_PROGRESS:
            raise Refused(
                "truncated" if have else "download",
                f"release {offer.release}: {have} of {offer.size} bytes after {failures} tries in a row: {exc}",
            )
        delay = min(self.retry_s * 2 ** max(failures - 1, 0), RETRY_CAP_S)
        log.warning(
            "release %s: download cut at %d of %d bytes (%s); again in %.0f s",
            offer.release,
            have,
            offer.size,
            exc,
            delay,
        )
        await self.clock.sleep(delay)
        return failures

    async def _wait(self, until: Callable[[], bool]) -> None:
        while not until():
            await self.clock.sleep(IDLE_POLL_S)
