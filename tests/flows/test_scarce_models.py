"""Device choice that keeps back what other work needs, through the real controller: order picking takes
both models, price tags only the standard one, and the cabinet holds one standard and two rugged."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.flows.rig import ROSTER, Rig
from tests.flows.test_flows import ANNA, PIET, rent


def roster_picking_takes_both() -> list[dict[str, object]]:
    roster = copy.deepcopy(ROSTER)
    for op in roster:
        if op["entity"] == "work_types" and op["id"] == "picking":
            op["data"]["device_models"] = ["pda-s1", "pda-r1"]
    return roster


@pytest.fixture
async def scarce(tmp_path: Path) -> AsyncIterator[Rig]:
    rig = Rig(tmp_path, occupied=[1, 5, 7], roster=roster_picking_takes_both())  # 1 standard, 5 and 7 rugged
    await rig.start()
    await rig.until(lambda: all(rig.state(n) == "ready" for n in (1, 5, 7)), within=10)
    yield rig
    await rig.stop()
    rig.sim.close()


async def test_ok__the_picker_takes_a_rugged_device_and_price_tags_still_get_the_standard_one(scarce: Rig) -> None:
    picked = await rent(scarce, PIET)
    assert picked in (5, 7)  # by battery and slot order alone it would have been slot 1
    assert scarce.state(1) == "ready"
    priced = await rent(scarce, ANNA)
    assert priced == 1
    held = {rental.staff: rental.device for rental in scarce.ledger.open_rentals()}
    assert held == {"piet": f"SIM{picked:04d}", "anna": "SIM0001"}
    assert "rent_refused" not in scarce.events()
