"""The updater: the daemon's subsystem that takes the fleet's `offer_update`, downloads and checks the
release, and hands it to the update unit at the first quiet moment (docs/updates.md).

Its state is the ledger's update_* events (history.py) and the files of the handoff (handoff.py), so a
restart anywhere in between picks up where it was: a download cut by the restart is refused (offer it
again), a release downloaded and checked still waits for its quiet moment, an install under way waits
for the unit's outcome. One release at a time: an offer while another is under way is refused.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import Any, Final

from cabinetd.clock import Clock
from cabinetd.config import CabinetConfig
from cabinetd.ledger import Ledger, LedgerError, StoredEvent
from cabinetd.lifecycle import Subsystem
from cabinetd.openinghours import OpeningHours
from cabinetd.release import LastUpdate, Offered, Release
from cabinetd.updates import handoff
from cabinetd.updates.fetching import Fetching
from cabinetd.updates.history import UPDATE_EVENTS, History, fold
from cabinetd.updates.offer import Offer, Refused, judge_version
from cabinetd.updates.outcome import take_outcome
from cabinetd.updates.quiet import CabinetNow, not_quiet
from cabinetproto.wire import Command, CommandOutcome

log = logging.getLogger(__name__)

CHECK_S: Final = 5.0  # how often the quiet moment and the unit's outcome are looked for


@dataclass(frozen=True)
class Ready:
    """A release downloaded and checked, waiting for its quiet moment."""

    release: str
    version: str
    sha256: str
    allow_downgrade: bool


class Updates(Subsystem):
    name = "updates"
    stall_after_s = None  # a wait of hours for a quiet moment is its normal state

    def __init__(
        self,
        config: CabinetConfig,
        ledger: Callable[[], Ledger],
        cabinet_now: Callable[[], CabinetNow],
        clock: Clock,
        installed: Callable[[], str],
        *,
        fetching: Fetching | None = None,
        zone: tzinfo | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.settings = config.updates
        self._ledger = ledger
        self.cabinet_now = cabinet_now
        self.clock = clock
        self.installed = installed
        self.fetching = fetching or Fetching(config, clock, self.idle, lambda: True)
        self.zone = zone  # None: the system's local time zone
        hours = self.settings.opening_hours
        self.hours = None if hours is None else OpeningHours.parse(hours)
        self.events: list[StoredEvent] = []
        self.history = History()
        self.downloading: Offer | None = None
        self.ready: Ready | None = None
        self.installing: str | None = None  # the release handed to the unit
        self.waiting_for: str | None = None  # why the ready release is not installed yet
        self.unwritten: Ready | None = None  # recorded as installing, its request not written yet
        self._task: asyncio.Task[None] | None = None
        self._last_error: str | None = None

    @property
    def directory(self) -> Path:
        return self.settings.directory

    def release_now(self, installed: Release) -> Release:
        """The installed release with what the ledger says of the offered one and the last update."""
        offered, last = self.history.offered, self.history.last_update
        return Release(
            installed.installed,
            installed.source,
            None
            if offered is None
            else Offered(offered.release, offered.version, offered.stage, offered.at, self.waiting_for),
            None if last is None else LastUpdate(last.release, last.version, last.outcome, last.detail, last.at),
        )

    def idle(self) -> bool:
        now = self.cabinet_now()
        return not (now.session or now.open_doors or now.busy_slots)

    def record(self, event_type: str, payload: dict[str, Any]) -> None:
        self.events.append(self._ledger().append(event_type, payload))
        self.history = fold(self.events)

    def refuse(self, offer: Offer, refused: Refused) -> None:
        log.warning("release %s refused: %s: %s", offer.release, refused.reason, refused.detail)
        payload = {"release": offer.release, "version": offer.version, "reason": refused.reason}
        self.record("update_refused", {**payload, "detail": refused.detail})

    # --- life cycle -----------------------------------------------------------------------------

    async def prepare(self) -> None:
        self.events = self._ledger().events_of(*UPDATE_EVENTS)
        self.history = fold(self.events)
        if not self.settings.enabled:
            return
        try:
            self._take_outcome()
            self._resume()
        except (handoff.HandoffError, LedgerError) as exc:
            # The cabinet rents and returns without updates; the technician sees this in the log.
            log.error("updates: %s", exc)

    def _resume(self) -> None:
        offered = self.history.offered
        if offered is None:
            return
        offer = Offer(offered.release, offered.version, offered.sha256 or "", 1, "", offered.allow_downgrade)
        deb = self.directory / f"{offered.release}.deb"
        if offered.stage == "downloading":
            self.fetching.discard(offered.release)
            detail = f"release {offered.release}: the download was cut by a restart of the cabinet; offer it again"
            self.refuse(offer, Refused("download", detail))
        elif offered.stage == "downloaded" and offered.sha256 is not None:
            if deb.exists():
                self.ready = Ready(offered.release, offered.version, offered.sha256, offered.allow_downgrade)
            else:
                self.refuse(offer, Refused("download", f"release {offered.release}: {deb} is gone; offer it again"))
        elif offered.stage == "installing":
            self.installing = offered.release
            if not handoff.in_progress(self.directory) and offered.sha256 is not None and deb.exists():
                # Recorded, then cut before the request was written: the next look writes it.
                self.unwritten = Ready(offered.release, offered.version, offered.sha256, offered.allow_downgrade)

    async def run(self) -> None:
        if not self.settings.enabled:
            await asyncio.Event().wait()
        while True:
            await self.clock.sleep(CHECK_S)
            self.step()

    async def cleanup(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def step(self) -> None:
        """One look: the unit's outcome while installing, else the quiet moment for a ready release.
        A file of the handoff that cannot be read or written is logged and looked at again next time:
        the cabinet goes on renting."""
        try:
            if self.installing is not None:
                self._look_at_unit()
            elif self.ready is not None:
                self._hand_over(self.ready)
        except (handoff.HandoffError, LedgerError) as exc:
            if str(exc) != self._last_error:
                log.error("updates: %s", exc)
            self._last_error = str(exc)
        else:
            self._last_error = None

    def _take_outcome(self) -> bool:
        finished = take_outcome(self.directory, self.events, self.record)
        if finished is not None and self.installing == finished.release:
            self.installing = None
        return finished is not None

    def _look_at_unit(self) -> None:
        if self._take_outcome():
            return
        # A request that could not be written last time: written once the unit has neither it nor an
        # outcome (looked at in this order, since the unit writes its outcome before it removes working.json).
        unwritten = self.unwritten
        if (
            unwritten is not None
            and not handoff.in_progress(self.directory)
            and handoff.read_outcome(self.directory) is None
        ):
            self._write_request(unwritten)

    def _hand_over(self, ready: Ready) -> None:
        local = self.clock.now().astimezone(self.zone).time()
        self.waiting_for = not_quiet(self.cabinet_now(), local, self.hours, self.settings.opening_hours or "")
        if self.waiting_for is not None:
            return
        # Recorded first (the write-ahead rule): a request the ledger does not know is never installed.
        self.record(
            "update_installing", {"release": ready.release, "version": ready.version, "from_version": self.installed()}
        )
        self.ready, self.installing, self.unwritten = None, ready.release, ready
        self._write_request(ready)

    def _write_request(self, ready: Ready) -> None:
        request = handoff.Request(
            ready.release, ready.version, self.installed(), ready.sha256, ready.allow_downgrade, self.clock.now()
        )
        path = handoff.write_request(self.directory, request)
        self.unwritten = None
        log.info("release %s (%s): handed to the update unit (%s)", ready.release, ready.version, path)

    # --- the fleet's offer ----------------------------------------------------------------------

    def under_way(self) -> str | None:
        if self.downloading is not None:
            return f"release {self.downloading.release} is being downloaded"
        if self.ready is not None:
            return f"release {self.ready.release} waits for a quiet moment to install"
        if self.installing is not None:
            return f"release {self.installing} is being installed"
        return None

    async def offer(self, command: Command) -> CommandOutcome:
        """offer_update: what the command's result says is what happened before the download starts;
        the download's own outcome follows as update_downloaded or update_refused."""
        if not self.settings.enabled:
            return CommandOutcome(False, "updates are disabled on this cabinet (updates.enabled = false)")
        try:
            offer = Offer.from_command(command)
        except ValueError as exc:
            return CommandOutcome(False, str(exc))
        busy = self.under_way()
        if busy is not None:
            return CommandOutcome(False, f"release {offer.release} not taken: {busy}")
        payload = {"release": offer.release, "version": offer.version, "allow_downgrade": offer.allow_downgrade}
        self.record("update_offered", payload)
        try:
            offer.signature_bytes()
            judge_version(offer.release, offer.version, self.installed(), allow_downgrade=offer.allow_downgrade)
        except Refused as refused:
            self.refuse(offer, refused)
            return CommandOutcome(False, f"refused ({refused.reason}): {refused.detail}")
        self.downloading = offer
        self._task = asyncio.create_task(self._take(offer), name=f"update {offer.release}")
        return CommandOutcome(
            True, f"release {offer.release} ({offer.version}): downloading; it installs at the next quiet moment"
        )

    async def _take(self, offer: Offer) -> None:
        try:
            await self._download(offer)
        except Exception:  # the cabinet goes on renting; the offer stays as the ledger has it
            log.exception("release %s: the download failed", offer.release)
        finally:
            self.downloading = None

    async def _download(self, offer: Offer) -> None:
        try:
            version = await self.fetching.take(offer, self.installed())
        except Refused as refused:
            self.refuse(offer, refused)
            return
        payload = {"release": offer.release, "version": version, "sha256": offer.sha256, "size": offer.size}
        self.record("update_downloaded", payload)
        self.ready = Ready(offer.release, version, offer.sha256, offer.allow_downgrade)
        log.info("release %s (%s): downloaded and checked; waits for a quiet moment", offer.release, version)
