"""The BadgeReader contract, run over every reader kind against a pty reader speaking its protocol."""

from __future__ import annotations

from typing import Any

import pytest

from cabinetd.hal.base import BadgeRead
from testbed.badgerig import reader_rig

READERS: dict[str, dict[str, Any]] = {
    "rdm6300": {"type": "rdm6300"},
    "serial-line-hex": {"type": "serial-line", "number_format": "hex"},
    "serial-line-decimal": {
        "type": "serial-line",
        "number_format": "decimal",
        "strip_prefix": "ID:",
        "strip_suffix": ";",
    },
}

BADGE_A = 0x0012D687
BADGE_B = 0x62E3086CED


@pytest.fixture(params=sorted(READERS))
def reader(request: pytest.FixtureRequest) -> dict[str, Any]:
    return READERS[request.param]


async def test_ok__one_canonical_id_per_badge(reader: dict[str, Any]) -> None:
    async with reader_rig(reader) as rig:
        rig.sim.present(BADGE_A)
        read = await rig.events.next(BadgeRead)
        assert read == BadgeRead(badge="12D687", reader="/dev/cabinet-badge")
        rig.clock.advance(10)
        rig.sim.present(BADGE_B)
        assert (await rig.events.next(BadgeRead)).badge == "62E3086CED"
        assert rig.counters() == {"good": 2, "bad": 0, "repeats": 0}


async def test_ok__same_badge_within_window_is_one_read(reader: dict[str, Any]) -> None:
    async with reader_rig(reader) as rig:
        rig.sim.present(BADGE_A)
        await rig.events.next(BadgeRead)
        rig.clock.advance(1.9)
        rig.sim.present(BADGE_A)
        rig.sim.present(BADGE_B)  # the next read after the repeat is B: the repeat was merged
        assert (await rig.events.next(BadgeRead)).badge == "62E3086CED"
        assert rig.counters() == {"good": 2, "bad": 0, "repeats": 1}


async def test_ok__same_badge_after_window_is_two_reads(reader: dict[str, Any]) -> None:
    async with reader_rig(reader) as rig:
        rig.sim.present(BADGE_A)
        await rig.events.next(BadgeRead)
        rig.clock.advance(2.0)
        rig.sim.present(BADGE_A)
        assert (await rig.events.next(BadgeRead)).badge == "12D687"
        assert rig.counters()["good"] == 2


async def test_ok__badge_held_on_the_reader_is_one_read(reader: dict[str, Any]) -> None:
    async with reader_rig(reader) as rig:
        rig.sim.present(BADGE_A, frames=5)
        rig.sim.present(BADGE_B)
        assert (await rig.events.next(BadgeRead)).badge == "12D687"
        assert (await rig.events.next(BadgeRead)).badge == "62E3086CED"
        assert rig.counters() == {"good": 2, "bad": 0, "repeats": 4}


async def test_ok__state_is_connected_with_counters(reader: dict[str, Any]) -> None:
    async with reader_rig(reader) as rig:
        state = rig.reader.state()
        assert state.part == "badge reader /dev/cabinet-badge"
        assert state.connected
        assert state.detail == ""
        assert dict(state.counters) == {"good": 0, "bad": 0, "repeats": 0}
