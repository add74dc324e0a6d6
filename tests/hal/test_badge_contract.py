"""The BadgeReader contract, run over every reader kind and id form against a pty reader speaking its
protocol."""

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
CARD = 0x5900B47B4F  # version byte 59, card number 00B47B4F, printed 0011828047 180,31567

# The id each form gives for CARD (every reader kind tells its version byte when sent in hex or as an
# rdm6300 frame) and for BADGE_A (a decimal line reader's 1234567 has no version byte to show).
ID_FORMS: dict[str, tuple[str, str]] = {
    "decimal": ("0011828047", "0001234567"),
    "hex8": ("00B47B4F", "0012D687"),
    "hex10": ("5900B47B4F", "000012D687"),
    "wiegand26": ("180,31567", "018,54919"),
}


@pytest.fixture(params=sorted(READERS))
def reader(request: pytest.FixtureRequest) -> dict[str, Any]:
    return READERS[request.param]


async def test_ok__one_canonical_id_per_badge(reader: dict[str, Any]) -> None:
    async with reader_rig(reader) as rig:
        rig.sim.present(BADGE_A)
        read = await rig.events.next(BadgeRead)
        assert read == BadgeRead(badge="0001234567", reader="/dev/cabinet-badge")
        rig.clock.advance(10)
        rig.sim.present(BADGE_B)
        assert (await rig.events.next(BadgeRead)).badge == "3808980205"
        assert rig.counters() == {"good": 2, "bad": 0, "repeats": 0}


async def test_ok__same_badge_within_window_is_one_read(reader: dict[str, Any]) -> None:
    async with reader_rig(reader) as rig:
        rig.sim.present(BADGE_A)
        await rig.events.next(BadgeRead)
        rig.clock.advance(1.9)
        rig.sim.present(BADGE_A)
        rig.sim.present(BADGE_B)  # the next read after the repeat is B: the repeat was merged
        assert (await rig.events.next(BadgeRead)).badge == "3808980205"
        assert rig.counters() == {"good": 2, "bad": 0, "repeats": 1}


async def test_ok__same_badge_after_window_is_two_reads(reader: dict[str, Any]) -> None:
    async with reader_rig(reader) as rig:
        rig.sim.present(BADGE_A)
        await rig.events.next(BadgeRead)
        rig.clock.advance(2.0)
        rig.sim.present(BADGE_A)
        assert (await rig.events.next(BadgeRead)).badge == "0001234567"
        assert rig.counters()["good"] == 2


async def test_ok__badge_held_on_the_reader_is_one_read(reader: dict[str, Any]) -> None:
    async with reader_rig(reader) as rig:
        rig.sim.present(BADGE_A, frames=5)
        rig.sim.present(BADGE_B)
        assert (await rig.events.next(BadgeRead)).badge == "0001234567"
        assert (await rig.events.next(BadgeRead)).badge == "3808980205"
        assert rig.counters() == {"good": 2, "bad": 0, "repeats": 4}


async def test_ok__state_is_connected_with_counters(reader: dict[str, Any]) -> None:
    async with reader_rig(reader) as rig:
        state = rig.reader.state()
        assert state.part == "badge reader /dev/cabinet-badge"
        assert state.connected
        assert state.detail == ""
        assert dict(state.counters) == {"good": 0, "bad": 0, "repeats": 0}


@pytest.mark.parametrize("form", sorted(ID_FORMS))
async def test_ok__one_id_per_card_in_the_configured_form(reader: dict[str, Any], form: str) -> None:
    async with reader_rig({**reader, "id_form": form}) as rig:
        rig.sim.present(CARD)
        assert await rig.events.next(BadgeRead) == BadgeRead(ID_FORMS[form][0], "/dev/cabinet-badge")
        rig.sim.present(BADGE_A)
        told_version = not (reader["type"] == "serial-line" and reader["number_format"] == "decimal")
        expected = ID_FORMS[form][1] if told_version or form != "hex10" else "0012D687"
        assert (await rig.events.next(BadgeRead)).badge == expected
