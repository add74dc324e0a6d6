"""The reading commands against a running simulated cabinet: text for people, --json in its shape."""

from __future__ import annotations

import asyncio
import json
import re
import tomllib
from pathlib import Path

import pytest

from cabinetd.api.control import shapes
from cabinetd.ctl import main
from cabinetd.ctl.client import EXIT_FAILED, EXIT_OK
from cabinetd.ledger import NewEvent
from tests.ctl.conftest import Ctl

USB_ID = "(18d1:2d00|1209:0001)"  # the handheld as itself, or switched to accessory mode


async def test_ok__status_shows_the_cabinet_at_a_glance(ctl: Ctl) -> None:
    said = await ctl("status")
    assert said.code == EXIT_OK, said.err
    lines = said.out.splitlines()
    assert lines[0] == "cabinet      sim-1 (store demo, simulated)"
    assert lines[1].startswith("software     cabinetd 0.1.0, up ")
    assert lines[2:8] == [
        "cloud        offline: sync is not configured",
        f"pending      {ctl.rig.ledger.pending_count()} events not yet acknowledged by the cloud",
        "last sync    never",
        "clock skew   unknown",
        "renting      allowed",
        "stalled      none",
    ]
    assert lines[8].startswith("reader       badge reader sim://badge: connected since ")
    assert lines[9].startswith("lock boards  bus/lockbus: connected since ")
    assert lines[10].startswith("             lockboard/lockbus/0: connected since ")
    assert lines[11].startswith("USB hubs     USB hub 1-1: connected since ")
    assert lines[12].startswith("             USB hub 1-2: connected since ")
    assert lines[13] == "slots        8 slots: 4 empty, 4 ready"
    assert said.err == ""


async def test_ok__status_json_has_its_documented_shape(ctl: Ctl) -> None:
    said = await ctl("status", "--json")
    assert said.code == EXIT_OK
    status = shapes.Status.model_validate_json(said.out)
    assert (status.cabinet_id, status.online, status.sync) == ("sim-1", False, "not configured")
    assert status.last_sync_at is None
    assert status.pending_events == ctl.rig.ledger.pending_count()
    assert status.slot_counts == {"empty": 4, "ready": 4}
    first = status.slots[0].model_dump()
    assert first == {
        "slot": 1, "slot_type": "pda-standard", "state": "ready", "device": "SIM0001", "battery": 80,
        "health": "good", "door": "closed", "lock": "locked", "alarms": [],
    }
    assert [p.part for p in status.readers] == ["badge reader sim://badge"]
    assert [p.part for p in status.boards] == ["bus/lockbus", "lockboard/lockbus/0"]


async def test_ok__the_global_json_flag_works_before_the_command_too(ctl: Ctl) -> None:
    said = await ctl("--json", "slots")
    assert said.code == EXIT_OK
    assert len(shapes.SlotList.model_validate_json(said.out).slots) == 8


async def test_ok__slots_is_one_table(ctl: Ctl) -> None:
    said = await ctl("slots")
    assert said.code == EXIT_OK
    assert said.out == (
        "SLOT  TYPE          STATE  DEVICE   BATTERY  HEALTH  DOOR    LOCK    ALARMS\n"
        "   1  pda-standard  ready  SIM0001      80%  good    closed  locked  -\n"
        "   2  pda-standard  empty  -              -  -       closed  locked  -\n"
        "   3  pda-standard  ready  SIM0003      80%  good    closed  locked  -\n"
        "   4  pda-standard  empty  -              -  -       closed  locked  -\n"
        "   5  pda-rugged    ready  SIM0005      80%  good    closed  locked  -\n"
        "   6  pda-rugged    empty  -              -  -       closed  locked  -\n"
        "   7  pda-rugged    ready  SIM0007      80%  good    closed  locked  -\n"
        "   8  pda-rugged    empty  -              -  -       closed  locked  -\n"
    )


async def test_ok__one_slot_in_detail_with_its_last_events(ctl: Ctl) -> None:
    said = await ctl("slot", "5")
    assert said.code == EXIT_OK
    head, events = said.out.split("\nlast events\n")
    # The handheld shows up under the agent's own ids or, once switched, as an accessory: either is right.
    assert re.fullmatch(
        "slot    5 \\(module B, pda-rugged\\)\n"
        "state   ready\n"
        "device  SIM0005 \\(pda-r1\\), battery 80%, charging, health good\n"
        "door    closed, lock locked\n"
        "alarms  none\n"
        f"usb     port 1-2.1, power on, {USB_ID} SIM0005\n",
        head,
    )
    assert events.splitlines()[0].split() == ["SEQ", "TIME", "TYPE", "SLOT", "DEVICE", "STAFF", "DETAILS"]
    detail = shapes.SlotDetail.model_validate_json((await ctl("slot", "5", "--json")).out)
    assert {e.slot for e in detail.events} == {5}
    moves = [e.payload for e in detail.events if e.type == "slot_state_changed"]
    assert moves[-1]["to"] == "ready"


async def test_fail__a_slot_that_does_not_exist(ctl: Ctl) -> None:
    said = await ctl("slot", "9")
    assert (said.code, said.out) == (EXIT_FAILED, "")
    assert said.err == "cabinetctl: no slot 9 (slots: 1, 2, 3, 4, 5, 6, 7, 8)\n"


async def test_ok__usb_list(ctl: Ctl) -> None:
    said = await ctl("usb", "list")
    assert said.code == EXIT_OK
    table, hubs = said.out.split("\n\n")
    assert [re.sub(USB_ID, "VVVV:PPPP", row) for row in table.splitlines()] == [
        "SLOT  PORT   POWER  DEVICE",
        "   1  1-1.1  on     VVVV:PPPP SIM0001",
        "   2  1-1.2  on     -",
        "   3  1-1.3  on     VVVV:PPPP SIM0003",
        "   4  1-1.4  on     -",
        "   5  1-2.1  on     VVVV:PPPP SIM0005",
        "   6  1-2.2  on     -",
        "   7  1-2.3  on     VVVV:PPPP SIM0007",
        "   8  1-2.4  on     -",
    ]
    assert hubs.startswith("hubs  USB hub 1-1: connected since ")
    listed = shapes.UsbList.model_validate_json((await ctl("usb", "list", "--json")).out)
    assert listed.ports[0].device is not None
    assert listed.ports[0].device.serial == "SIM0001"


async def test_ok__device_info_asks_the_device(ctl: Ctl) -> None:
    said = await ctl("device", "info", "3")
    assert said.code == EXIT_OK
    assert said.out == (
        "slot          3\n"
        "serial        SIM0003\n"
        "model         pda-s1 (Simulated)\n"
        "os            11 (SDK 30)\n"
        "agent         1.0.0, protocol 1\n"
        "battery       80%, good, charging\n"
        "storage free  12.0 GiB\n"
        "work type     none\n"
        "health        good\n"
        "last rented   never\n"
    )
    info = shapes.DeviceInfo.model_validate_json((await ctl("device", "info", "3", "--json")).out)
    assert (info.serial, info.sdk_int) == ("SIM0003", 30)


async def test_fail__device_info_of_an_empty_slot_names_slot_and_cause(ctl: Ctl) -> None:
    said = await ctl("device", "info", "2")
    assert said.code == EXIT_FAILED
    assert said.err.startswith("cabinetctl: slot 2, device unknown: no device")
    assert said.err.count("\n") == 1


async def test_ok__ledger_tail_and_its_json(ctl: Ctl) -> None:
    said = await ctl("ledger", "tail", "-n", "3")
    assert said.code == EXIT_OK
    rows = said.out.splitlines()
    assert rows[0].split() == ["SEQ", "TIME", "TYPE", "SLOT", "DEVICE", "STAFF", "DETAILS"]
    last = ctl.rig.ledger.tail(3)
    assert [row.split()[0] for row in rows[1:]] == [str(e.seq) for e in last]
    listed = shapes.EventList.model_validate_json((await ctl("ledger", "tail", "-n", "3", "--json")).out)
    assert [e.hash for e in listed.events] == [e.hash for e in last]


async def test_ok__ledger_verify_walks_the_chain(ctl: Ctl) -> None:
    said = await ctl("ledger", "verify")
    count = len(ctl.rig.ledger.tail(10_000))
    assert (said.code, said.out) == (EXIT_OK, f"hash chain intact ({count} events)\n")
    verified = shapes.LedgerVerify.model_validate_json((await ctl("ledger", "verify", "--json")).out)
    assert (verified.ok, verified.events, verified.seq) == (True, count, None)


async def test_ok__ledger_export_writes_json_lines_since_a_time(ctl: Ctl, tmp_path: Path) -> None:
    target = tmp_path / "events.jsonl"
    said = await ctl("ledger", "export", "--since", "2000-01-01T00:00Z", str(target))
    count = len(ctl.rig.ledger.tail(10_000))
    assert (said.code, said.out) == (EXIT_OK, f"exported {count} events since 2000-01-01 00:00:00 to {target}\n")
    lines = target.read_text().splitlines()
    assert [shapes.Event.model_validate_json(line).seq for line in lines] == list(range(1, count + 1))
    later = await ctl("ledger", "export", "--since", "2999-01-01", str(target), "--json")
    assert shapes.ExportDone.model_validate_json(later.out).events == 0
    assert target.read_text() == ""


async def test_fail__ledger_export_with_a_since_that_is_no_time(ctl: Ctl, tmp_path: Path) -> None:
    said = await ctl("ledger", "export", "--since", "yesterday", str(tmp_path / "x"))
    assert (said.code, said.err) == (
        2, "cabinetctl: --since: not a time or an age: 'yesterday' (e.g. 2026-11-02T08:00, 12h)\n"
    )


async def test_ok__sync_status_says_when_sync_is_not_configured(ctl: Ctl) -> None:
    said = await ctl("sync", "status")
    assert said.code == EXIT_OK
    pending = ctl.rig.ledger.pending_count()
    assert said.out == (
        "sync     not configured (no cloud.url in the configuration)\n"
        f"pending  {pending} events kept in the ledger\n"
    )
    report = shapes.SyncReport.model_validate_json((await ctl("sync", "status", "--json")).out)
    assert (report.configured, report.state, report.online) == (False, "not configured", False)


async def test_fail__sync_now_without_a_cloud(ctl: Ctl) -> None:
    said = await ctl("sync", "now")
    assert (said.code, said.out) == (EXIT_FAILED, "")
    assert said.err == "cabinetctl: sync is not configured (no cloud.url in the configuration)\n"


async def test_ok__config_show_is_the_merged_config_as_toml(ctl: Ctl) -> None:
    said = await ctl("config", "show")
    assert said.code == EXIT_OK
    shown = tomllib.loads(said.out)
    assert shown["cabinet"]["id"] == "sim-1"
    assert shown["api"]["control_socket"] == str(ctl.socket)
    assert shown["cloud"]["token_file"] == ".state/sim/cloud.token"  # the path, never the file's contents
    as_json = shapes.ConfigShow.model_validate_json((await ctl("config", "show", "--json")).out)
    assert as_json.config == json.loads(json.dumps(shown))


async def test_ok__ledger_tail_follow_prints_new_events_as_they_come(
    ctl: Ctl, capsys: pytest.CaptureFixture[str]
) -> None:
    before = ctl.rig.ledger.tail(1)[0].seq
    capsys.readouterr()
    args = ["--socket", str(ctl.socket), "ledger", "tail", "-n", "2", "-f", "--for", "1.5", "--json"]
    follower = asyncio.create_task(asyncio.to_thread(main, args))
    printed = ""
    while printed.count("\n") < 2:  # the last two events are out: it is following now
        printed += capsys.readouterr().out
        await asyncio.sleep(0.01)
    ctl.rig.controller.core.commit(
        NewEvent("technician_action", {"action": "note", "args": {}, "technician": "test"}, 2)
    )
    assert await follower == EXIT_OK
    printed += capsys.readouterr().out
    events = [shapes.Event.model_validate_json(line) for line in printed.splitlines()]
    assert [e.seq for e in events] == [before - 1, before, before + 1]
    assert events[-1].payload["action"] == "note"


async def test_ok__ledger_tail_follow_for_people_has_fixed_columns(ctl: Ctl) -> None:
    said = await ctl("ledger", "tail", "-n", "1", "-f", "--for", "0.1")
    header, row = said.out.splitlines()
    assert header == "   SEQ  TIME                 TYPE                    SLOT  DEVICE      STAFF       DETAILS"
    assert row.startswith(f"{ctl.rig.ledger.tail(1)[0].seq:>6}  ")


async def test_ok__status_counts_the_frames_sent_to_each_bus_and_lock_board(ctl: Ctl) -> None:
    said = await ctl("status", "--json")
    assert said.code == EXIT_OK
    bus, board = shapes.Status.model_validate_json(said.out).boards
    assert bus.counters["frames"] >= 1
    assert board.counters["frames"] >= 1, "the board's status polls"
    assert set(board.counters) >= {"frames", "unlock_frames", "resends", "unanswered"}
    text = (await ctl("status")).out.splitlines()
    assert re.search(r"^             lockboard/lockbus/0: connected since .*frames \d+", text[10])
