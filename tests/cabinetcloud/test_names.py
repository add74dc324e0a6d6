"""Names in every language: the seed's two forms, what it refuses, the migration of an older database,
and the change feed and snapshot carrying `names` beside the plain `name`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from cabinetcloud import fleet, schema
from cabinetcloud.seed import SeedError, seed_file
from cabinetcloud.storage import MIGRATIONS, Storage, current_version
from cabinetd.ledger import Ledger
from cabinetproto.wire import Entity
from testbed import cloudharness

MODEL = '[[device_models]]\nid = "m1"\nslot_type = "pda-standard"\n'


def test_ok__the_demo_fleet_names_its_work_types_and_models_in_english_and_chinese(storage: Storage) -> None:
    cloudharness.seeded(storage)
    with storage.reading() as conn:
        pricing = fleet.current(conn, Entity.WORK_TYPES, "price-tags")
        rugged = fleet.current(conn, Entity.DEVICE_MODELS, "pda-r1")
    assert pricing is not None
    assert rugged is not None
    assert (pricing["name"], pricing["names"]) == ("Price tags", {"en": "Price tags", "zh-CN": "价签"})
    assert rugged["name"] == "Rugged handheld R1"
    assert rugged["names"] == {"en": "Rugged handheld R1", "zh-CN": "加固手持终端 R1"}


def test_ok__a_plain_name_is_still_accepted_and_the_first_language_is_the_plain_name(
    sqlite_storage: Storage, tmp_path: Path
) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(
        f'{MODEL}name = "Plain"\n[[device_models]]\nid = "m2"\nslot_type = "x"\n'
        'name = { zh-CN = "扫描枪", en = "Scanner" }\n'
    )
    seed_file(path, sqlite_storage.writing)
    with sqlite_storage.reading() as conn:
        plain = fleet.current(conn, Entity.DEVICE_MODELS, "m1")
        both = fleet.current(conn, Entity.DEVICE_MODELS, "m2")
    assert plain is not None
    assert both is not None
    assert (plain["name"], plain["names"]) == ("Plain", {})
    assert (both["name"], both["names"]) == ("扫描枪", {"zh-CN": "扫描枪", "en": "Scanner"})
    # The same file again changes nothing, names included.
    assert seed_file(path, sqlite_storage.writing).changed == {}


@pytest.mark.parametrize(
    ("name", "line"),
    [
        ('{ zh_CN = "价签" }', "language tag 'zh_CN' is not of the form 'en', 'zh-CN' or 'zh-Hans'"),
        ('{ english = "Price tags" }', "language tag 'english' is not of the form 'en', 'zh-CN' or 'zh-Hans'"),
        ('{ en = "Price tags", zh-CN = "" }', "the zh-CN name is empty"),
        ('{ en = "  " }', "the en name is empty"),
        ("{}", 'needs at least one language, e.g. { en = "Price tags" }'),
        ('""', "must not be empty"),
        ("12", 'must be a string or a table of names by language, e.g. { en = "Price tags", zh-CN = "价签" }'),
        ("{ en = 3 }", 'must be a string or a table of names by language, e.g. { en = "Price tags", zh-CN = "价签" }'),
    ],
)
def test_fail__a_bad_name_is_refused_naming_the_entry(
    sqlite_storage: Storage, tmp_path: Path, name: str, line: str
) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(f"{MODEL}name = {name}\n")
    with pytest.raises(SeedError) as caught:
        seed_file(path, sqlite_storage.writing)
    assert caught.value.lines == [f"{path}: device_models[0] (id 'm1'): name: {line}"]


def test_fail__a_work_type_name_is_checked_the_same_way(sqlite_storage: Storage, tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(
        '[[work_types]]\nid = "w"\nname = { ZH = "价签" }\nbattery_threshold = 10\n'
        'rental_limit_minutes = 60\ndevice_models = ["pda-s1"]\n'
    )
    with pytest.raises(SeedError) as caught:
        seed_file(path, sqlite_storage.writing)
    assert caught.value.lines == [
        f"{path}: work_types[0] (id 'w'): name: language tag 'ZH' is not of the form 'en', 'zh-CN' or 'zh-Hans'"
    ]


def test_ok__the_change_feed_and_the_snapshot_carry_names(storage: Storage) -> None:
    cloudharness.seeded(storage)
    with storage.reading() as conn:
        page = fleet.changes_after(conn, 0, 100, "demo")
        snapshot = fleet.snapshot(conn, "demo")
    for ops in (page.ops, snapshot.ops):
        by_id = {(op.entity, op.id): op.data for op in ops}
        pricing = by_id[Entity.WORK_TYPES, "price-tags"]
        model = by_id[Entity.DEVICE_MODELS, "pda-s1"]
        assert pricing is not None
        assert model is not None
        assert (pricing["name"], pricing["names"]) == ("Price tags", {"en": "Price tags", "zh-CN": "价签"})
        assert model["names"]["zh-CN"] == "标准手持终端 S1"


def test_ok__a_database_of_schema_version_2_gains_names_and_keeps_its_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    storage = cloudharness.seeded(cloudharness.migrated(url))
    # What a cloud of schema version 2 left: no names columns.
    with storage.writing() as conn:
        for table in ("work_types", "device_models"):
            conn.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN names")
        conn.execute(sa.update(schema.schema_version).values(version=2))
    storage.dispose()
    upgraded = Storage(url)
    assert upgraded.migrate() == len(MIGRATIONS) >= 3
    with upgraded.reading() as conn:
        assert current_version(conn) == len(MIGRATIONS)
        row = conn.execute(sa.select(schema.work_types).where(schema.work_types.c.id == "price-tags")).mappings().one()
    assert (row["name"], json.loads(row["names"])) == ("Price tags", {})
    # Seeding the demo fleet again fills them in, as changes the cabinets receive.
    assert cloudharness.seeded(upgraded) is upgraded
    with upgraded.reading() as conn:
        pricing = fleet.current(conn, Entity.WORK_TYPES, "price-tags")
    assert pricing is not None
    assert pricing["names"]["zh-CN"] == "价签"
    upgraded.dispose()


def test_ok__a_cabinet_applying_the_feed_keeps_the_names(sqlite_storage: Storage, ledger: Ledger) -> None:
    cloudharness.seeded(sqlite_storage)
    with sqlite_storage.reading() as conn:
        page = fleet.changes_after(conn, 0, 100, "demo")
    ledger.apply_replica(page.ops, page.cursor)
    work_type = ledger.work_type("stock-taking")
    model = ledger.device_model("pda-s1")
    assert work_type is not None
    assert model is not None
    assert (work_type.name, work_type.names) == ("Stock-taking", {"en": "Stock-taking", "zh-CN": "盘点"})
    assert (model.name, model.names["zh-CN"]) == ("Standard handheld S1", "标准手持终端 S1")
