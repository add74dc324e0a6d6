"""Names in every language in the roster replica: kept from the cloud's changes, {} from a cloud that
sends only the plain name, refused when malformed, and an older ledger upgraded (schema version 5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cabinetd.ledger import SCHEMA_VERSION, Ledger, LedgerError, open_ledger
from cabinetd.ledger.schema import schema_version
from tests.ledger.helpers import CABINET, StepClock
from tests.ledger.test_replicas import PICKING, op

NAMES = {"en": "Picking", "zh-CN": "拣货"}
MODEL = {"name": "Zebra TC21", "names": {"zh-CN": "斑马 TC21"}, "slot_types": ["s"]}


def test_ok__names_from_the_cloud_are_kept_beside_the_plain_name(ledger: Ledger) -> None:
    ledger.apply_replica(
        [
            op("work_types", "picking", 1, {**PICKING, "names": NAMES}),
            op("device_models", "TC21", 1, MODEL),
        ],
        cursor="2",
    )
    work_type = ledger.work_type("picking")
    model = ledger.device_model("TC21")
    assert work_type is not None
    assert model is not None
    assert (work_type.name, work_type.names) == ("Picking", NAMES)
    assert (model.name, model.names) == ("Zebra TC21", {"zh-CN": "斑马 TC21"})


def test_ok__a_cloud_that_sends_only_the_plain_name_still_works(ledger: Ledger) -> None:
    ledger.apply_replica([op("work_types", "picking", 1, PICKING)], cursor="1")
    work_type = ledger.work_type("picking")
    assert work_type is not None
    assert (work_type.name, work_type.names) == ("Picking", {})


@pytest.mark.parametrize(
    ("names", "why"),
    [
        ({"zh_CN": "拣货"}, "language tag 'zh_CN' is not of the form 'en', 'zh-CN' or 'zh-Hans'"),
        ({"en": ""}, "the en name is empty"),
    ],
)
def test_fail__malformed_names_are_refused_naming_the_entry(ledger: Ledger, names: dict[str, str], why: str) -> None:
    with pytest.raises(LedgerError) as caught:
        ledger.apply_replica([op("work_types", "picking", 1, {**PICKING, "names": names})], cursor="1")
    assert str(caught.value) == f"replica change work_types 'picking': field 'names': Value error, {why}"
    assert ledger.work_type("picking") is None  # the page is not applied


def test_ok__a_version_4_ledger_gains_names_and_keeps_its_roster(state_dir: Path) -> None:
    ledger = open_ledger(state_dir, CABINET, clock=StepClock())
    ledger.apply_replica([op("work_types", "picking", 1, PICKING)], cursor="1")
    ledger.store.run("ALTER TABLE work_types DROP COLUMN names")
    ledger.store.run("ALTER TABLE device_models DROP COLUMN link")
    ledger.store.run("ALTER TABLE device_models DROP COLUMN names")
    ledger.store.run("DROP INDEX staff_store")
    ledger.store.run("PRAGMA user_version = 4")
    ledger.close()
    reopened = open_ledger(state_dir, CABINET, clock=StepClock())
    try:
        assert schema_version(reopened.store) == SCHEMA_VERSION == 6
        work_type = reopened.work_type("picking")
        assert work_type is not None
        assert (work_type.name, work_type.names) == ("Picking", {})
        reopened.apply_replica([op("work_types", "picking", 2, {**PICKING, "names": NAMES})], cursor="2")
        assert reopened.work_type("picking") == work_type.model_copy(update={"names": NAMES})
    finally:
        reopened.close()


def test_ok__the_store_s_active_staff_are_read_by_store(ledger: Ledger) -> None:
    def member(staff_id: str, store: str, active: bool = True) -> dict[str, object]:
        data = {"badge": f"000000000{staff_id[-1]}", "badge_format": 2, "name": staff_id, "store": store,
                "work_type": "picking", "role": "staff", "active": active, "pin_hash": None}
        return op("staff", staff_id, 1, data)

    ledger.apply_replica([member("S-1", "demo"), member("S-2", "north"), member("S-3", "demo", False)], cursor="3")
    assert [staff.staff_id for staff in ledger.staff_of_store("demo")] == ["S-1"]
    plan = ledger.store.rows("EXPLAIN QUERY PLAN SELECT staff_id FROM staff WHERE store = ? AND active", ("demo",))
    assert any("staff_store" in str(row[-1]) for row in plan)
