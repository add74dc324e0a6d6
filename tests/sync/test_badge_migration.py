"""A fleet whose roster was typed in the old hex, migrated: the cloud's rows, its change feed, and a
cabinet that catches up through the feed (old changes included) all end on the card's printed id."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from cabinetcloud import fleet, schema
from cabinetcloud.storage import MIGRATIONS, Storage, current_version, next_number
from cabinetd.ledger import Ledger

# Staff as version 1 of the cloud held them: the badge as the old reader reported it.
OLD_ROSTER = [("anna", "5900B47B4F"), ("bo", "12D687"), ("chen", "garbage!")]


def _old_cloud(path: Path) -> Storage:
    storage = Storage(f"sqlite:///{path}")
    with storage.writing() as conn:
        MIGRATIONS[0](conn)
        conn.execute(sa.insert(schema.schema_version).values(version=1))
        for staff_id, badge in OLD_ROSTER:
            change_id = next_number(conn, "changes")
            row = {
                "id": staff_id, "name": staff_id.title(), "badge": badge, "store": "demo", "work_type": "picking",
                "role": "staff", "pin_hash": None, "active": True,
            }
            conn.execute(sa.insert(schema.staff).values(**row, version=change_id))
            # The change as version 1 recorded it: no badge_format, the badge in the old hex.
            old_data = {
                "staff_id": staff_id, "badge": badge, "name": row["name"], "store": "demo", "work_type": "picking",
                "role": "staff", "active": True, "pin_hash": None,
            }
            conn.execute(
                sa.insert(schema.changes).values(
                    change_id=change_id, entity="staff", entity_id=staff_id, op="upsert",
                    data=json.dumps(old_data), changed_at=datetime.now(UTC),
                )
            )
    return storage


def test_ok__the_cloud_migrates_an_old_roster_and_a_cabinet_follows_through_the_feed(
    tmp_path: Path, ledger: Ledger
) -> None:
    storage = _old_cloud(tmp_path / "cloud.db")
    try:
        assert storage.migrate() == len(MIGRATIONS) >= 2  # through version 2, and whatever came after it
        with storage.reading() as conn:
            assert current_version(conn) == len(MIGRATIONS)
            badges = {row.id: row.badge for row in conn.execute(sa.select(schema.staff.c.id, schema.staff.c.badge))}
            page = fleet.changes_after(conn, 0, 100, "demo")
        # An old value that names no card is kept for an operator to fix, and matches nothing.
        assert badges == {"anna": "0x5900B47B4F", "bo": "0001234567", "chen": "garbage!"}
        # The old changes stay as recorded; one new change per rewritten badge follows them.
        assert [(op.id, (op.data or {}).get("badge"), (op.data or {}).get("badge_format")) for op in page.ops] == [
            ("anna", "5900B47B4F", None),
            ("bo", "12D687", None),
            ("chen", "garbage!", None),
            ("anna", "0x5900B47B4F", 2),
            ("bo", "0001234567", 2),
        ]
    finally:
        storage.dispose()

    # A cabinet that had seen none of it applies the whole feed, old changes first, as one page would.
    assert ledger.apply_replica(page.ops, cursor=page.cursor) == 5
    assert ledger.store.rows("SELECT staff_id, badge, badge_key FROM staff ORDER BY staff_id") == [
        ("anna", "0x5900B47B4F", 0xB47B4F),
        ("bo", "0001234567", 0x12D687),
        ("chen", "garbage!", -1),
    ]
    anna = ledger.staff_by_badge("0011828047", "decimal")
    bo = ledger.staff_by_badge("018,54919", "wiegand26")
    assert (anna and anna.staff_id, bo and bo.staff_id) == ("anna", "bo")
