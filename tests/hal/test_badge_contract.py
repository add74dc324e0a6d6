"""The BadgeReader contract, run over every reader kind and id form against a pty reader speaking its
protocol as real readers do (a decimal line reader prints only the card number, a facility,card
reader only the low 24 bits)."""

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
    "serial-line-wiegand26": {"type": "serial-line", "number_format": "wiegand26"},
}

BADGE_A = 0x0012D687
BADGE_B = 0x62E3086CED
CARD = 0x5900B47B4F  # version byte 59, card number 00B47B4F, printed 0011828047 180,31567

# reader -> the default (decimal) ids of BADGE_A and BADGE_B
DEFAULT_IDS: dict[str, tuple[str, str]] = {
    "rdm6300": ("0001234567", "3808980205"),
    "serial-line-hex": ("0001234567", "3808980205"),
    "serial-line-decimal": ("0001234567", "3808980205"),
    "serial-line-wiegand26": ("018,54919", "008,27885"),  # all the reader tells, whatever the form
}

# reader -> form -> CARD's id. A form wider than what the reader tells shows what it has.
FORM_IDS: dict[str, dict[str, str]] = {
    "rdm6300": {"decimal": "0011828047", "hex8": "00B47B4F", "hex10": "5900B47B4F", "wiegand26": "180,31567"},
    "serial-line-hex": {
        "decimal": "0011828047", "hex8": "00B47B4F", "hex10": "5900B47B4F", "wiegand26": "180,31567"
    },
    "serial-line-decimal": {
        "decimal": "0011828047", "hex8": "00B47B4F", "hex10": "00B47B4F", "wiegand26": "180,31567"
    },
    "serial-line-wiegand26": {
        "decimal": "180,31567", "hex8": "180,31567", "hex10": "180,31567", "wiegand26": "180,31567"
    },
}


@pytest.fixture(params=sorted(READERS))
def reader_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def reader(reader_name: str) -> dict[str, Any]:
    return READERS[reader_name]


async def test_ok__one_canonical_id_per_badge(reader: dict[str, Any], reader_name: str) -> None:
    id_a, id_b = DEFAULT_IDS[reader_name]
    async with reader_rig(reader) as rig:
        rig.sim.present(BADGE_A)
        read = await rig.events.next(BadgeRead)
        assert read == BadgeRead(badge=id_a, reader="/dev/cabinet-badge")
        rig.clock.advance(10)
        rig.sim.present(BADGE_B)
        assert (await rig.events.next(BadgeRead)).badge == id_b
        assert rig.counters() == {"good": 2, "bad": 0, "repeats": 0}


async def test_ok__same_badge_within_window_is_one_read(reader: dict[str, Any], reader_name: str) -> None:
    async with reader_rig(reader) as rig:
        rig.sim.present(BADGE_A)
        await rig.events.next(BadgeRead)
        rig.clock.advance(1.9)
        rig.sim.present(BADGE_A)
        rig.sim.present(BADGE_B)  # the next read after the repeat is B: the repeat was merged
        assert (await rig.events.next(BadgeRead)).badge == DEFAULT_IDS[reader_name][1]
        assert rig.counters() == {"good": 2, "bad": 0, "repeats": 1}


async def test_ok__same_badge_after_window_is_two_reads(reader: dict[str, Any], reader_name: str) -> None:
    async with reader_rig(reader) as rig:
        rig.sim.present(BADGE_A)
        await rig.events.next(BadgeRead)
        rig.clock.advance(2.0)
        rig.sim.present(BADGE_A)
        assert (await rig.events.next(BadgeRead)).badge == DEFAULT_IDS[reader_name][0]
        assert rig.counters()["good"] == 2


async def test_ok__badge_held_on_the_reader_is_one_read(reader: dict[str, Any], reader_name: str) -> None:
    async with reader_rig(reader) as rig:
        rig.sim.present(BADGE_A, frames=5)
        rig.sim.present(BADGE_B)
        assert (await rig.events.next(BadgeRead)).badge == DEFAULT_IDS[reader_name][0]
        assert (await rig.events.next(BadgeRead)).badge == DEFAULT_IDS[reader_name][1]
        assert rig.counters() == {"good": 2, "bad": 0, "repeats": 4}


async def test_ok__state_is_connected_with_counters(reader: dict[str, Any]) -> None:
    async with reader_rig(reader) as rig:
        state = rig.reader.state()
        assert state.part == "badge reader /dev/cabinet-badge"
        assert state.connected
        assert state.detail == ""
        assert dict(state.counters) == {"good": 0, "bad": 0, "repeats": 0}


@pytest.mark.parametrize("form", ["decimal", "hex8", "hex10", "wiegand26"])
async def test_ok__one_id_per_card_in_the_configured_form(reader: dict[str, Any], reader_name: str, form: str) -> None:
    async with reader_rig({**reader, "id_form": form}) as rig:
        rig.sim.present(CARD)
        assert await rig.events.next(BadgeRead) == BadgeRead(FORM_IDS[reader_name][form], "/dev/cabinet-badge")
