"""Recovery after a crash in the middle of a rent or a return: every open rental is closed or kept
according to where its device physically is, and the slots agree with the ledger."""

from __future__ import annotations

from tests.flows.rig import Rig
from tests.flows.test_flows import ANNA, rent, screen


def out_of_the_cabinet(rig: Rig) -> list[str]:
    """Open rentals whose device the ledger places in a slot: a rental and a slot cannot both hold it."""
    in_slots = {row.device for row in rig.ledger.slot_states() if row.device is not None}
    return [rental.device for rental in rig.ledger.open_rentals() if rental.device in in_slots]


async def take_and_crash(rig: Rig) -> tuple[int, str, str]:
    """Anna badges and takes the device (`device_rented` committed); the daemon dies before the door closes."""
    rig.sim.badge(ANNA)
    await rig.until(lambda: screen(rig).get("step") == "door", within=10)
    slot = int(screen(rig)["slot"])  # type: ignore[call-overload]
    rig.sim.locks.door(slot).pull()
    await rig.until(lambda: screen(rig).get("step") == "take")
    taken = rig.sim.remove(slot)
    assert taken is not None
    await rig.until(lambda: screen(rig).get("step") == "close")
    rental = rig.ledger.held_by("anna")[0]
    await rig.stop()
    return slot, rental.device, rental.rental_id


async def start_again(rig: Rig) -> None:
    rig.cabinet = rig._build()
    await rig.start()


async def test_ok__a_device_pushed_back_while_the_daemon_was_down_ends_its_rental(rig: Rig) -> None:
    slot, serial, rental_id = await take_and_crash(rig)
    rig.sim.insert(slot, rig.sim.handheld(serial))  # she changed her mind and put it back
    rig.sim.locks.door(slot).push()
    await start_again(rig)
    await rig.until(lambda: rig.state(slot) in ("ready", "charging"))
    assert rig.ledger.held_by("anna") == []
    assert rig.ledger.rental(rental_id).status == "closed"  # type: ignore[union-attr]
    assert out_of_the_cabinet(rig) == []
    # The cancel of the dispense and the end of the rental are one commit: nothing between them.
    recorded = [(e.type, e.payload.get("rental_id")) for e in rig.ledger.tail(30)]
    assert ("rental_cancelled", rental_id) in recorded
    types = [t for t, _ in recorded]
    assert types.index("rental_cancelled") + 1 == types.index("dispense_cancelled")
    assert {row.slot: row.device for row in rig.ledger.slot_states()}[slot] == serial


async def test_ok__the_device_pushed_back_can_be_rented_again_without_a_ledger_refusal(rig: Rig) -> None:
    slot, serial, _ = await take_and_crash(rig)
    rig.sim.insert(slot, rig.sim.handheld(serial))
    rig.sim.locks.door(slot).push()
    await start_again(rig)
    await rig.until(lambda: rig.state(slot) in ("ready", "charging"))
    rig.sim.remove(1 if slot == 3 else 3)  # the other standard device is gone: only this one suits
    await rig.until(lambda: rig.state(1 if slot == 3 else 3) == "empty")
    await rent(rig)
    assert [r.device for r in rig.ledger.held_by("anna")] == [serial]
    assert "step_refused" not in rig.events()


async def test_ok__a_device_gone_with_the_person_keeps_its_rental(rig: Rig) -> None:
    slot, serial, _ = await take_and_crash(rig)
    rig.sim.locks.door(slot).push()
    await start_again(rig)
    await rig.until(lambda: rig.state(slot) == "empty")
    assert [r.device for r in rig.ledger.held_by("anna")] == [serial]
    assert out_of_the_cabinet(rig) == []


async def test_ok__a_return_cut_short_after_the_door_closed_is_inspected_and_closes_the_rental(rig: Rig) -> None:
    await rent(rig)
    serial = rig.ledger.held_by("anna")[0].device
    rig.sim.badge(ANNA)
    await rig.until(lambda: screen(rig).get("view") == "returning" and screen(rig).get("step") == "door")
    slot = int(screen(rig)["slot"])  # type: ignore[call-overload]
    rig.sim.locks.door(slot).pull()
    rig.sim.insert(slot, rig.sim.handheld(serial))
    await rig.until(lambda: rig.controller.core.hardware.ports.present(slot) is not None)
    await rig.stop()  # killed before the door closed
    rig.sim.locks.door(slot).push()
    await start_again(rig)
    await rig.until(lambda: rig.state(slot) in ("ready", "charging"), within=10)
    assert rig.ledger.held_by("anna") == []
    assert out_of_the_cabinet(rig) == []


async def test_ok__a_device_put_back_before_the_door_closes_ends_its_rental_and_the_rent(rig: Rig) -> None:
    rig.sim.badge(ANNA)
    await rig.until(lambda: screen(rig).get("step") == "door", within=10)
    slot = int(screen(rig)["slot"])  # type: ignore[call-overload]
    rig.sim.locks.door(slot).pull()
    await rig.until(lambda: screen(rig).get("step") == "take")
    handheld = rig.sim.remove(slot)
    assert handheld is not None
    await rig.until(lambda: screen(rig).get("step") == "close")
    rig.sim.insert(slot, handheld)  # she took the wrong one and puts it back
    await rig.until(lambda: screen(rig).get("step") == "take")
    rig.sim.locks.door(slot).push()
    await rig.until(lambda: rig.state(slot) in ("ready", "charging"))
    assert rig.ledger.held_by("anna") == []
    assert out_of_the_cabinet(rig) == []
    assert rig.events("rental_cancelled", "dispense_cancelled")[-2:] == ["rental_cancelled", "dispense_cancelled"]
