"""What every RS-485 lock board driver shares: retries, the board's health, polling, door feedback.

A protocol module (kerong.py, board8a.py) subclasses `LockBoard` with its frames; everything about
timing and faults is written here once:

- a command is tried once and retried up to `timeouts.board_retries` times; a board that answered none
  of them is reported faulty (`PartStateChanged`, `parts()`), and `unlock()` raises `LockFault`;
- a healthy board is polled every `poll_s` for its feedback bits, a faulty one every
  `timeouts.board_repoll_s` with a single try, and reported back when it answers;
- a slot with `door.board_feedback` takes its door state from its channel's feedback bit: the lock's
  switch sits where the door's striker engages, so the bit reads locked while the door is shut.
"""

from __future__ import annotations

import asyncio
import logging
from abc import abstractmethod
from collections.abc import Callable
from typing import Final

from cabinetd.clock import Clock
from cabinetd.config import ModuleSection, TimeoutsSection
from cabinetd.hal.base import (
    DoorClosed,
    DoorOpened,
    DoorSensors,
    EventSink,
    HardwareEvent,
    LockBank,
    LockState,
    PartState,
    UnlockSent,
)
from cabinetd.hal.errors import FrameError, LockFault
from cabinetd.hal.health import PartHealth
from cabinetd.hal.rs485 import Outcome, Rs485Bus

log = logging.getLogger(__name__)

# Door feedback is read this often from a healthy board: a person notices a door event a quarter of a
# second late no more than a key press, and four boards at 9600 baud still leave the bus mostly idle.
FEEDBACK_POLL_S: Final = 0.25

# channel -> the lock's feedback reads open (door not shut)
Feedback = dict[int, bool]


class LockBoard(LockBank):
    """The locks of one module wired to one board on a shared bus."""

    protocol: str = "board"

    def __init__(
        self,
        module: ModuleSection,
        bus: Rs485Bus,
        board: int,
        timeouts: TimeoutsSection,
        sink: EventSink,
        *,
        poll_s: float = FEEDBACK_POLL_S,
        clock: Clock | None = None,
    ) -> None:
        super().__init__()
        self.module = module.name
        self.bus = bus
        self.board = board
        self.name = f"{self.protocol} board {board} on bus {bus.bus}"
        self.part = f"lockboard/{bus.bus}/{board}"
        self.slots = tuple(slot.number for slot in module.slots)
        self._channel: dict[int, int] = {}
        for slot in module.slots:
            if slot.lock.channel is None:  # config.cross_checks refuses this; the check keeps mypy honest
                raise ValueError(f"slot {slot.number}: a {self.protocol} lock needs lock.channel")
            self._channel[slot.number] = slot.lock.channel
        self._slot_of = {channel: slot for slot, channel in self._channel.items()}
        self.feedback_slots = tuple(slot.number for slot in module.slots if slot.door.board_feedback)
        self._attempts = 1 + timeouts.board_retries
        self._poll_s = poll_s
        self._repoll_s = timeouts.board_repoll_s
        self.stall_after_s = max(10.0, 5 * timeouts.board_repoll_s, 3 * poll_s)
        self._went_quiet = asyncio.Event()
        self._sink = sink
        self._loop: asyncio.AbstractEventLoop | None = None
        self._open: Feedback = {}
        self._health = PartHealth(
            self.name, self.part, self._post, detail="not polled yet", fault_label="faulty", clock=clock
        )
        self._counters: dict[str, int] = dict.fromkeys(
            ("replies", "retries", "silent", "short", "garbled", "no_port", "faults"), 0
        )

    # --- the protocol's part ---------------------------------------------------------------------

    @abstractmethod
    def unlock_request(self, channel: int) -> bytes: ...

    @abstractmethod
    def status_request(self) -> bytes: ...

    @abstractmethod
    def reply_end(self, buffer: bytes) -> int:
        """The length of the complete reply at the start of `buffer`, 0 if more bytes are needed."""

    @abstractmethod
    def read_unlock_reply(self, frame: bytes, channel: int) -> Feedback:
        """The feedback an unlock reply carries; FrameError if it is not this board's answer."""

    @abstractmethod
    def read_status_reply(self, frame: bytes) -> Feedback:
        """The feedback of every channel; FrameError if it is not this board's answer."""

    # --- LockBank --------------------------------------------------------------------------------

    async def prepare(self) -> None:
        self._loop = asyncio.get_running_loop()
        # Read the board once before anyone asks: the controller reconciles doors and locks at start.
        await self._poll()

    async def run(self) -> None:
        while True:
            self.tick()
            await self._pause()
            await self._poll()

    async def unlock(self, slot: int) -> None:
        channel = self._channel_for(slot)
        request = self.unlock_request(channel)

        def read(frame: bytes) -> Feedback:
            return self.read_unlock_reply(frame, channel)

        feedback = await self._ask(f"unlock of channel {channel}", request, read, single_try=False)
        if feedback is None:
            raise LockFault(f"slot {slot}: {self.name} did not confirm the unlock ({self._health.detail})")
        log.info("slot %d: unlock sent to %s channel %d", slot, self.name, channel)
        self._post(UnlockSent(slot))
        self._take(feedback)

    def lock_state(self, slot: int) -> LockState:
        is_open = self._feedback(slot)
        if is_open is None:
            return LockState.UNKNOWN
        return LockState.RELEASED if is_open else LockState.LOCKED

    async def lock_all(self) -> None:
        # A board times its own unlock pulse and holds no output between commands: there is nothing
        # to release, and no "lock" command in either protocol.
        return None

    def parts(self) -> list[PartState]:
        return [self._health.state(tuple(self._counters.items()))]

    def door_open(self, slot: int) -> bool | None:
        """The door as the channel's feedback reads it; None while the board is silent or unread."""
        return self._feedback(slot)

    # --- internals -------------------------------------------------------------------------------

    async def _poll(self) -> None:
        faulty = self._health.connected is False
        feedback = await self._ask("status", self.status_request(), self.read_status_reply, faulty)
        if feedback is not None:
            self._take(feedback)

    async def _pause(self) -> None:
        # A healthy board is read every poll_s, a faulty one every repoll_s from when it went quiet,
        # even when an unlock (not a poll) found it quiet.
        self._went_quiet.clear()
        try:
            async with asyncio.timeout(self._repoll_s if self._health.connected is False else self._poll_s):
                await self._went_quiet.wait()
        except TimeoutError:
            return
        await asyncio.sleep(self._repoll_s)

    def _channel_for(self, slot: int) -> int:
        try:
            return self._channel[slot]
        except KeyError:
            raise LockFault(f"slot {slot}: not a slot of {self.name}") from None

    def _feedback(self, slot: int) -> bool | None:
        if not self._health.connected:
            return None
        return self._open.get(self._channel_for(slot))

    async def _ask(
        self, what: str, request: bytes, read: Callable[[bytes], Feedback], single_try: bool
    ) -> Feedback | None:
        problem = ""
        for attempt in range(1 if single_try else self._attempts):
            if attempt:
                self._counters["retries"] += 1
            exchange = await self.bus.transact(request, self.reply_end)
            if exchange.outcome is Outcome.REPLY:
                try:
                    feedback = read(exchange.frame)
                except FrameError as error:
                    self._counters["garbled"] += 1
                    problem = f"{what}: garbled reply: {error}"
                    log.info("%s: %s (%s)", self.name, problem, exchange.frame.hex(" "))
                    continue
                self._counters["replies"] += 1
                self._health.set(True, "answering")
                return feedback
            self._counters[exchange.outcome.value] += 1
            problem = f"{what}: {exchange.detail}"
            if exchange.outcome is Outcome.NO_PORT:
                break  # retrying into a missing port only delays the fault
            log.debug("%s: %s", self.name, problem)
        if self._health.connected is not False:
            self._counters["faults"] += 1
        if self._health.set(False, problem):
            self._went_quiet.set()
        return None

    def _take(self, feedback: Feedback) -> None:
        for channel, is_open in sorted(feedback.items()):
            was = self._open.get(channel)
            self._open[channel] = is_open
            slot = self._slot_of.get(channel)
            if was is None or was == is_open or slot not in self.feedback_slots:
                continue
            log.info("slot %d: door %s (feedback of %s)", slot, "opened" if is_open else "closed", self.name)
            self._post(DoorOpened(slot) if is_open else DoorClosed(slot))

    def _post(self, event: HardwareEvent) -> None:
        loop = self._loop or asyncio.get_running_loop()
        loop.call_soon(self._sink, event)


class BoardDoors(DoorSensors):
    """The doors a board reads through its feedback bits; the board's poll posts their events."""

    def __init__(self, board: LockBoard) -> None:
        super().__init__()
        self.board = board
        self.name = f"doors on {board.name}"
        self.slots = board.feedback_slots

    def is_open(self, slot: int) -> bool | None:
        if slot not in self.slots:
            raise KeyError(f"slot {slot}: its door is not read by {self.board.name}")
        return self.board.door_open(slot)
