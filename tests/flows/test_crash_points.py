"""Every point where a crash can cut a rent or a return short, each played once on its own, with the
stateful model's checks after it (test_stateful.py mixes them with everything else, at random, and may
not reach each one in its fixed CI days); and the holes the model found, each reduced to its steps.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cabinetd.sim.handheld import LinkFault
from tests.flows.cabinet_day import ANNA
from tests.flows.cabinet_faults import RENT_CRASHES, RETURN_CRASHES
from tests.flows.test_stateful import CabinetDay

# A cabinet started for each test, and a rent or two on it: whole-daemon runs.
pytestmark = pytest.mark.slow


@pytest.fixture
def day() -> Iterator[CabinetDay]:
    played = CabinetDay()
    try:
        played.open_the_cabinet()
        yield played
    finally:
        played.teardown()


def sound(day: CabinetDay) -> None:
    """The stateful model's invariants, as it checks them after every step."""
    day.idle()
    day.every_release_follows_a_committed_authorisation()
    day.no_device_in_two_rentals_and_no_one_over_the_limit()
    day.slots_agree_with_the_hardware_and_the_ledger()
    day.every_open_rentals_device_is_out_of_the_cabinet()
    day.the_chain_holds()


def rented(day: CabinetDay) -> str:
    """Anna rents and takes a device, with no crash; the serial she holds."""
    day.run(day.rent_cut_short("anna", ANNA, "after the door closed"))
    sound(day)
    held = day.rig.ledger.held_by("anna")
    assert [r.device for r in held] == [serial for serial, who in day.pocket.items() if who == "anna"]
    return held[0].device


@pytest.mark.parametrize("point", RENT_CRASHES)
def test_ok__a_crash_at_any_point_of_a_rent_leaves_a_sound_cabinet(day: CabinetDay, point: str) -> None:
    day.run(day.rent_cut_short("anna", ANNA, point))
    sound(day)
    out = {serial for serial, who in day.pocket.items() if who == "anna"}
    assert {r.device for r in day.rig.ledger.held_by("anna")} == out


@pytest.mark.parametrize("point", RETURN_CRASHES)
def test_ok__a_crash_at_any_point_of_a_return_leaves_a_sound_cabinet(day: CabinetDay, point: str) -> None:
    device = rented(day)
    day.run(day.return_cut_short("anna", ANNA, point))
    sound(day)
    still_out = device in day.pocket
    assert [r.device for r in day.rig.ledger.held_by("anna")] == ([device] if still_out else [])


def test_ok__a_device_put_back_while_the_cabinet_was_down_is_off_its_rental(day: CabinetDay) -> None:
    day.run(day.rent_cut_short("anna", ANNA, "after device_rented, put back while down"))
    day.every_open_rentals_device_is_out_of_the_cabinet()


def test_ok__a_silent_device_returned_to_a_hub_that_cannot_switch_power_is_judged_faulty(
    day: CabinetDay,
) -> None:
    device = rented(day)
    for slot in day.controller.slots:
        day.hub_switching(slot, "none")
    handheld = day.rig.sim.handheld(device)
    handheld.fault = LinkFault.SILENT
    handheld.usb.make_unresponsive(survives_power_cycle=True)  # silent at the USB level: a power cycle is due
    day.run(day.return_cut_short("anna", ANNA, "no crash"))  # settles: every inspection has ended
    sound(day)
    assert [n for n in day.controller.slots if day.rig.sim.holds(n) is handheld] != []
    assert {day.slot_state(n) for n in day.controller.slots if day.rig.sim.holds(n) is handheld} == {"faulty"}
