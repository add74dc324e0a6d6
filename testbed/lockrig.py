"""Lock and door drivers running against the simulated cabinet's models, for the lock and door tests.

`LOCK_KINDS` names every way a module's locks and doors can be wired; the contract suites run over all
of them. Timings are short so that the suites stay fast: a test watches a door for 0.2 s after its
unlock, a silent board is polled again every 0.1 s.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from cabinetd.config import CabinetConfig
from cabinetd.hal.base import DoorSensors, LockBank
from cabinetd.hal.locks import LocksAndDoors, build_locks_and_doors
from cabinetd.sim.door import SimDoor
from cabinetd.sim.lockboard import BusSim, SimBoard
from cabinetd.sim.locks import SimLocks
from testbed.recorder import EventRecorder

DOOR_OPEN_S = 0.2
REPOLL_S = 0.1
RELEASE_S = 0.2  # a board's own unlock pulse in the simulator
PULSE_MS = 200  # a gpio lock's pulse
FEEDBACK_POLL_S = 0.02
SETTLE_S = 0.01
SLOTS = (1, 2)

_GPIO_SLOTS = [
    {"number": 1, "lock": {"pin": 5}, "door": {"pin": 6}, "usb_port": "1-1.1", "led_pin": 13},
    {"number": 2, "lock": {"pin": 16}, "door": {"pin": 19}, "usb_port": "1-1.2"},
]

_KERONG = {"driver": "kerong", "bus": "lockbus", "board": 3, "pulse_ms": PULSE_MS}
_KERONG_SLOTS = [
    {"number": 1, "lock": {"channel": 1}, "door": {"board_feedback": True}, "usb_port": "1-1.1"},
    {"number": 2, "lock": {"channel": 16}, "door": {"board_feedback": True}, "usb_port": "1-1.2"},
]
_BOARD8A = {"driver": "board8a", "bus": "lockbus", "board": 1, "pulse_ms": PULSE_MS}


def _board8a_slots(last: int) -> list[dict[str, Any]]:
    return [
        {"number": 1, "lock": {"channel": 1}, "door": {"board_feedback": True}, "usb_port": "1-1.1"},
        {"number": 2, "lock": {"channel": last}, "door": {"board_feedback": True}, "usb_port": "1-1.2"},
    ]


@dataclass(frozen=True)
class LockKind:
    lock: dict[str, Any]  # the module's lock section
    slots: list[dict[str, Any]]
    sim: dict[str, Any] = field(default_factory=dict)  # the module's [sim.modules.A] variant
    adapter_delay_ms: float = 0.0  # [sim.buses.lockbus]


# Every way a module's locks can be wired, and every variant of board the field has shown us.
LOCK_KINDS: dict[str, LockKind] = {
    "gpio": LockKind({"driver": "gpio", "pulse_ms": PULSE_MS}, _GPIO_SLOTS),
    "gpio-active-low": LockKind(
        {"driver": "gpio", "pulse_ms": PULSE_MS, "active_level": "low"},
        [
            {"number": 1, "lock": {"pin": 5}, "door": {"pin": 6, "closed_level": "high"}, "usb_port": "1-1.1"},
            {"number": 2, "lock": {"pin": 16}, "door": {"pin": 19, "closed_level": "high"}, "usb_port": "1-1.2"},
        ],
    ),
    "kerong": LockKind(_KERONG, _KERONG_SLOTS),
    "kerong-silent-unlock": LockKind(_KERONG, _KERONG_SLOTS, {"answers_unlock": False}),
    "kerong-bus-poll": LockKind({**_KERONG, "poll": "bus"}, _KERONG_SLOTS),
    "kerong-bus-poll-00": LockKind({**_KERONG, "poll": "bus", "bus_address": "00"}, _KERONG_SLOTS),
    "kerong-usb-adapter": LockKind(_KERONG, _KERONG_SLOTS, adapter_delay_ms=16),
    "kerong-bit1-reed": LockKind(
        {"driver": "kerong", "bus": "lockbus", "board": 0, "unlocked_bit": 1, "pulse_ms": PULSE_MS},
        [
            {"number": 1, "lock": {"channel": 2}, "door": {"pin": 6}, "usb_port": "1-1.1"},
            {"number": 2, "lock": {"channel": 9}, "door": {"pin": 19}, "usb_port": "1-1.2"},
        ],
    ),
    "board8a": LockKind(_BOARD8A, _board8a_slots(20)),
    "board8a-door-opening": LockKind({**_BOARD8A, "door_feedback": "door_opening"}, _board8a_slots(20)),
    "board8a-1-byte": LockKind({**_BOARD8A, "channels": 8}, _board8a_slots(8), {"state_bytes": 1}),
    "board8a-2-bytes": LockKind({**_BOARD8A, "channels": 16}, _board8a_slots(16), {"state_bytes": 2}),
    "board8a-6-bytes": LockKind({**_BOARD8A, "channels": 48}, _board8a_slots(41), {"state_bytes": 6}),
    "board8a-slow-unlock-reply": LockKind(_BOARD8A, _board8a_slots(20), {"unlock_reply_ms": 500}),
    "board8a-usb-adapter": LockKind(_BOARD8A, _board8a_slots(20), adapter_delay_ms=16),
}
BOARD_KINDS = tuple(kind for kind, wiring in LOCK_KINDS.items() if wiring.lock["driver"] != "gpio")


def lock_config(kind: str, **timeouts: Any) -> CabinetConfig:
    """A cabinet of one two-slot module wired as `kind`."""
    wiring = LOCK_KINDS[kind]
    sim: dict[str, Any] = {"modules": {"A": wiring.sim}} if wiring.sim else {}
    if wiring.adapter_delay_ms:
        sim["buses"] = {"lockbus": {"adapter_delay_ms": wiring.adapter_delay_ms}}
    return CabinetConfig.model_validate(
        {
            "cabinet": {"id": "test-1", "store": "0001"},
            "timeouts": {"door_open_s": DOOR_OPEN_S, "board_repoll_s": REPOLL_S, **timeouts},
            "buses": {"lockbus": {"port": "/dev/cabinet-lockbus"}},
            "sim": sim,
            "modules": [{"name": "A", "slot_type": "pda", "lock": wiring.lock, "slots": wiring.slots}],
        }
    )


@dataclass
class LockRig:
    config: CabinetConfig
    sim: SimLocks
    hardware: LocksAndDoors
    events: EventRecorder

    def bank(self, slot: int = 1) -> LockBank:
        return self.hardware.lock_bank(slot)

    def doors(self, slot: int = 1) -> DoorSensors:
        return self.hardware.doors(slot)

    def door(self, slot: int = 1) -> SimDoor:
        return self.sim.door(slot)

    def bus(self) -> BusSim:
        return self.sim.buses["lockbus"]

    def board(self, slot: int = 1) -> SimBoard:
        return self.sim.boards[slot]

    def counters(self) -> dict[str, int]:
        """The board's counters as technicians see them."""
        (part,) = self.bank().parts()
        return dict(part.counters)


async def until(condition: Callable[[], bool], timeout_s: float = 2.0) -> None:
    """Wait for state that driver threads and the simulator change; no event says when."""
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 - there is no event to wait on
            await asyncio.sleep(0.005)


@contextlib.asynccontextmanager
async def lock_rig(config: CabinetConfig, *, feedback_poll_s: float = FEEDBACK_POLL_S) -> AsyncIterator[LockRig]:
    """The production drivers for `config`, prepared and running against the simulated cabinet."""
    events = EventRecorder()
    sim = SimLocks(config, release_s=RELEASE_S)
    sim.start()
    hardware = build_locks_and_doors(
        config,
        events,
        pin_factory=sim.pin_factory,
        serial_url_for=sim.serial_url_for,
        feedback_poll_s=feedback_poll_s,
        door_settle_s=SETTLE_S,
    )
    prepared = []
    tasks: list[asyncio.Task[None]] = []
    try:
        for part in hardware.subsystems():
            await part.prepare()
            prepared.append(part)
        tasks = [asyncio.create_task(part.run()) for part in prepared]
        rig = LockRig(config, sim, hardware, events)
        # Start from a known state: every board has answered its first poll.
        await until(lambda: all(part.connected for part in hardware.parts()))
        yield rig
        crashed = [task for task in tasks if task.done() and not task.cancelled() and task.exception()]
        assert not crashed, f"a driver's run() died: {crashed[0].exception()!r}"
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for part in reversed(prepared):
            await part.cleanup()
        sim.close()
