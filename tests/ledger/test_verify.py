from __future__ import annotations

import sqlite3
from pathlib import Path

from cabinetd.ledger import Ledger, NewEvent, VerifyResult
from cabinetd.ledger.queries import EVENT_COLUMNS, event_from_row
from cabinetproto.chain import event_hash


def tamper(ledger: Ledger, sql: str, *params: object) -> None:
    """Change the file behind the ledger's back, as someone with a copy of sqlite3 would."""
    conn = sqlite3.connect(Path(ledger.path), isolation_level=None)
    try:
        conn.execute(sql, params)
    finally:
        conn.close()


def fill(ledger: Ledger, count: int) -> str:
    ledger.append_many([NewEvent("cabinet_started", {"software_version": f"v{n}"}) for n in range(count)])
    return ledger.sync_state().epoch


def test_ok__an_intact_chain(ledger: Ledger) -> None:
    fill(ledger, 6)
    assert ledger.verify() == VerifyResult(True, 6)


def test_fail__a_changed_payload_breaks_its_own_link(ledger: Ledger) -> None:
    epoch = fill(ledger, 6)
    tamper(ledger, 'UPDATE events SET payload = \'{"software_version":"evil"}\' WHERE seq = 3')
    result = ledger.verify()
    assert result == VerifyResult(False, 2, epoch, 3, "hash does not match the event's content")
    assert str(result) == f"hash chain broken at epoch {epoch} seq 3: hash does not match the event's content"


def test_fail__a_deleted_event_shows_as_a_gap(ledger: Ledger) -> None:
    epoch = fill(ledger, 6)
    tamper(ledger, "DELETE FROM events WHERE seq = 3")
    assert ledger.verify() == VerifyResult(False, 2, epoch, 4, "seq 4 where seq 3 was expected")


def test_fail__a_rehashed_forgery_breaks_the_next_link(ledger: Ledger) -> None:
    epoch = fill(ledger, 6)
    row = ledger.store.rows(f"SELECT {EVENT_COLUMNS} FROM events WHERE seq = 3")[0]
    forged = event_from_row(row).to_wire()
    forged["payload"] = {"software_version": "evil"}
    tamper(
        ledger,
        "UPDATE events SET payload = ?, hash = ? WHERE seq = 3",
        '{"software_version":"evil"}',
        event_hash(forged["prev_hash"], forged),
    )
    assert ledger.verify() == VerifyResult(False, 3, epoch, 4, "prev_hash is not the hash of the event before it")


def test_fail__an_epoch_that_does_not_start_where_the_chain_stood(ledger: Ledger) -> None:
    fill(ledger, 2)
    epoch = ledger.new_epoch("fork")
    fill(ledger, 2)
    tamper(ledger, "UPDATE epochs SET start_hash = ? WHERE epoch = ?", "f" * 64, epoch)
    assert ledger.verify() == VerifyResult(
        False, 2, epoch, 1, "the epoch does not start from the hash of the event before it"
    )
