"""Recovery from a fork: a cabinet whose ledger was restored from an old copy.

The cloud holds events of the cabinet's epoch that the restored ledger lacks (or holds different
ones at the same seqs). The cabinet finds the last seq on which both agree, fetches back what the
cloud holds after it (and every later epoch), and hands both to the ledger's `adopt_fork`, which
puts the cloud's events into the ledger as they are, moves the cabinet's own events written since
the divergence into a new epoch (same event ids: the cloud deduplicates what it already has) and
rebuilds the projections, so open rentals are right again before the next rent.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from cabinetd.ledger.errors import LedgerError
from cabinetd.ledger.events import StoredEvent
from cabinetd.sync.errors import SyncError
from cabinetd.sync.link import CloudLink
from cabinetproto.wire import EpochHeld, WireEvent

log = logging.getLogger(__name__)


@runtime_checkable
class AdoptsFork(Protocol):
    def adopt_fork(self, held: Sequence[Mapping[str, Any]], diverged_after: int, reason: str) -> str:
        """Take the cloud's events after `diverged_after` of the current epoch (then those of later
        epochs) into the ledger as they are, move the ledger's own events after that seq into a new
        epoch, rebuild the projections; one transaction. Returns the new epoch."""
        ...


class ForkLedger(Protocol):
    def events_after(
        self, seq: int, limit: int = 500, max_bytes: int = 256 * 1024, *, epoch: str | None = None
    ) -> list[StoredEvent]: ...


async def _fetch_epoch(link: CloudLink, epoch: str, after: int) -> list[WireEvent]:
    events: list[WireEvent] = []
    while True:
        page = await link.history(epoch, after)
        events.extend(page.events)
        if page.complete or not page.events:
            return events
        after = page.events[-1].seq


def divergence(local: Sequence[StoredEvent], held: Sequence[WireEvent], acked: int) -> int:
    """The last seq (from `acked` on) at which the cabinet and the cloud hold the same event."""
    agreed = acked
    for mine, theirs in zip(local, held, strict=False):
        if mine.seq != theirs.seq or mine.hash != theirs.hash:
            break
        agreed = mine.seq
    return agreed


async def recover(
    link: CloudLink,
    ledger: ForkLedger,
    epoch: str,
    acked_seq: int,
    later_epochs: Sequence[EpochHeld],
    why: str,
) -> str:
    """Bring the ledger back in line with the cloud; returns the new epoch to upload from."""
    if not isinstance(ledger, AdoptsFork):
        raise SyncError(
            f"fork in epoch {epoch} ({why}): this ledger cannot take back the cloud's events; "
            "uploads stay stopped until it can"
        )
    held_here = await _fetch_epoch(link, epoch, acked_seq)
    local: list[StoredEvent] = []
    while True:
        more = ledger.events_after(local[-1].seq if local else acked_seq, 1000, 1 << 30, epoch=epoch)
        local.extend(more)
        if len(more) < 1000:
            break
    agreed = divergence(local, held_here, acked_seq)
    held = [event for event in held_here if event.seq > agreed]
    for later in later_epochs:
        held.extend(await _fetch_epoch(link, later.epoch, 0))
    mine = sum(1 for event in local if event.seq > agreed)
    try:
        new_epoch = ledger.adopt_fork([event.model_dump(mode="json") for event in held], agreed, f"fork: {why}")
    except LedgerError as exc:
        raise SyncError(f"fork in epoch {epoch}: {exc}") from None
    log.warning(
        "fork in epoch %s after seq %d: took back %d events from the cloud, moved %d of ours to epoch %s",
        epoch,
        agreed,
        len(held),
        mine,
        new_epoch,
    )
    return new_epoch
