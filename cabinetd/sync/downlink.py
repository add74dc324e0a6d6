"""The downlink: the cloud's fleet data into the ledger's replicas, never half applied.

Pages of changes are collected until the cloud says `complete`, each checked against its checksum,
and then applied with the final cursor in one ledger transaction. A page that fails its checksum (a
reply cut short) throws the collected pages away; the next try starts again from the cursor the
ledger holds. When the cloud no longer has the changes after that cursor (410), or the cabinet has
never synced, the whole snapshot is swapped in instead.
"""

from __future__ import annotations

import logging
from typing import Final, Protocol

from cabinetd.ledger.errors import LedgerError
from cabinetd.sync.errors import SyncError
from cabinetd.sync.link import CloudLink, CloudRefusal
from cabinetproto.wire import ChangeOp, page_checksum

log = logging.getLogger(__name__)

# More collected ops than this and a snapshot is cheaper than the pages.
MAX_STAGED_OPS: Final = 20_000


class ReplicaLedger(Protocol):
    def apply_replica(self, ops: list[ChangeOp], cursor: str) -> int: ...

    def replace_replicas(self, snapshot: list[ChangeOp], cursor: str) -> int: ...


async def take_snapshot(link: CloudLink, ledger: ReplicaLedger) -> int:
    snapshot = await link.snapshot()
    if page_checksum(snapshot.ops, snapshot.cursor) != snapshot.checksum:
        raise SyncError(f"snapshot at cursor {snapshot.cursor}: checksum does not match its content")
    try:
        changed = ledger.replace_replicas(snapshot.ops, snapshot.cursor)
    except LedgerError as exc:
        raise SyncError(f"snapshot at cursor {snapshot.cursor}: {exc}") from None
    log.info("replicas replaced by the cloud's snapshot at cursor %s (%d rows)", snapshot.cursor, changed)
    return changed


async def pull(link: CloudLink, ledger: ReplicaLedger, cursor: str | None, wait_s: float) -> int:
    """Bring the replicas up to date once; the first request may long-poll. Returns rows changed."""
    if cursor is None:
        return await take_snapshot(link, ledger)
    staged: list[ChangeOp] = []
    at = cursor
    try:
        while True:
            page = await link.changes(at, wait_s if not staged and at == cursor else 0)
            if page_checksum(page.ops, page.cursor) != page.checksum:
                raise SyncError(f"changes after cursor {at}: checksum does not match the page (cut short?)")
            staged.extend(page.ops)
            at = page.cursor
            if page.complete:
                break
            if len(staged) > MAX_STAGED_OPS:
                return await take_snapshot(link, ledger)
    except CloudRefusal as exc:
        if exc.status == 410:
            log.warning("downlink cursor %s is too old for the cloud: taking a snapshot", cursor)
            return await take_snapshot(link, ledger)
        raise
    if not staged and at == cursor:
        return 0
    try:
        changed = ledger.apply_replica(staged, at)
    except LedgerError as exc:
        raise SyncError(f"changes after cursor {cursor}: {exc}") from None
    if staged:
        log.info("applied %d changes from the cloud (cursor %s -> %s)", len(staged), cursor, at)
    return changed
