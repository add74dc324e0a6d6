"""A badge the roster does not know yet asks the office before it is refused: "checking with the office"
on the screen, a roster refresh at most once every 10 s, and the rent goes ahead without a second tap
when the refresh brings the badge within 5 s.

The office here stands where the sync client's `refresh_roster` does (tests/sync/test_first_sync.py
runs that one against the real cloud): it applies the cloud's change to the ledger's roster replica
when the test lets it.
"""

from __future__ import annotations

import asyncio

from cabinetd.rostercheck import REFRESH_EVERY_S, WAIT_S
from tests.flows.rig import Rig

NEW, STRANGER = "5A5A5A", "6B6B6B"
NINA = {
    "entity": "staff",
    "id": "nina",
    "version": 1,
    "op": "upsert",
    "data": {"badge": NEW, "name": "Nina", "store": "demo", "work_type": "price-tags", "active": True},
}


class Office:
    """The cloud as the cabinet reaches it: each refresh waits until the test answers it."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.asked = 0
        self.answer: asyncio.Future[bool] | None = None

    async def __call__(self) -> bool:
        self.asked += 1
        self.answer = asyncio.get_running_loop().create_future()
        return await self.answer

    def knows_nina(self) -> None:
        self.rig.ledger.apply_replica([NINA], f"office-{self.asked}")
        assert self.answer is not None
        self.answer.set_result(True)


def screen(rig: Rig) -> dict[str, object]:
    return dict(rig.controller.screen.state)


def office_for(rig: Rig) -> Office:
    office = Office(rig)
    rig.controller.roster.refresh = office
    return office


async def test_fail__staff_added_in_the_cloud_a_minute_ago_rent_with_one_tap(rig: Rig) -> None:
    office = office_for(rig)
    rig.sim.badge(NEW)
    await rig.until(lambda: screen(rig).get("view") == "checking")
    assert office.asked == 1
    office.knows_nina()
    await rig.until(lambda: screen(rig).get("view") == "dispensing" and screen(rig).get("step") == "door", within=10)
    assert rig.controller.session.staff.staff_id == "nina"
    assert "rent_refused" not in rig.events()


async def test_ok__a_badge_the_office_does_not_answer_for_in_5_s_is_refused_as_unknown(rig: Rig) -> None:
    office = office_for(rig)
    rig.sim.badge(STRANGER)
    await rig.until(lambda: screen(rig).get("view") == "checking")
    await rig.clock.advance(WAIT_S - 0.5)
    assert screen(rig)["view"] == "checking"
    await rig.clock.advance(0.5)
    await rig.until(lambda: screen(rig).get("view") == "refused")
    assert screen(rig) == {"view": "refused", "reason": "unknown_badge", "minutes": None, "name": ""}
    assert office.asked == 1


async def test_ok__the_office_is_asked_at_most_once_every_10_s(rig: Rig) -> None:
    office = office_for(rig)
    rig.sim.badge(STRANGER)
    await rig.until(lambda: screen(rig).get("view") == "checking")
    assert office.answer is not None
    office.answer.set_result(True)  # the refresh came back without the badge
    await rig.until(lambda: screen(rig).get("view") == "refused")
    await rig.clock.advance(REFRESH_EVERY_S - 1)
    rig.controller.screen.show("idle")
    await asyncio.sleep(0.1)  # apart by more than the reader's repeat window
    rig.sim.badge(STRANGER)
    await rig.until(lambda: screen(rig).get("view") == "refused" and rig.events().count("rent_refused") == 2)
    assert office.asked == 1
    await rig.clock.advance(1)
    await asyncio.sleep(0.1)
    rig.sim.badge(STRANGER)
    await rig.until(lambda: screen(rig).get("view") == "checking")
    assert office.asked == 2


async def test_ok__a_known_badge_during_the_check_goes_first(rig: Rig) -> None:
    office = office_for(rig)
    rig.sim.badge(NEW)
    await rig.until(lambda: screen(rig).get("view") == "checking")
    rig.sim.badge("A1B2C3")  # Anna, on the roster
    await rig.until(lambda: screen(rig).get("step") == "door", within=10)
    office.knows_nina()
    await asyncio.sleep(0.1)
    assert rig.controller.session.staff.staff_id == "anna"  # Nina taps again once Anna is done


async def test_ok__without_a_cloud_an_unknown_badge_is_refused_at_once(rig: Rig) -> None:
    assert rig.controller.roster.refresh is None  # the rig's cabinet has no cloud.url
    rig.sim.badge(STRANGER)
    await rig.until(lambda: screen(rig).get("view") == "refused")
    assert screen(rig)["reason"] == "unknown_badge"
