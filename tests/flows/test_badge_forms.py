"""A card at the reader in each id form, against a roster typed from the card in another form: the
frame on the reader's pty, the id the cabinet sees, the roster entry it matches, and the rent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cabinetproto.badges import BADGE_FORMAT, parse_roster
from tests.flows.rig import ROSTER, Rig

CARD = 0x5900B47B4F  # version byte 59, card number 00B47B4F: printed "0011828047 180,31567"

# reader form -> (the id it gives, as technicians see it masked; the roster entry, typed in another form)
FORMS = {
    "decimal": ("******8047", "00B47B4F"),
    "hex8": ("****7B4F", "180,31567"),
    "hex10": ("******7B4F", "0011828047 180,31567"),
    "wiegand26": ("*****1567", "5900B47B4F"),
}


def roster_with_anna(typed: str) -> list[dict[str, Any]]:
    """The flow roster with Anna's badge as the cloud sends it once the seed has normalised `typed`."""
    badge = parse_roster(typed).roster_text()
    return [
        {**op, "data": {**op["data"], "badge": badge, "badge_format": BADGE_FORMAT}} if op["id"] == "anna" else op
        for op in ROSTER
    ]


@pytest.mark.parametrize("form", sorted(FORMS))
async def test_ok__a_card_rents_in_every_reader_form_against_a_roster_typed_in_another(
    tmp_path: Path, form: str
) -> None:
    masked, typed = FORMS[form]
    rig = Rig(tmp_path, id_form=form, roster=roster_with_anna(typed))
    await rig.start()
    try:
        await rig.until(lambda: rig.state(1) in ("ready", "charging"))
        rig.sim.reader.present(CARD)  # the rdm6300 frame, byte for byte, into the reader's pty
        await rig.until(lambda: rig.controller.screen.state.get("step") == "door", within=10)
        seen = rig.cabinet.badges.reads[-1]
        assert (seen.masked, seen.staff, seen.name) == (masked, "anna", "Anna")
        slot = rig.controller.screen.state["slot"]
        assert rig.state(slot) == "dispensing"
        assert [(e.type, e.staff) for e in rig.ledger.tail(100) if e.type == "dispense_started"] == [
            ("dispense_started", "anna")
        ]
    finally:
        await rig.stop()
        rig.sim.close()


async def test_ok__a_card_with_another_version_byte_is_not_the_one_on_the_roster(tmp_path: Path) -> None:
    rig = Rig(tmp_path, id_form="hex10", roster=roster_with_anna("0x5900B47B4F"))
    await rig.start()
    try:
        await rig.until(lambda: rig.state(1) in ("ready", "charging"))
        rig.sim.reader.present(0x5800B47B4F)
        await rig.until(lambda: rig.controller.screen.state.get("view") == "refused")
        assert rig.controller.screen.state["reason"] == "unknown_badge"
        assert rig.cabinet.badges.reads[-1].staff is None
    finally:
        await rig.stop()
        rig.sim.close()
