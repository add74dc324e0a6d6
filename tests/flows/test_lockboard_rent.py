"""Renting from module B wired to every lock board variant, end to end: the badge frame on the reader's
pty, the rent, the exact bytes on the bus's pty, the door, the ledger."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cabinetd.hal import board8a, kerong
from tests.flows.rig import Rig

KERONG = {"driver": "kerong", "bus": "lockbus", "board": 0}
BOARD8A = {"driver": "board8a", "bus": "lockbus", "board": 1}
# variant -> module B's lock section, its [sim.modules.B], its [sim.buses.lockbus]
VARIANTS: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = {
    "kerong": (KERONG, {}, {}),
    "kerong-silent-unlock": (KERONG, {"answers_unlock": False}, {}),
    "kerong-bus-poll": ({**KERONG, "poll": "bus"}, {}, {}),
    "kerong-usb-adapter": (KERONG, {}, {"adapter_delay_ms": 16}),
    "board8a": (BOARD8A, {}, {}),
    "board8a-door-opening": ({**BOARD8A, "door_feedback": "door_opening"}, {}, {}),
    "board8a-1-byte": ({**BOARD8A, "channels": 8}, {"state_bytes": 1}, {}),
    "board8a-6-bytes": ({**BOARD8A, "channels": 48}, {"state_bytes": 6}, {}),
    "board8a-slow-unlock-reply": (BOARD8A, {"unlock_reply_ms": 500}, {}),
    "board8a-usb-adapter": (BOARD8A, {}, {"adapter_delay_ms": 16}),
}
# slot -> the one unlock frame its rent puts on the bus (slots 5-8 are channels 1-4 of module B)
UNLOCKS = {
    "kerong": {5: "02 00 31 03 36", 7: "02 02 31 03 38"},
    "board8a": {5: "8A 01 01 11 9B", 7: "8A 01 03 11 99"},
}


def is_unlock(frame: bytes) -> bool:
    return frame[0] == board8a.UNLOCK_HEAD or (frame[0] == kerong.STX and frame[2] == kerong.Command.UNLOCK)


# Ten whole simulated cabinets: `make test` runs them; `make check` leaves them out to stay quick.
pytestmark = pytest.mark.slow


@pytest.fixture(params=list(VARIANTS))
async def variant_rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[str, Rig]]:
    lock, sim_board, sim_bus = VARIANTS[request.param]

    def rewire(data: dict[str, Any]) -> None:
        module = next(m for m in data["modules"] if m["name"] == "B")
        module["lock"] = lock
        data["sim"] = {"modules": {"B": sim_board}, "buses": {"lockbus": sim_bus}}

    rig = Rig(tmp_path, rewire=rewire)
    await rig.start()
    await rig.until(lambda: all(rig.state(n) in ("ready", "charging") for n in (1, 3, 5, 7)))
    yield request.param, rig
    await rig.stop()
    rig.sim.close()


async def test_ok__a_rent_from_each_board_variant_sends_one_unlock_frame(variant_rig: tuple[str, Rig]) -> None:
    variant, rig = variant_rig
    bus = rig.sim.locks.buses["lockbus"]
    before = len(bus.requests)
    rig.sim.badge("B2C3D4")  # Piet, picking: a rugged handheld from module B
    await rig.until(lambda: rig.controller.screen.state.get("step") == "door", within=10)
    slot = rig.controller.screen.state["slot"]
    assert slot in (5, 7)
    door = rig.sim.locks.door(slot)
    assert door.pull(), f"slot {slot}: the lock did not let go for the rent"
    await rig.until(lambda: rig.controller.screen.state.get("step") == "take")
    rig.sim.remove(slot)
    await rig.until(lambda: rig.controller.screen.state.get("step") == "close")
    door.push()
    await rig.until(lambda: rig.state(slot) == "empty")

    unlocks = [frame for frame in bus.requests[before:] if is_unlock(frame)]
    assert unlocks == [bytes.fromhex(UNLOCKS[variant.split("-")[0]][slot])], "one rent, one unlock frame"
    board = next(p for p in rig.cabinet.hardware.locks.parts() if p.part.startswith("lockboard/"))
    counters = dict(board.counters)
    assert (counters["unlock_frames"], counters["resends"], counters["faults"]) == (1, 0, 0)
    assert board.connected
    assert rig.events("dispense_started", "device_rented") == ["dispense_started", "device_rented"]
    assert [r.staff for r in rig.ledger.held_by("piet")] == ["piet"]
