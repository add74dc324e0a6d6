from __future__ import annotations

from typing import Any

import pytest

from cabinetd.ledger import Ledger, LedgerError
from cabinetproto.wire import ChangeOp, Entity
from tests.ledger.helpers import snapshot, stock

ALICE: dict[str, Any] = {
    "staff_id": "S-1",
    "badge": "0A1B2C3D4E",
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
    staff = ledger.staff_by_badge("0A1B2C3D4E")
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
    assert ledger.staff_by_badge("FFFF") is None
    assert ledger.work_type("stock-taking") is None


def test_ok__older_versions_never_overwrite_newer_rows(ledger: Ledger) -> None:
    ledger.apply_replica([op("staff", "S-1", 5, {**ALICE, "name": "Alice B."})], cursor="1")
    ledger.apply_replica([op("staff", "S-1", 4, ALICE), op("staff", "S-1", 3, None, "delete")], cursor="2")
    staff = ledger.staff_by_badge(ALICE["badge"])
    assert staff is not None
    assert staff.name == "Alice B."
    ledger.apply_replica([op("staff", "S-1", 6, None, "delete")], cursor="3")
    assert ledger.staff_by_badge(ALICE["badge"]) is None


def test_ok__an_active_holder_of_a_badge_wins(ledger: Ledger) -> None:
    ledger.apply_replica(
        [
            op("staff", "S-1", 1, {**ALICE, "active": False}),
            op("staff", "S-2", 1, {**ALICE, "staff_id": "S-2", "name": "Bob"}),
        ],
        cursor="1",
    )
    staff = ledger.staff_by_badge(ALICE["badge"])
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
    with pytest.raises(LedgerError) as caught:
        ledger.apply_replica([op("staff", "S-3", 1, {**ALICE, "staff_id": "S-3", "badge": "B3"}), bad], cursor="2")
    assert str(caught.value).startswith(message)
    assert ledger.staff_by_badge("B3") is None
    assert ledger.sync_state().downlink_cursor == "1"


def test_ok__replace_replicas_swaps_everything_at_once(ledger: Ledger) -> None:
    ledger.apply_replica([op("staff", "S-1", 1, ALICE), op("work_types", "picking", 1, PICKING)], cursor="5")
    bob = {**ALICE, "staff_id": "S-2", "badge": "B2", "name": "Bob"}
    ledger.replace_replicas([op("staff", "S-2", 1, bob)], cursor="90")
    assert ledger.staff_by_badge(ALICE["badge"]) is None
    assert ledger.work_type("picking") is None
    assert ledger.staff_by_badge("B2") is not None
    assert ledger.sync_state().downlink_cursor == "90"
    with pytest.raises(LedgerError):
        ledger.replace_replicas([op("staff", "S-1", 1, {**ALICE, "active": "maybe"})], cursor="91")
    assert ledger.staff_by_badge("B2") is not None
    assert ledger.sync_state().downlink_cursor == "90"


def test_ok__rebuild_leaves_replicas_and_sync_state_alone(ledger: Ledger) -> None:
    stock(ledger, 2)
    ledger.apply_replica([op("staff", "S-1", 1, ALICE)], cursor="8")
    epoch = ledger.sync_state().epoch
    ledger.record_ack(epoch, 3)
    before = snapshot(ledger)
    assert ledger.rebuild().identical
    assert snapshot(ledger) == before
    assert ledger.staff_by_badge(ALICE["badge"]) is not None
    state = ledger.sync_state()
    assert (state.downlink_cursor, state.acked_seq) == ("8", 3)


def test_ok__the_sync_protocols_change_ops_apply_as_they_are(ledger: Ledger) -> None:
    ops = [
        ChangeOp(entity=Entity.STAFF, id="S-1", version=2, op="upsert", data=ALICE),
        ChangeOp(entity=Entity.DEVICES, id="PDA-001", version=3, op="upsert", data={"model": "TC21", "store": "s7"}),
    ]
    assert ledger.apply_replica(ops, cursor="12") == 2
    staff = ledger.staff_by_badge(ALICE["badge"])
    assert staff is not None
    assert staff.staff_id == "S-1"
    assert ledger.store.rows("SELECT serial, model, active, version FROM fleet_devices") == [("PDA-001", "TC21", 1, 3)]


def test_ok__answers_from_memory_change_with_every_replica_write(ledger: Ledger) -> None:
    """Staff and work types are read once per key and kept until the next replica write."""
    assert ledger.staff_by_badge(ALICE["badge"]) is None  # remembered as unknown...
    ledger.apply_replica([op("staff", "S-1", 1, ALICE), op("work_types", "picking", 1, PICKING)], cursor="1")
    staff = ledger.staff_by_badge(ALICE["badge"])  # ...until the roster changed
    assert staff is not None
    assert staff.name == "Alice"
    assert ledger.work_type("picking") is not None
    ledger.apply_replica([op("staff", "S-1", 2, {**ALICE, "name": "Alice B.", "active": False})], cursor="2")
    staff = ledger.staff_by_badge(ALICE["badge"])
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
        assert ledger.staff_by_badge(f"{number:X}") is None
    assert len(ledger._replica_reads) <= 10
    assert ledger.staff_by_badge(ALICE["badge"]) is not None
