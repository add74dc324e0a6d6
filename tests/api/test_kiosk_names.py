"""The kiosk's document names work types in every language the roster gives: `names` on each ready
count and `work_type_names` in the session, beside the plain names an older page or cloud uses."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cabinetd.api.kiosk import kiosk_model
from tests.flows.rig import ROSTER, Rig
from tests.flows.test_flows import ANNA, screen

PRICE_TAGS = {"en": "Price tags", "zh-CN": "价签"}


def roster_with_names() -> list[dict[str, Any]]:
    roster = copy.deepcopy(ROSTER)
    for op in roster:
        if op["entity"] == "work_types" and op["id"] == "price-tags":
            op["data"]["names"] = PRICE_TAGS
    return roster


@pytest.fixture
async def named(tmp_path: Path) -> AsyncIterator[Rig]:
    rig = Rig(tmp_path, roster=roster_with_names())
    await rig.start()
    await rig.until(lambda: all(rig.state(n) in ("ready", "charging") for n in (1, 3, 5, 7)))
    yield rig
    await rig.stop()
    rig.sim.close()


async def test_ok__ready_counts_and_the_session_carry_names_by_language(named: Rig) -> None:
    ready = {entry["work_type"]: entry for entry in kiosk_model(named.cabinet.view)["cabinet"]["ready"]}
    assert (ready["price-tags"]["name"], ready["price-tags"]["names"]) == ("Price tags", PRICE_TAGS)
    assert (ready["picking"]["name"], ready["picking"]["names"]) == ("Picking", {})  # a plain name only
    named.sim.badge(ANNA)
    await named.until(lambda: screen(named).get("step") == "door", within=10)
    session = kiosk_model(named.cabinet.view)["session"]
    assert (session["work_type"], session["work_type_names"]) == ("Price tags", PRICE_TAGS)
