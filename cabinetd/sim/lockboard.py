"""Simulated lock boards on a simulated RS-485 bus: a pty whose master side answers byte for byte.

The driver opens `url`, a symlink to the pty's slave side, as a real cabinet opens the stable name a
udev rule gives its USB-RS485 adapter. A thread serves the master side: it cuts requests out of the
byte stream with the protocol's own codec, lets the addressed board act (an unlock releases the
channel's latch for `release_s`) and writes the board's reply, unless a fault was injected:

- `NO_REPLY`: the board says nothing;
- `BAD_CHECKSUM`: the reply's last byte is wrong;
- `LATE_REPLY`: the reply comes `late_s` after the request, past the driver's reply window;
- `SPLIT_REPLY`: the reply comes in two writes `split_gap_s` apart (inside the window: a slow adapter);
- a board can also be `silent` (until told otherwise), and a door's lock stuck (`SimDoor.lock_stuck`:
  the board answers, the latch never lets go). `unplug()` / `plug()` take the whole port away and
  bring a new one back.

And the ways field boards differ from one another, as options of a board or the bus:

- `answers_unlock=False`: a kerong board that never answers 0x31 (it still unlocks);
- every kerong board answers the bus-wide 0x32 (to F0 or 00) with its 0x36, in address order;
- `unlock_reply_s`: a board that acts on an unlock and answers it that long after the command
  (an 8A board's ~500 ms);
- `state_bytes`: how many status bytes an 8A board's query reply carries (1 to 6);
- `high_is_open`: an 8A board whose feedback switches are wired "door_opening" (high = open)
  rather than "door_closing"; `unlocked_bit` likewise for a kerong board;
- `adapter_delay_s` on the bus: a USB adapter that holds every reply that long (FTDI's 16 ms).

Each board's feedback bit follows its door model: it reads unlocked while the door is not shut.
"""

from __future__ import annotations

import collections
import contextlib
import enum
import functools
import logging
import os
import select
import shutil
import tempfile
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from cabinetd.hal import board8a, kerong
from cabinetd.hal.errors import FrameError
from cabinetd.sim.door import SimDoor

log = logging.getLogger(__name__)

# One board's answer to a request: the board, its reply (made when due), and how long it thinks first.
_Answer = tuple["SimBoard", Callable[[], bytes], float]

# A board's own unlock pulse: long enough for a person to pull the door.
RELEASE_S: Final = 0.5
LATE_S: Final = 0.075
SPLIT_GAP_S: Final = 0.008
# The serving thread sleeps in select() until a request comes or it is nudged (stop, plug, unplug);
# this only bounds how long a lost nudge could keep it asleep.
_IDLE_WAIT_S: Final = 1.0


class Fault(enum.Enum):
    NO_REPLY = "no reply"
    BAD_CHECKSUM = "bad checksum"
    LATE_REPLY = "late reply"
    SPLIT_REPLY = "split reply"


class SimBoard:
    """One board: its channels' latches and doors, and the faults queued for its next replies."""

    def __init__(
        self,
        address: int,
        channels: int,
        *,
        unlocked_bit: int = 0,
        high_is_open: bool = False,
        answers_unlock: bool = True,
        unlock_reply_s: float = 0.0,
        state_bytes: int | None = None,
        release_s: float = RELEASE_S,
    ) -> None:
        self.address = address
        self.channels = channels
        self.unlocked_bit = unlocked_bit
        self.high_is_open = high_is_open
        self.answers_unlock = answers_unlock
        self.unlock_reply_s = unlock_reply_s
        self.state_bytes = board8a.state_bytes(channels) if state_bytes is None else state_bytes
        self.release_s = release_s
        self.silent = False
        self.unlocks: list[int] = []  # channels, in the order the board was told to unlock them
        self.items: set[int] = set()  # channels whose infrared item sensor sees something
        self._doors: dict[int, SimDoor] = {}
        self._released_until: dict[int, float] = {}
        self._faults: collections.deque[Fault] = collections.deque()

    def door(self, channel: int, slot: int | None = None) -> SimDoor:
        """The door on `channel` (made on first use; `slot` names it in logs)."""
        if channel not in self._doors:
            self._doors[channel] = SimDoor(slot or channel, lambda: self.released(channel))
        return self._doors[channel]

    def attach(self, channel: int, door: SimDoor) -> None:
        self._doors[channel] = door

    def inject(self, fault: Fault, times: int = 1) -> None:
        self._faults.extend([fault] * times)

    def released(self, channel: int) -> bool:
        return time.monotonic() < self._released_until.get(channel, 0.0)

    def unlock(self, channel: int) -> None:
        self.unlocks.append(channel)
        self._released_until[channel] = time.monotonic() + self.release_s

    def open_mask(self) -> int:
        """Bit (channel - 1) set while that channel's door is not shut."""
        return sum(1 << (channel - 1) for channel, door in self._doors.items() if door.is_open)

    def next_fault(self) -> Fault | None:
        return self._faults.popleft() if self._faults else None


class BusSim:
    """One simulated bus of one protocol ("kerong" or "board8a") and the boards on it."""

    def __init__(
        self,
        name: str,
        protocol: str,
        *,
        directory: Path | None = None,
        late_s: float = LATE_S,
        split_gap_s: float = SPLIT_GAP_S,
        adapter_delay_s: float = 0.0,
    ) -> None:
        if protocol not in ("kerong", "board8a"):
            raise ValueError(f"no simulated {protocol!r} board")
        self.name = name
        self.protocol = protocol
        self.late_s = late_s
        self.split_gap_s = split_gap_s
        self.adapter_delay_s = adapter_delay_s
        self.boards: dict[int, SimBoard] = {}
        self.requests: list[bytes] = []
        self.timeline: list[tuple[float, str, bytes]] = []  # (monotonic, "request" | "reply", frame)
        self._own_directory = directory is None
        self._directory = Path(tempfile.mkdtemp(prefix="cabinetd-sim-")) if directory is None else directory
        self.url = str(self._directory / f"bus-{name}")
        self._lock = threading.Lock()  # held while the fds are used: unplug() must not close them mid-read
        self._master: int | None = None
        self._slave: int | None = None
        self._stop = threading.Event()
        self._changing = threading.Event()  # plug()/unplug() waiting: the serving thread stands back
        self._wake_r, self._wake_w = os.pipe()  # a byte here wakes the serving thread
        os.set_blocking(self._wake_w, False)
        self._thread: threading.Thread | None = None
        self.plug()

    def add_board(self, address: int, channels: int, **options: Any) -> SimBoard:
        """A board at `address`; `options` are SimBoard's (its variant)."""
        board = SimBoard(address, channels, **options)
        self.boards[address] = board
        return board

    def start(self) -> None:
        self._thread = threading.Thread(target=self._serve, name=f"sim-bus-{self.name}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._nudge()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None
        self.unplug()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._wake_r = self._wake_w = -1  # a second close() must not close someone else's descriptor
        if self._own_directory:
            shutil.rmtree(self._directory, ignore_errors=True)

    def unplug(self) -> None:
        """The adapter is pulled out: the port's node goes away and open handles fail."""
        self._changing.set()
        self._nudge()
        try:
            self._unplug()
        finally:
            self._changing.clear()

    def _unplug(self) -> None:
        with self._lock:
            for fd in (self._master, self._slave):
                if fd is not None:
                    os.close(fd)
            self._master = self._slave = None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.url)

    def plug(self) -> None:
        """The adapter is plugged (back) in: a new pty behind the same name."""
        self._changing.set()
        self._nudge()
        try:
            self._plug()
        finally:
            self._changing.clear()

    def _plug(self) -> None:
        with self._lock:
            if self._master is not None:
                return
            master, slave = os.openpty()
            # Raw from the start, so that nothing is echoed or translated before the driver opens it.
            tty.setraw(slave)
            self._master, self._slave = master, slave
            link = f"{self.url}.new"
            with contextlib.suppress(FileNotFoundError):
                os.unlink(link)
            os.symlink(os.ttyname(slave), link)
            os.replace(link, self.url)

    # --- the serving thread ----------------------------------------------------------------------

    def _nudge(self) -> None:
        with contextlib.suppress(OSError):  # full (a nudge is pending anyway) or closed (stopped)
            os.write(self._wake_w, b"!")

    def _serve(self) -> None:
        buffer = b""
        while not self._stop.is_set():
            if self._changing.is_set():
                time.sleep(0.001)
                continue
            with self._lock:
                master = self._master
                if master is None:
                    buffer = b""
                watched = [self._wake_r] if master is None else [master, self._wake_r]
                ready, _, _ = select.select(watched, [], [], _IDLE_WAIT_S)
                if self._wake_r in ready:
                    os.read(self._wake_r, 64)
                if master is not None and master in ready:
                    buffer = self._serve_once(master, buffer)

    def _serve_once(self, master: int, buffer: bytes) -> bytes:
        try:
            buffer += os.read(master, 256)
        except OSError:
            return b""
        while buffer:
            try:
                end = self._request_end(buffer)
            except FrameError:
                buffer = buffer[1:]  # resynchronise on the next byte, as a board's receiver does
                continue
            if not end:
                break
            frame, buffer = buffer[:end], buffer[end:]
            self.requests.append(frame)
            self.timeline.append((time.monotonic(), "request", frame))
            self._answer(master, frame)
        return buffer

    def _request_end(self, buffer: bytes) -> int:
        if self.protocol == "kerong":
            return kerong.frame_end(buffer)
        return board8a.request_end(buffer)

    def _answer(self, master: int, frame: bytes) -> None:
        try:
            found = self._act(frame)
        except FrameError as error:
            log.info("sim bus %s: ignoring %s (%s)", self.name, frame.hex(" "), error)
            return
        for board, reply, delay_s in found:
            if delay_s:
                time.sleep(delay_s)  # a slow board thinks before it acts and answers
            if not board.silent:
                self._reply(master, board, reply())

    def _reply(self, master: int, board: SimBoard, reply: bytes) -> None:
        fault = board.next_fault()
        if fault is Fault.NO_REPLY:
            return
        if fault is Fault.BAD_CHECKSUM:
            reply = reply[:-1] + bytes((reply[-1] ^ 0x5A,))
        # The adapter holds the bytes for its latency timer.
        delay_s = self.adapter_delay_s + (self.late_s if fault is Fault.LATE_REPLY else 0.0)
        if delay_s:
            time.sleep(delay_s)
        try:
            if fault is Fault.SPLIT_REPLY:
                half = len(reply) // 2
                os.write(master, reply[:half])
                time.sleep(self.split_gap_s)
                os.write(master, reply[half:])
            else:
                os.write(master, reply)
            self.timeline.append((time.monotonic(), "reply", reply))
        except OSError as error:
            log.info("sim bus %s: reply lost: %s", self.name, error)

    def _act(self, frame: bytes) -> list[_Answer]:
        """What the boards do about `frame`: each answering board, how long it thinks, then its reply
        (made when it is due: it acts and reads its feedback then)."""
        if self.protocol == "kerong":
            return self._act_kerong(frame)
        return self._act_board8a(frame)

    def _act_kerong(self, frame: bytes) -> list[_Answer]:
        request = kerong.decode_request(frame)
        if request.command is kerong.Command.STATUS_ALL:
            if (request.board, request.channel) not in kerong.BUS_ADDRESS.values():
                return []
            return [
                (board, functools.partial(self._kerong_status, board, 1, kerong.STATUS_ALL_REPLY), 0.0)
                for _, board in sorted(self.boards.items())
            ]
        board = self.boards.get(request.board)
        if board is None:
            return []
        if request.command is kerong.Command.UNLOCK:
            if not board.answers_unlock:
                board.unlock(request.channel)
                return []
            return [(board, functools.partial(self._kerong_unlock, board, request.channel), board.unlock_reply_s)]
        elif request.command is kerong.Command.UNLOCK_ALL:
            for channel in range(1, board.channels + 1):
                board.unlock(channel)
        return [(board, functools.partial(self._kerong_status, board, request.channel, kerong.STATUS_REPLY), 0.0)]

    @classmethod
    def _kerong_unlock(cls, board: SimBoard, channel: int) -> bytes:
        board.unlock(channel)
        return cls._kerong_status(board, channel, kerong.STATUS_REPLY)

    @staticmethod
    def _kerong_status(board: SimBoard, channel: int, code: int) -> bytes:
        opened = board.open_mask()
        locks = opened if board.unlocked_bit else ~opened & 0xFFFF
        items = sum(1 << (channel - 1) for channel in board.items)
        return kerong.encode_status(kerong.Status(board.address, channel, locks, items), code)

    def _act_board8a(self, frame: bytes) -> list[_Answer]:
        request = board8a.decode_request(frame)
        board = self.boards.get(request.board)
        if board is None:
            return []
        if isinstance(request, board8a.Unlock):
            return [(board, functools.partial(self._board8a_unlock, board, request.channel), board.unlock_reply_s)]
        every = (1 << (8 * board.state_bytes)) - 1
        signals = board.open_mask() if board.high_is_open else ~board.open_mask()
        query = board8a.QueryReply(board.address, signals & every, board.state_bytes)
        return [(board, functools.partial(board8a.encode_query_reply, query), 0.0)]

    @staticmethod
    def _board8a_unlock(board: SimBoard, channel: int) -> bytes:
        board.unlock(channel)
        is_open = bool(board.open_mask() >> (channel - 1) & 1)
        return board8a.encode_unlock_reply(board8a.UnlockReply(board.address, channel, is_open == board.high_is_open))
