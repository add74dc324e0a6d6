"""Badge reader faults: garbage, bad checksums, a reader unplugged and plugged back, a missing reader."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cabinetd.hal.base import BadgeRead, PartStateChanged
from cabinetd.hal.drivers import build_badge_reader
from testbed.badgerig import badge_config, reader_rig
from testbed.recorder import EventRecorder

RDM6300: dict[str, Any] = {"type": "rdm6300"}
LINE_HEX: dict[str, Any] = {"type": "serial-line", "number_format": "hex"}
BADGE = 0x0012D687


async def test_fail__bad_checksum_is_dropped_and_counted() -> None:
    async with reader_rig(RDM6300) as rig:
        rig.sim.send_bad_checksum(0x62E3086CED)
        rig.sim.present(BADGE)
        assert (await rig.events.next(BadgeRead)).badge == "0001234567"
        assert rig.counters() == {"good": 1, "bad": 1, "repeats": 0}
        assert rig.events.of(BadgeRead) == [BadgeRead("0001234567", "/dev/cabinet-badge")]


@pytest.mark.parametrize("reader", [RDM6300, LINE_HEX], ids=["rdm6300", "serial-line"])
async def test_fail__garbage_is_dropped_and_counted(reader: dict[str, Any]) -> None:
    async with reader_rig(reader) as rig:
        rig.sim.send_garbage(64, seed=7)
        rig.sim.present(BADGE)
        assert (await rig.events.next(BadgeRead)).badge == "0001234567"
        counters = rig.counters()
        assert counters["good"] == 1
        assert counters["bad"] >= 1
        assert len(rig.events.of(BadgeRead)) == 1


async def test_fail__line_that_is_not_a_number_is_counted() -> None:
    async with reader_rig(LINE_HEX) as rig:
        rig.sim.send(b"HELLO\r\n" + b"7" * 100 + b"\r\n")
        rig.sim.present(BADGE)
        assert (await rig.events.next(BadgeRead)).badge == "0001234567"
        assert rig.counters() == {"good": 1, "bad": 2, "repeats": 0}


@pytest.mark.parametrize("reader", [RDM6300, LINE_HEX], ids=["rdm6300", "serial-line"])
async def test_fail__reader_unplugged_and_plugged_back(reader: dict[str, Any]) -> None:
    async with reader_rig(reader) as rig:
        connected_since = rig.reader.state().since
        rig.sim.unplug()
        gone = await rig.connection(False)
        assert gone.part == "badge reader /dev/cabinet-badge"
        assert gone.detail.startswith("read failed: ")
        state = rig.reader.state()
        assert not state.connected
        assert state.since >= connected_since
        # Reopened every reader_reopen_s while it is away: the detail follows the latest attempt.
        await asyncio.sleep(0.3)
        assert rig.reader.state().detail.startswith("cannot open: ")
        assert rig.reader.state().since == state.since

        rig.sim.plug()
        await rig.connection(True)
        assert rig.reader.state().connected
        rig.sim.present(BADGE)
        assert (await rig.events.next(BadgeRead)).badge == "0001234567"
        # One event each way, however many reopen attempts failed in between.
        changes = [event.connected for event in rig.events.of(PartStateChanged)]
        assert changes == [True, False, True]


async def test_fail__reader_missing_at_start_is_waited_for() -> None:
    async with reader_rig(RDM6300, plugged=False) as rig:
        gone = await rig.connection(False)
        assert gone.detail.startswith("cannot open: ")
        assert not rig.reader.state().connected
        rig.sim.plug()
        await rig.connection(True)
        rig.sim.present(BADGE)
        assert (await rig.events.next(BadgeRead)).badge == "0001234567"


async def test_fail__unopenable_port_leaves_the_daemon_running() -> None:
    config = badge_config({"type": "rdm6300", "port": "/nonexistent/badge"})
    events = EventRecorder()
    reader = build_badge_reader(config, events)
    await reader.prepare()
    task = asyncio.create_task(reader.run())
    try:
        gone = await events.next(PartStateChanged)
        assert gone == PartStateChanged(
            "badge reader /nonexistent/badge",
            False,
            "cannot open: [Errno 2] could not open port /nonexistent/badge: "
            "[Errno 2] No such file or directory: '/nonexistent/badge'",
        )
        await asyncio.sleep(0.3)
        assert not task.done()
    finally:
        task.cancel()
        await reader.cleanup()


async def test_fail__a_card_whose_number_is_zero_is_dropped_and_counted() -> None:
    # Version byte 59 and card number 0: the printed form has nothing to show, as a read of nothing.
    async with reader_rig({**RDM6300, "id_form": "decimal"}) as rig:
        rig.sim.present(0x5900000000)
        rig.sim.present(BADGE)
        assert (await rig.events.next(BadgeRead)).badge == "0001234567"
        assert rig.counters() == {"good": 1, "bad": 1, "repeats": 0}
