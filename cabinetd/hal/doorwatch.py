"""Turns "unlock sent" into "door opened" or "door not opened", written once for every kind of lock.

The watch sits between the drivers and the daemon's event sink. It passes every event on, and after an
`UnlockSent` it waits `door_open_s` for that slot's `DoorOpened`. If none came and the door does not read
open at the deadline (a door left ajar before the unlock counts as open), it posts `DoorNotOpened`. A
door whose sensor cannot be read at the deadline (its board is silent) was not seen to open, so it is
reported as not opened too.
"""

from __future__ import annotations

import asyncio
import logging

from cabinetd.hal.base import DoorNotOpened, DoorOpened, DoorSensors, EventSink, HardwareEvent, UnlockSent
from cabinetd.lifecycle import Subsystem

log = logging.getLogger(__name__)


class DoorWatch(Subsystem):
    """Give drivers `watch.post` as their sink; it runs on the event loop's thread."""

    name = "door watch"

    def __init__(self, sink: EventSink, door_open_s: float) -> None:
        super().__init__()
        self._sink = sink
        self.door_open_s = door_open_s
        self._doors: dict[int, DoorSensors] = {}
        self._deadlines: dict[int, asyncio.TimerHandle] = {}

    def add_doors(self, doors: DoorSensors) -> None:
        for slot in doors.slots:
            self._doors[slot] = doors

    def post(self, event: HardwareEvent) -> None:
        self._sink(event)
        if isinstance(event, UnlockSent):
            self._disarm(event.slot)
            loop = asyncio.get_running_loop()
            self._deadlines[event.slot] = loop.call_later(self.door_open_s, self._deadline, event.slot)
        elif isinstance(event, DoorOpened):
            self._disarm(event.slot)

    def watching(self) -> tuple[int, ...]:
        return tuple(sorted(self._deadlines))

    async def cleanup(self) -> None:
        for slot in list(self._deadlines):
            self._disarm(slot)

    def _disarm(self, slot: int) -> None:
        handle = self._deadlines.pop(slot, None)
        if handle is not None:
            handle.cancel()

    def _deadline(self, slot: int) -> None:
        self._deadlines.pop(slot, None)
        doors = self._doors.get(slot)
        if doors is not None and doors.is_open(slot):
            log.info("slot %d: unlocked while its door already read open", slot)
            return
        log.warning("slot %d: door not opened within %g s of the unlock", slot, self.door_open_s)
        self._sink(DoorNotOpened(slot))
