"""What every RS-485 lock board driver shares: one unlock frame, the board's health, polling, door feedback.

A protocol module (kerong.py, board8a.py) subclasses `LockBoard` with its frames; everything about
timing and faults is written here once:

- an unlock frame goes out once, because every copy fires the solenoid again. The board's reply
  confirms it; a board that gives none (many never answer an unlock) is asked for its status at
  once, and its answer confirms it. Only when the lock still reads shut once the board's pulse
  (`pulse_ms`) is over, and the door was not seen open meanwhile, is the frame sent a second time,
  and never a third. A board that answers its polls but not its unlocks is healthy;
- a status poll is tried once and retried up to `timeouts.board_retries` times (asking again
  moves nothing); a board that answered none of them is reported faulty (`PartStateChanged`,
  `parts()`), and an unlock that found it so raises `LockFault`;
- a healthy board is polled every `poll_s` for its feedback bits, a faulty one every
  `timeouts.board_repoll_s` with a single try, and reported back when it answers;
- a slot with `door.board_feedback` takes its door state from its channel's feedback bit: the lock's
  switch sits where the door's striker engages, so the bit reads locked while the door is shut;
- every frame sent to the board is counted (`frames`, and `unlock_frames` of them unlocks), for
  `cabinetctl parts` and `/metrics`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from abc import abstractmethod
from collections.abc import Callable
from typing import Final

from cabinetd.clock import Clock
from cabinetd.config import BoardTiming, ModuleSection, TimeoutsSection
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
from cabinetd.hal.rs485 import Exchange, Outcome, Rs485Bus

log = logging.getLogger(__name__)

# Door feedback is read this often from a healthy board: a person notices a door event a quarter of a
# second late no more than a key press, and four boards at 9600 baud still leave the bus mostly idle.
FEEDBACK_POLL_S: Final = 0.25

# How long after its pulse a board's lock is read again before an unlock is sent a second time.
PULSE_MARGIN_S: Final = 0.01

# channel -> the lock's feedback reads open (door not shut)
Feedback = dict[int, bool]
COUNTERS: Final = (
    "frames",  # every request sent to this board
    "unlock_frames",  # of them, unlocks (a second one only after a pulse that left the lock shut)
    "resends",  # unlocks sent a second time
    "unanswered",  # unlocks the board did not answer (confirmed by the next status poll)
    "replies",
    "retries",
    "silent",
    "short",
    "garbled",
    "no_port",
    "faults",
)


class LockBoard(LockBank):
    """The locks of one module wired to one board on a shared bus."""

    protocol: str = "board"

    def __init__(
        self,
        module: ModuleSection,
        bus: Rs485Bus,
        board: int,
        timing: BoardTiming,
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
            if slot.lock.channel is None:  # configchecks.cross_checks refuses this; the check keeps mypy honest
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
        self._counters: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self._pulse_s = timing.pulse_ms / 1000
        self._unlock_reply_s = None if timing.unlock_reply_ms is None else timing.unlock_reply_ms / 1000
        self._status_reply_s = None if timing.status_reply_ms is None else timing.status_reply_ms / 1000
        self._seen_open: dict[int, float] = {}  # channel -> when its feedback last read open (monotonic)
        self._follow_ups: dict[int, asyncio.Task[None]] = {}  # channel -> its unlock's re-send check
        self._unlocked_at: dict[int, float] = {}  # channel -> when its latest unlock frame left (monotonic)
        self._garbled = ""  # what the last garbled reply was, for the fault's detail

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

    status_to_every_board = False  # the status request is answered by every board on the bus

    def own_status_frame(self, exchange: Exchange) -> bytes:
        """This board's reply among those a status request got back."""
        return exchange.frame

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
        what = f"unlock of channel {channel}"
        exchange = await self._send_unlock(channel)
        self._unlocked_at[channel] = exchange.sent_at
        feedback = self._read(what, exchange, lambda frame: self.read_unlock_reply(frame, channel))
        if feedback is not None:
            self._health.set(True, "answering")
        elif exchange.outcome is Outcome.NO_PORT:
            self._fail(f"{what}: {exchange.detail}")
        else:
            # Many boards never answer an unlock: their next status reply says they took it.
            self._counters["unanswered"] += 1
            log.info("%s: %s not answered (%s); asking for its status", self.name, what, exchange.detail)
            feedback = await self._status()
            if feedback is not None and not feedback.get(channel, False):
                self._follow_up(channel, exchange.sent_at)
        if feedback is None:
            raise LockFault(f"slot {slot}: {self.name} did not confirm the unlock ({self._health.detail})")
        log.info("slot %d: unlock sent to %s channel %d", slot, self.name, channel)
        self._post(UnlockSent(slot))
        self._take(feedback)

    async def _send_unlock(self, channel: int) -> Exchange:
        self._counters["frames"] += 1
        self._counters["unlock_frames"] += 1
        return await self.bus.transact(self.unlock_request(channel), self.reply_end, first_byte_s=self._unlock_reply_s)

    def _follow_up(self, channel: int, sent_at: float) -> None:
        # A newer unlock of the channel has its own check: the older one would be a third frame.
        earlier = self._follow_ups.pop(channel, None)
        if earlier is not None:
            earlier.cancel()
        task = asyncio.get_running_loop().create_task(self._resend_if_still_shut(channel, sent_at))
        self._follow_ups[channel] = task
        task.add_done_callback(functools.partial(self._forget_follow_up, channel))

    def _forget_follow_up(self, channel: int, task: asyncio.Task[None]) -> None:
        if self._follow_ups.get(channel) is task:
            del self._follow_ups[channel]

    async def _resend_if_still_shut(self, channel: int, sent_at: float) -> None:
        # Sending again while the pulse runs would only fire the solenoid twice; a door that opened
        # in the meantime was released, whatever the lock reads now. The board's pulse starts when
        # the frame reaches it; the margin covers its own clock.
        await asyncio.sleep(max(0.0, sent_at + self._pulse_s + PULSE_MARGIN_S - time.monotonic()))
        feedback = await self._status()
        if feedback is not None:
            self._take(feedback)
        # Still shut, not seen open since, and no newer unlock of the channel (it has its own check).
        if feedback is None or feedback.get(channel, False) or self._seen_open.get(channel, 0.0) >= sent_at:
            return
        if self._unlocked_at.get(channel, 0.0) > sent_at:
            return
        self._counters["resends"] += 1
        log.warning("%s: channel %d still reads shut after its pulse; sending the unlock once more", self.name, channel)
        exchange = await self._send_unlock(channel)
        answered = self._read(f"unlock of channel {channel}", exchange, lambda f: self.read_unlock_reply(f, channel))
        if answered is not None:
            self._take(answered)

    def lock_state(self, slot: int) -> LockState:
        is_open = self._feedback(slot)
        if is_open is None:
            return LockState.UNKNOWN
        return LockState.RELEASED if is_open else LockState.LOCKED

    async def cleanup(self) -> None:
        await self._cancel_follow_ups()

    async def lock_all(self) -> None:
        # A board times its own unlock pulse and holds no output between commands: there is nothing
        # to release, and no "lock" command in either protocol. An unlock waiting to be sent again
        # is all there is to call off.
        await self._cancel_follow_ups()

    async def _cancel_follow_ups(self) -> None:
        tasks = list(self._follow_ups.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def parts(self) -> list[PartState]:
        return [self._health.state(tuple(self._counters.items()))]

    def door_open(self, slot: int) -> bool | None:
        """The door as the channel's feedback reads it; None while the board is silent or unread."""
        return self._feedback(slot)

    # --- internals -------------------------------------------------------------------------------

    async def _poll(self) -> None:
        feedback = await self._status(single_try=self._health.connected is False)
        if feedback is not None:
            self._take(feedback)

    async def _status(self, *, single_try: bool = False) -> Feedback | None:
        """The board's feedback from one status request (with retries unless `single_try`)."""
        problem = ""
        for attempt in range(1 if single_try else self._attempts):
            if attempt:
                self._counters["retries"] += 1
            self._counters["frames"] += 1
            exchange = await self.bus.transact(
                self.status_request(),
                self.reply_end,
                first_byte_s=self._status_reply_s,
                every_board=self.status_to_every_board,
            )
            feedback = self._read("status", exchange, self._status_reader(exchange))
            if feedback is not None:
                self._health.set(True, "answering")
                return feedback
            problem = f"status: {exchange.detail}" if exchange.outcome is not Outcome.REPLY else self._garbled
            if exchange.outcome is Outcome.NO_PORT:
                break  # retrying into a missing port only delays the fault
            log.debug("%s: %s", self.name, problem)
        self._fail(problem)
        return None

    def _status_reader(self, exchange: Exchange) -> Callable[[bytes], Feedback]:
        # A bus-wide poll's reply is several frames: this board's own is the one to read.
        return lambda _: self.read_status_reply(self.own_status_frame(exchange))

    def _read(self, what: str, exchange: Exchange, read: Callable[[bytes], Feedback]) -> Feedback | None:
        """The feedback a reply carries; None (counted) when there was no usable reply."""
        if exchange.outcome is not Outcome.REPLY:
            self._counters[exchange.outcome.value] += 1
            return None
        try:
            feedback = read(exchange.frame)
        except FrameError as error:
            self._counters["garbled"] += 1
            self._garbled = f"{what}: garbled reply: {error}"
            log.info("%s: %s (%s)", self.name, self._garbled, exchange.frame.hex(" "))
            return None
        self._counters["replies"] += 1
        return feedback

    def _fail(self, problem: str) -> None:
        if self._health.connected is not False:
            self._counters["faults"] += 1
        if self._health.set(False, problem):
            self._went_quiet.set()

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

    def _take(self, feedback: Feedback) -> None:
        now = time.monotonic()
        for channel, is_open in sorted(feedback.items()):
            if is_open:
                self._seen_open[channel] = now
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
