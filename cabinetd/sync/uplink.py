"""The uplink: the session, then the outbox drained in batches, one batch in flight.

The cabinet's acknowledged seq moves only from a reply of the cloud, in the ledger transaction that
records it. Whatever goes wrong in between (a reply lost after the cloud committed, a crash, a
duplicate delivery), the next session or a 409 tells the cabinet where the cloud stands, and the
cloud's dedup on event ids makes a resend harmless.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from cabinetd.ledger.errors import LedgerError
from cabinetd.ledger.events import StoredEvent
from cabinetd.ledger.queries import SyncState
from cabinetd.sync import fork
from cabinetd.sync.errors import SyncError
from cabinetd.sync.link import CloudLink, CloudRefusal
from cabinetd.sync.pacing import Pacing
from cabinetproto.wire import MAX_BATCH_BYTES, MAX_BATCH_EVENTS, SessionReply, SessionRequest, SessionStatus

log = logging.getLogger(__name__)


class OutboxLedger(fork.ForkLedger, Protocol):
    def sync_state(self) -> SyncState: ...

    def record_ack(self, epoch: str, acked_seq: int) -> int: ...


class UpgradeRequired(SyncError):
    """The cloud does not speak this cabinet's protocol version."""


class Forked(SyncError):
    """A fork was found and could not be recovered from yet."""


@dataclass
class UplinkState:
    epoch: str | None = None
    # Where the cloud stands in `epoch`: the next batch starts right after it.
    cloud_acked: int = 0
    batch_limit: int = MAX_BATCH_EVENTS
    good_batches: int = 0
    timeouts: int = 0
    dead_lettered: int = 0
    skew_s: float | None = None
    rejected_codes: dict[str, int] = field(default_factory=dict)


class Uplink:
    def __init__(
        self,
        link: CloudLink,
        ledger: OutboxLedger,
        pacing: Pacing,
        software_version: str,
        clock: Callable[[], datetime],
        monotonic: Callable[[], float],
    ) -> None:
        self.link = link
        self.ledger = ledger
        self.pacing = pacing
        self.software_version = software_version
        self.clock = clock
        self.monotonic = monotonic
        self.state = UplinkState()

    @property
    def in_session(self) -> bool:
        return self.state.epoch is not None

    def drop_session(self) -> None:
        self.state.epoch = None

    def cloud_now(self) -> datetime:
        return self.clock() + timedelta(seconds=self.state.skew_s or 0.0)

    def _ack(self, epoch: str, acked: int) -> None:
        try:
            self.ledger.record_ack(epoch, acked)
        except LedgerError as exc:
            raise SyncError(f"ack of seq {acked} in epoch {epoch}: {exc}") from None

    async def open_session(self, *, recover: bool = True) -> SessionReply:
        ledger_state = self.ledger.sync_state()
        sent_at, started = self.clock(), self.monotonic()
        request = SessionRequest(
            epoch=ledger_state.epoch,
            last_seq=ledger_state.last_seq,
            last_hash=ledger_state.last_hash,
            software_version=self.software_version,
            schema_version=ledger_state.schema_version,
            cabinet_time=sent_at,
        )
        reply = await self.link.session(request)
        # Our time at the middle of the round trip against the cloud's time in its reply.
        middle = sent_at + timedelta(seconds=(self.monotonic() - started) / 2)
        self.state.skew_s = (reply.server_time - middle).total_seconds()
        if abs(self.state.skew_s) > self.pacing.skew_flag_s:
            log.warning("the cabinet's clock is %.0f s off the cloud's (flagged)", self.state.skew_s)
        if reply.status is SessionStatus.UPGRADE_REQUIRED:
            raise UpgradeRequired(f"the cloud asks for an upgrade: {reply.detail}")
        if reply.status is SessionStatus.FORK:
            if not recover:
                raise Forked(f"still a fork after recovering from it: {reply.detail}")
            await self._recover(ledger_state, reply.detail, reply)
            return await self.open_session(recover=False)
        if reply.acked_seq > ledger_state.acked_seq:
            # The cloud committed a batch whose reply we never saw.
            self._ack(ledger_state.epoch, reply.acked_seq)
        self.state.epoch = ledger_state.epoch
        self.state.cloud_acked = reply.acked_seq
        log.info(
            "sync session open: epoch %s, cloud holds seq %d of %d",
            ledger_state.epoch,
            reply.acked_seq,
            ledger_state.last_seq,
        )
        return reply

    async def _recover(self, ledger_state: SyncState, why: str, reply: SessionReply | None) -> None:
        later = []
        if reply is not None:
            names = [held.epoch for held in reply.epochs]
            if ledger_state.epoch in names:
                later = reply.epochs[names.index(ledger_state.epoch) + 1 :]
        self.drop_session()
        try:
            await fork.recover(self.link, self.ledger, ledger_state.epoch, ledger_state.acked_seq, later, why)
        except SyncError as exc:
            raise Forked(str(exc)) from None

    def _batch(self) -> list[StoredEvent]:
        return self.ledger.events_after(self.state.cloud_acked, self.state.batch_limit, MAX_BATCH_BYTES)

    async def push(self) -> int | None:
        """Send one batch; returns how many events the cloud acknowledged, None when none is due."""
        ledger_state = self.ledger.sync_state()
        epoch = self.state.epoch
        if epoch != ledger_state.epoch:
            # The ledger moved on to a new epoch: the cloud must hear of it in a session first.
            self.drop_session()
            await self.open_session()
            return 0
        assert epoch is not None
        events = self._batch()
        if not events:
            return None
        body = {"epoch": epoch, "from_seq": events[0].seq, "events": [event.to_wire() for event in events]}
        try:
            reply = await self.link.upload(json.dumps(body, separators=(",", ":")).encode())
        except CloudRefusal as exc:
            await self._refused(exc, ledger_state)
            return 0
        self.state.timeouts = 0
        self._ack(epoch, reply.acked_seq)
        done = reply.acked_seq - self.state.cloud_acked
        self.state.cloud_acked = reply.acked_seq
        for rejection in reply.rejected:
            self.state.dead_lettered += 1
            self.state.rejected_codes[rejection.code] = self.state.rejected_codes.get(rejection.code, 0) + 1
            log.warning(
                "event %s was dead-lettered by the cloud: %s %s", rejection.event_id, rejection.code, rejection.detail
            )
        self._grow()
        return done

    def _grow(self) -> None:
        self.state.good_batches += 1
        if self.state.batch_limit < MAX_BATCH_EVENTS and self.state.good_batches >= self.pacing.batches_before_growing:
            self.state.batch_limit = min(MAX_BATCH_EVENTS, self.state.batch_limit * 2)
            self.state.good_batches = 0

    def _halve(self, why: str) -> None:
        self.state.good_batches = 0
        if self.state.batch_limit > 1:
            self.state.batch_limit //= 2
            log.warning("upload batch halved to %d events: %s", self.state.batch_limit, why)

    async def _refused(self, exc: CloudRefusal, ledger_state: SyncState) -> None:
        if exc.status == 409 and exc.code == "fork":
            await self._recover(ledger_state, str(exc), None)
            return
        if exc.status == 409 and exc.expected_seq is not None:
            cloud_acked = exc.expected_seq - 1
            if cloud_acked > ledger_state.last_seq:
                await self._recover(ledger_state, str(exc), None)
                return
            if cloud_acked > ledger_state.acked_seq:
                self._ack(ledger_state.epoch, cloud_acked)
            log.info("cloud expects seq %d of epoch %s: resuming there", exc.expected_seq, ledger_state.epoch)
            self.state.cloud_acked = cloud_acked
            return
        if exc.status == 413:
            self._halve("the cloud said the batch was too large")
        elif exc.timed_out:
            self.state.timeouts += 1
            if self.state.timeouts >= self.pacing.timeouts_before_halving:
                self.state.timeouts = 0
                self._halve(f"{self.pacing.timeouts_before_halving} timeouts in a row")
        self.drop_session()
        raise exc
