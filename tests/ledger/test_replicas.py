from __future__ import annotations

from typing import Any

import pytest

from cabinetd.ledger import Ledger, LedgerError
from cabinetproto.wire import ChangeOp, Entity
from tests.ledger.helpers import snapshot, stock

# As the cloud sends a roster entry: the badge in the roster form, and the mark that says so.
ALICE: dict[str, Any] = {
    "staff_id": "S-1",
    "badge": "0455884110",
    "badge_format": 2,
    "name": "Alice",
    "store": "store-7",
    "work_type": "picking",
    "role": "staff",
    "active": True,
    "pin_hash": None,
}
PICKING: dict[str, Any] = {
    "id": "picking",
    "name": "Picking",
    "rental_limit_minutes": 480,
    "battery_threshold": 60,
    "device_models": ["TC21"],
    "apps": [
        {
            "package": "com.store.picking",
            "version": "4.2.0",
            "version_code": 420,
            "url": "https://apps.example/picking-420.apk",
            "sha256": "ab" * 32,
        },
        {"package": "com.store.scanner", "version": "1.0"},
    ],
    "home_app": "com.store.picking",
    "max_devices_per_staff": 1,
}


def op(entity: str, key: str, version: int, data: dict[str, Any] | None, kind: str = "upsert") -> dict[str, Any]:
    return {"entity": entity, "id": key, "version": version, "op": kind, "data": data}


def test_ok__apply_replica_upserts_and_stores_the_cursor(ledger: Ledger) -> None:
    changed = ledger.apply_replica(
        [
            op("staff", "S-1", 1, ALICE),
            op("work_types", "picking", 3, PICKING),
            op("device_models", "TC21", 1, {"name": "Zebra TC21", "slot_types": ["small"]}),
            op("devices", "PDA-001", 1, {"model": "TC21", "future_field": "ignored"}),
        ],
        cursor="17",
    )
    assert changed == 4
    staff = ledger.staff_by_badge("0455884110", "decimal")
    assert staff is not None
    assert (staff.staff_id, staff.name, staff.active) == ("S-1", "Alice", True)
    work_type = ledger.work_type("picking")
    assert work_type is not None
    assert (work_type.rental_limit_minutes, work_type.device_models, work_type.home_app) == (
        480,
        ["TC21"],
        "com.store.picking",
    )
    assert [(app.package, app.version_code) for app in work_type.apps] == [
        ("com.store.picking", 420),
        ("com.store.scanner", None),
    ]
    assert ledger.work_types() == [work_type]
    model = ledger.device_model("TC21")
    assert model is not None
    assert model.slot_types == ["small"]
    assert ledger.sync_state().downlink_cursor == "17"
    assert ledger.staff_by_badge("0000065535", "decimal") is None
    assert ledger.work_type("stock-taking") is None


def test_ok__older_versions_never_overwrite_newer_rows(ledger: Ledger) -> None:
    ledger.apply_replica([op("staff", "S-1", 5, {**ALICE, "name": "Alice B."})], cursor="1")
    ledger.apply_replica([op("staff", "S-1", 4, ALICE), op("staff", "S-1", 3, None, "delete")], cursor="2")
    staff = ledger.staff_by_badge(ALICE["badge"], "decimal")
    assert staff is not None
    assert staff.name == "Alice B."
    ledger.apply_replica([op("staff", "S-1", 6, None, "delete")], cursor="3")
    assert ledger.staff_by_badge(ALICE["badge"], "decimal") is None


def test_ok__an_active_holder_of_a_badge_wins(ledger: Ledger) -> None:
    ledger.apply_replica(
        [
            op("staff", "S-1", 1, {**ALICE, "active": False}),
            op("staff", "S-2", 1, {**ALICE, "staff_id": "S-2", "name": "Bob"}),
        ],
        cursor="1",
    )
    staff = ledger.staff_by_badge(ALICE["badge"], "decimal")
    assert staff is not None
    assert staff.name == "Bob"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (op("staff", "S-1", 1, {**ALICE, "active": "maybe"}), "replica change staff 'S-1': field 'active': "),
        (op("staff", "S-2", 1, ALICE), "replica change staff 'S-2': field 'staff_id' says 'S-1'"),
        (op("roster", "S-1", 1, ALICE), "replica change: field 'entity': Input should be "),
    ],
)
def test_fail__a_bad_change_applies_nothing(ledger: Ledger, bad: dict[str, Any], message: str) -> None:
    ledger.apply_replica([op("work_types", "picking", 1, PICKING)], cursor="1")
    third = op("staff", "S-3", 1, {**ALICE, "staff_id": "S-3", "badge": "0000000003"})
    with pytest.raises(LedgerError) as caught:
        ledger.apply_replica([third, bad], cursor="2")
    assert str(caught.value).startswith(message)
    assert ledger.staff_by_badge("0000000003", "decimal") is None
    assert ledger.sync_state().downlink_cursor == "1"


def test_ok__replace_replicas_swaps_everything_at_once(ledger: Ledger) -> None:
    ledger.apply_replica([op("staff", "S-1", 1, ALICE), op("work_types", "picking", 1, PICKING)], cursor="5")
    bob = {**ALICE, "staff_id": "S-2", "badge": "0000000002", "name": "Bob"}
    ledger.replace_replicas([op("staff", "S-2", 1, bob)], cursor="90")
    assert ledger.staff_by_badge(ALICE["badge"], "decimal") is None
    assert ledger.work_type("picking") is None
    assert ledger.staff_by_badge("0000000002", "decimal") is not None
    assert ledger.sync_state().downlink_cursor == "90"
    with pytest.raises(LedgerError):
        ledger.replace_replicas([op("staff", "S-1", 1, {**ALICE, "active": "maybe"})], cursor="91")
    assert ledger.staff_by_badge("0000000002", "decimal") is not None
    assert ledger.sync_state().downlink_cursor == "90"


def test_ok__rebuild_leaves_replicas_and_sync_state_alone(ledger: Ledger) -> None:
    stock(ledger, 2)
    ledger.apply_replica([op("staff", "S-1", 1, ALICE)], cursor="8")
    epoch = ledger.sync_state().epoch
    ledger.record_ack(epoch, 3)
    before = snapshot(ledger)
    assert ledger.rebuild().identical
    assert snapshot(ledger) == before
    assert ledger.staff_by_badge(ALICE["badge"], "decimal") is not None
    state = ledger.sync_state()
    assert (state.downlink_cursor, state.acked_seq) == ("8", 3)


def test_ok__the_sync_protocols_change_ops_apply_as_they_are(ledger: Ledger) -> None:
    ops = [
        ChangeOp(entity=Entity.STAFF, id="S-1", version=2, op="upsert", data=ALICE),
        ChangeOp(entity=Entity.DEVICES, id="PDA-001", version=3, op="upsert", data={"model": "TC21", "store": "s7"}),
    ]
    assert ledger.apply_replica(ops, cursor="12") == 2
    staff = ledger.staff_by_badge(ALICE["badge"], "decimal")
    assert staff is not None
    assert staff.staff_id == "S-1"
    assert ledger.store.rows("SELECT serial, model, active, version FROM fleet_devices") == [("PDA-001", "TC21", 1, 3)]


def test_ok__answers_from_memory_change_with_every_replica_write(ledger: Ledger) -> None:
    """Staff and work types are read once per key and kept until the next replica write."""
    assert ledger.staff_by_badge(ALICE["badge"], "decimal") is None  # remembered as unknown...
    ledger.apply_replica([op("staff", "S-1", 1, ALICE), op("work_types", "picking", 1, PICKING)], cursor="1")
    staff = ledger.staff_by_badge(ALICE["badge"], "decimal")  # ...until the roster changed
    assert staff is not None
    assert staff.name == "Alice"
    assert ledger.work_type("picking") is not None
    ledger.apply_replica([op("staff", "S-1", 2, {**ALICE, "name": "Alice B.", "active": False})], cursor="2")
    staff = ledger.staff_by_badge(ALICE["badge"], "decimal")
    assert staff is not None
    assert (staff.name, staff.active) == ("Alice B.", False)
    ledger.replace_replicas([op("staff", "S-1", 3, ALICE)], cursor="3")
    assert ledger.work_type("picking") is None


def test_ok__a_stream_of_unknown_badges_does_not_grow_the_memory(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("cabinetd.ledger.replica_reads.REPLICA_READS_KEPT", 10)
    ledger.apply_replica([op("staff", "S-1", 1, ALICE)], cursor="1")
    for number in range(25):
        assert ledger.staff_by_badge(f"{number + 1:010d}", "decimal") is None
    assert len(ledger._replica_reads) <= 10
    assert ledger.staff_by_badge(ALICE["badge"], "decimal") is not None


# One card, 59 00B47B4F: as printed, 0011828047 and 180,31567.
CARD_IDS = {"decimal": "0011828047", "hex8": "00B47B4F", "hex10": "5900B47B4F", "wiegand26": "180,31567"}


@pytest.mark.parametrize("form", sorted(CARD_IDS))
@pytest.mark.parametrize("roster", ["0011828047", "180,31567", "0x5900B47B4F"])
def test_ok__a_roster_entry_matches_its_card_in_every_reader_form(ledger: Ledger, roster: str, form: str) -> None:
    ledger.apply_replica([op("staff", "S-1", 1, {**ALICE, "badge": roster})], cursor="1")
    staff = ledger.staff_by_badge(CARD_IDS[form], form)  # type: ignore[arg-type]
    assert staff is not None
    assert staff.staff_id == "S-1"


def test_ok__a_change_without_badge_format_carries_the_old_hex(ledger: Ledger) -> None:
    old = {key: value for key, value in ALICE.items() if key != "badge_format"}
    ledger.apply_replica([op("staff", "S-1", 1, {**old, "badge": "5900B47B4F"})], cursor="1")
    assert ledger.store.rows("SELECT badge, badge_key FROM staff") == [("0x5900B47B4F", 0xB47B4F)]
    staff = ledger.staff_by_badge("0011828047", "decimal")
    assert staff is not None
    assert staff.badge == "0x5900B47B4F"


def test_ok__a_version_byte_on_the_roster_tells_cards_apart(ledger: Ledger) -> None:
    ledger.apply_replica([op("staff", "S-1", 1, {**ALICE, "badge": "0x5900B47B4F"})], cursor="1")
    assert ledger.staff_by_badge("5800B47B4F", "hex10") is None  # another card with the same number
    assert ledger.staff_by_badge("0011828046", "decimal") is None
    assert ledger.staff_by_badge("181,31567", "wiegand26") is None
    assert ledger.staff_by_badge("not a badge", "decimal") is None


def test_ok__the_entry_that_tells_more_of_the_card_wins(ledger: Ledger) -> None:
    ledger.apply_replica(
        [
            op("staff", "S-1", 2, {**ALICE, "badge": "180,31567"}),
            op("staff", "S-2", 1, {**ALICE, "staff_id": "S-2", "name": "Bob", "badge": "0011828047"}),
        ],
        cursor="1",
    )
    staff = ledger.staff_by_badge("5900B47B4F", "hex10")
    assert staff is not None
    assert staff.name == "Bob"


def test_fail__a_roster_badge_that_names_no_card_applies_nothing(ledger: Ledger) -> None:
    with pytest.raises(LedgerError) as caught:
        ledger.apply_replica([op("staff", "S-1", 1, {**ALICE, "badge": "12D687"})], cursor="1")
    assert str(caught.value) == (
        "replica change staff 'S-1': field 'badge': '12D687' is not a badge id: write the number printed on "
        "the card (10 digits, 0011828047), 8 or 10 hex digits (00B47B4F, 5900B47B4F), facility,card "
        "(180,31567) or 0x and hex"
    )
    assert ledger.store.rows("SELECT staff_id FROM staff") == []
