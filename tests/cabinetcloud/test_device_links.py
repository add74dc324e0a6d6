"""A device model's `link` (cabinetproto.links) end to end: the seed file, the cloud's columns and its
migration, the change feed, and the cabinet's replica, with `aoa-agent` wherever it was never written."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from cabinetcloud import fleet, schema
from cabinetcloud.operators import Role
from cabinetcloud.seed import SeedError, seed_file
from cabinetcloud.storage import MIGRATIONS, Storage, _v10_device_links, current_version
from cabinetd.ledger import Ledger
from cabinetproto.links import local_link
from cabinetproto.wire import Entity
from testbed import cloudharness
from tests.cabinetcloud.operators_rig import Fleet, sqlite_fleet

__all__ = ["sqlite_fleet"]

MODELS = (
    '[[device_models]]\nid = "agent"\nname = "Agent"\nslot_type = "s"\n'
    '[[device_models]]\nid = "stock"\nname = "Stock"\nslot_type = "s"\nlink = "adb"\n'
    '[[device_models]]\nid = "managed"\nname = "Managed"\nslot_type = "s"\nlink = "mdm:headwind+adb"\n'
)


def test_ok__the_link_travels_from_the_seed_to_the_cabinets_replica(
    sqlite_storage: Storage, ledger: Ledger, tmp_path: Path
) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(MODELS)
    seed_file(path, sqlite_storage.writing)
    with sqlite_storage.reading() as conn:
        page = fleet.changes_after(conn, 0, 100, "demo")
    sent = {op.id: op.data["link"] for op in page.ops if op.entity is Entity.DEVICE_MODELS and op.data}
    assert sent == {"agent": "aoa-agent", "stock": "adb", "managed": "mdm:headwind+adb"}
    ledger.apply_replica(page.ops, page.cursor)
    links = {name: model.link for name in sent if (model := ledger.device_model(name)) is not None}
    assert links == sent


def test_ok__a_cabinet_given_a_model_without_a_link_talks_to_its_agent(ledger: Ledger) -> None:
    op = {
        "entity": "device_models",
        "id": "old",
        "version": 1,
        "op": "upsert",
        "data": {"model": "old", "name": "Old", "slot_types": ["s"]},
    }
    ledger.apply_replica([op], "1")
    model = ledger.device_model("old")
    assert model is not None
    assert model.link == "aoa-agent"


@pytest.mark.parametrize("link", ["usb", "mdm:+adb", "mdm:headwind", "adb+mdm:headwind", "ADB"])
def test_fail__a_link_the_cabinet_cannot_speak_is_refused_naming_the_model(
    sqlite_storage: Storage, tmp_path: Path, link: str
) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(f'[[device_models]]\nid = "m1"\nname = "M"\nslot_type = "s"\nlink = "{link}"\n')
    with pytest.raises(SeedError) as caught:
        seed_file(path, sqlite_storage.writing)
    assert len(caught.value.lines) == 1
    assert caught.value.lines[0].startswith(f"{path}: device_models[0] (id 'm1'): link: String should match pattern")


def test_ok__the_local_link_of_an_mdm_link_is_after_the_plus() -> None:
    assert [local_link(x) for x in ("adb", "aoa-agent", "mdm:headwind+adb", "mdm:soti+aoa-agent")] == [
        "adb",
        "aoa-agent",
        "adb",
        "aoa-agent",
    ]
    with pytest.raises(ValueError, match="device link 'usb' is not one of aoa-agent, adb or mdm:<adapter>"):
        local_link("usb")


def test_ok__a_database_from_before_the_link_gains_it_and_keeps_its_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    storage = cloudharness.seeded(cloudharness.migrated(url))
    with storage.writing() as conn:
        conn.exec_driver_sql("ALTER TABLE device_models DROP COLUMN link")
        # The version before the link's step: the steps after it run again too, as they must be able to.
        conn.execute(sa.update(schema.schema_version).values(version=MIGRATIONS.index(_v10_device_links)))
    storage.dispose()
    upgraded = Storage(url)
    assert upgraded.migrate() == len(MIGRATIONS)
    with upgraded.reading() as conn:
        assert current_version(conn) == len(MIGRATIONS)
        model = fleet.current(conn, Entity.DEVICE_MODELS, "pda-s1")
    assert model is not None
    assert model["link"] == "aoa-agent"
    upgraded.dispose()


def test_ok__an_operator_edits_a_models_link_and_a_rename_keeps_it(sqlite_fleet: Fleet) -> None:
    client = sqlite_fleet.client
    operator = sqlite_fleet.as_role(Role.OPERATOR)
    made = client.post(
        "/v1/admin/device-models",
        json={"id": "pda-z1", "name": "Z1", "slot_type": "pda-standard", "link": "adb"},
        headers=operator,
    )
    assert made.json()["link"] == "adb"
    renamed = client.patch("/v1/admin/device-models/pda-z1", json={"name": "Z1 stock"}, headers=operator)
    assert (renamed.json()["name"], renamed.json()["link"]) == ("Z1 stock", "adb")
    refused = client.patch("/v1/admin/device-models/pda-z1", json={"link": "usb"}, headers=operator)
    assert refused.status_code == 422  # a body the API's model refuses (its Refusal names the field)
    assert "link" in refused.text
