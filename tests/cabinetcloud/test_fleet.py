"""The seed file, the change feed, the snapshot, compaction, and queued commands."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from cabinetcloud import commands, fleet, schema
from cabinetcloud.__main__ import main
from cabinetcloud.seed import SeedError, seed_file
from cabinetcloud.storage import Storage
from cabinetproto.pins import verify_pin
from cabinetproto.wire import Entity, page_checksum
from testbed import cloudharness


def changes_count(storage: Storage) -> int:
    with storage.reading() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(schema.changes)).scalar_one())


def test_ok__seeding_the_same_file_twice_changes_nothing(storage: Storage, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["seed", "--db", storage.url, str(cloudharness.FLEET_DEMO)]) == 0
    first = changes_count(storage)
    assert first == 21
    assert main(["seed", "--db", storage.url, str(cloudharness.FLEET_DEMO)]) == 0
    assert changes_count(storage) == first
    assert capsys.readouterr().out.splitlines()[-1] == f"seeded {cloudharness.FLEET_DEMO}: changed: nothing"
    with storage.reading() as conn:
        tech = fleet.current(conn, Entity.STAFF, "demo-tech")
    assert tech is not None
    assert verify_pin("246813", tech["pin_hash"])
    assert not verify_pin("1111", tech["pin_hash"])


@pytest.mark.parametrize(
    ("toml", "line"),
    [
        (
            '[[staff]]\nid = "a"\nname = "A"\nbadge = "0000000001"\nstore = "demo"\nwork_type = "nope"\n',
            "staff[0] (id 'a'): work_type: no work type 'nope' (defined: picking, price-tags, stock-taking)",
        ),
        (
            '[[staff]]\nid = "a"\nname = "A"\nbadge = "0000000001"\nstore = "demo"\nwork_type = "picking"\n'
            'role = "technician"\n',
            "staff[0] (id 'a'): pin: required for role 'technician'",
        ),
        (
            '[[staff]]\nid = "a"\nname = "A"\nbadge = "0000000001"\nstore = "demo"\nwork_type = "picking"\n'
            'pin = "123456"\n',
            "staff[0] (id 'a'): pin: only technicians and managers have a PIN",
        ),
        (
            # Anna's card as facility,card: one card, whatever form each entry was typed in.
            '[[staff]]\nid = "a"\nname = "A"\nbadge = "026,11068"\nstore = "demo"\nwork_type = "picking"\n',
            "staff[0] (id 'a'): badge: '026,11068' is already the badge of staff 'demo-anna' (already in the cloud)",
        ),
        (
            '[[staff]]\nid = "a"\nname = "A"\nbadge = "xyz"\nstore = "demo"\nwork_type = "picking"\n',
            "staff[0] (id 'a'): badge: 'xyz' is not a badge id: write the number printed on the card (10 digits, "
            "0011828047), 8 or 10 hex digits (00B47B4F, 5900B47B4F), facility,card (180,31567) or 0x and hex",
        ),
        (
            '[[devices]]\nserial = "d1"\nmodel = "pda-s1"\nstore = "demo"\ncolour = "red"\n',
            "devices[0] (serial 'd1'): colour: unknown key",
        ),
        (
            '[[devices]]\nserial = "d 1"\nmodel = "pda-s1"\nstore = "demo"\n',
            "devices[0] (serial 'd 1'): serial: must be 1-64 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit, got 'd 1'",
        ),
        (
            '[[work_types]]\nid = "w"\nname = "W"\nbattery_threshold = 120\nrental_limit_minutes = 60\n'
            'device_models = ["pda-s1"]\n',
            "work_types[0] (id 'w'): battery_threshold: Input should be less than or equal to 100",
        ),
        (
            '[[cabinets]]\nid = "c1"\nstore = "mars"\n',
            "cabinets[0] (id 'c1'): store: no store 'mars' (defined: demo, north)",
        ),
        (
            '[[stores]]\nid = "s"\nname = "S"\n[[stores]]\nid = "s"\nname = "T"\n',
            "stores[1] (id 's'): id: 's' is already used by stores[0]",
        ),
        ("[[robots]]\nid = 1\n", "robots: unknown key"),
    ],
)
def test_fail__a_seed_error_names_the_table_the_entry_and_the_key(
    sqlite_storage: Storage, tmp_path: Path, toml: str, line: str
) -> None:
    cloudharness.seeded(sqlite_storage)
    path = tmp_path / "fleet.toml"
    path.write_text(toml)
    before = changes_count(sqlite_storage)
    with pytest.raises(SeedError) as caught:
        seed_file(path, sqlite_storage.writing)
    assert caught.value.lines == [f"{path}: {line}"]
    assert changes_count(sqlite_storage) == before


@pytest.mark.parametrize(("role", "pin"), [("technician", "2468"), ("manager", "12345"), ("technician", "123456789")])
def test_fail__a_pin_of_a_role_that_unlocks_slots_has_six_to_eight_digits(
    sqlite_storage: Storage, tmp_path: Path, role: str, pin: str
) -> None:
    # Four digits are searched offline in well under an hour from a copied database (docs/fleet-seed.md).
    path = tmp_path / "fleet.toml"
    entry = f'id = "a"\nname = "A"\nbadge = "0000000001"\nstore = "demo"\nwork_type = "picking"\nrole = "{role}"\n'
    path.write_text(f'[[staff]]\n{entry}pin = "{pin}"\n')
    with pytest.raises(SeedError) as caught:
        seed_file(path, sqlite_storage.writing)
    assert caught.value.lines == [f"{path}: staff[0] (id 'a'): pin: must be 6 to 8 digits"]
    cloudharness.seeded(sqlite_storage)
    path.write_text(f'[[staff]]\n{entry}pin = "135790"\n')
    assert seed_file(path, sqlite_storage.writing).changed == {"staff": 1}


def test_ok__pages_are_complete_and_checksummed_and_a_compacted_cursor_is_gone(storage: Storage) -> None:
    cloudharness.seeded(storage)
    with storage.reading() as conn:
        first = fleet.changes_after(conn, 0, 15, "demo")
        rest = fleet.changes_after(conn, int(first.cursor), 15, "demo")
        snapshot = fleet.snapshot(conn, "demo")
    assert (len(first.ops), first.complete, len(rest.ops), rest.complete) == (15, False, 6, True)
    assert first.checksum == page_checksum(first.ops, first.cursor)
    assert snapshot.cursor == rest.cursor
    assert len(snapshot.ops) == 21
    erik = next(op for op in snapshot.ops if op.id == "north-erik")
    assert erik.data is not None
    assert (erik.data["name"], erik.data["pin_hash"]) == ("", None)
    with storage.writing() as conn:
        fleet.compact(conn, keep=5)
    with storage.reading() as conn, pytest.raises(fleet.CursorGone) as caught:
        fleet.changes_after(conn, 3, 15, "demo")
    assert str(caught.value) == "cursor 3 is older than the compacted history (through 16)"


def test_ok__prune_deletes_what_the_file_no_longer_names(sqlite_storage: Storage, tmp_path: Path) -> None:
    cloudharness.seeded(sqlite_storage)
    smaller = tmp_path / "fleet.toml"
    smaller.write_text(cloudharness.FLEET_DEMO.read_text().replace('serial = "S1-0101"', 'serial = "S1-0102"'))
    report = seed_file(smaller, sqlite_storage.writing, prune=True)
    assert report.text() == "changed: devices 1; removed: devices 1"
    with sqlite_storage.reading() as conn:
        assert fleet.current(conn, Entity.DEVICES, "S1-0101") is None


def test_fail__prune_leaves_no_entry_referring_to_one_it_deletes(sqlite_storage: Storage, tmp_path: Path) -> None:
    cloudharness.seeded(sqlite_storage)
    # The file lists the demo fleet but for the work type 'picking', which its staff still have.
    text = cloudharness.FLEET_DEMO.read_text()
    start = text.index('[[work_types]]\nid = "picking"')
    smaller = tmp_path / "fleet.toml"
    smaller.write_text(text[:start] + text[text.index("[[work_types]]", start + 1) :])
    with pytest.raises(SeedError) as caught:
        seed_file(smaller, sqlite_storage.writing, prune=True)
    assert caught.value.lines[0] == (
        f"{smaller}: staff[1] (id 'demo-bo'): work_type: no work type 'picking' (defined: price-tags, stock-taking)"
    )
    assert seed_file(smaller, sqlite_storage.writing).changed == {}  # without --prune, picking stays


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["reboot"],
            "cabinet-cloud: unknown command kind 'reboot' (known: unlock_slot, disable_slot, enable_slot, "
            "power_cycle_port, reprovision, offer_update)",
        ),
        (["unlock_slot"], "cabinet-cloud: command unlock_slot: missing slot"),
        (["unlock_slot", "slot=two"], "cabinet-cloud: command unlock_slot: slot must be a whole number, got 'two'"),
        (["enable_slot", "slot=2", "reason=x"], "cabinet-cloud: command enable_slot: takes slot, not 'reason'"),
        (["enable_slot", "slot"], "cabinet-cloud: command enable_slot: argument 'slot' is not NAME=VALUE"),
    ],
)
def test_fail__a_bad_command_is_refused_with_its_reason(
    sqlite_storage: Storage, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    cloudharness.seeded(sqlite_storage)
    assert main(["command", "--db", sqlite_storage.url, "--cabinet", "sim-1", *argv]) == 1
    assert capsys.readouterr().err == message + "\n"


def test_ok__a_queued_command_is_listed_for_its_cabinet_only(
    sqlite_storage: Storage, capsys: pytest.CaptureFixture[str]
) -> None:
    cloudharness.seeded(sqlite_storage)
    assert (
        main(
            [
                "command",
                "--db",
                sqlite_storage.url,
                "--cabinet",
                "sim-1",
                "disable_slot",
                "slot=4",
                "reason=jammed door",
            ]
        )
        == 0
    )
    command_id = capsys.readouterr().out.split()[0]
    with sqlite_storage.writing() as conn:
        listed = commands.pending(conn, "sim-1", 0, datetime.now(UTC))
        assert commands.pending(conn, "sim-2", 0, datetime.now(UTC)) == []
    assert [(c.command_id, c.kind, c.args) for c in listed] == [
        (command_id, "disable_slot", {"slot": 4, "reason": "jammed door"})
    ]
