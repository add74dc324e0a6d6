"""Kerong KR-CU lock boards on RS-485 (19200 8N1): the frame codec and the driver.

Frames are `02 ADDR CMD 03 SUM`, SUM the sum of the preceding bytes & 0xFF, ADDR = (board << 4) | lock
with lock = channel - 1 (channel 1 of board 0 is ADDR 0x00: unlock is `02 00 31 03 36`). A board
answers with its status, `02 ADDR 35 L1-8 L9-16 IR1-8 IR9-16 03 SUM`: one feedback bit per lock and
one infrared item-sensor bit per compartment, channel 1 in bit 0 of the first byte of each pair.

The status of one board is asked with 0x30 at ADDR `board << 4` and answered by that 0x35 frame; a
board that answers an unlock at all answers it with the same frame. The bus-wide query 0x32 goes to
ADDR F0 (some implementations send it to 00), and every board on the bus answers it in turn with a
0x36 frame at its own ADDR carrying the same four data bytes. Which poll a board gets is `poll` in its
config ("board": 0x30, the default, as most public implementations do; "bus": 0x32 and its 0x36).
Board revisions differ in the polarity of the lock bits: `unlocked_bit` says which value means
"unlocked", 0 by default (most implementations read a lock bit of 1 as closed). docs/hardware.md
names the sources.

The codec functions are pure and raise only `FrameError`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from cabinetd.clock import Clock
from cabinetd.config import KerongModuleLock, ModuleSection, TimeoutsSection
from cabinetd.hal.base import EventSink, LockBank
from cabinetd.hal.errors import FrameError
from cabinetd.hal.lockboard import FEEDBACK_POLL_S, Feedback, LockBoard
from cabinetd.hal.rs485 import Exchange, Rs485Bus
from cabinetd.hal.wiring import LockWiring

BAUDRATE: Final = 19200
STX: Final = 0x02
ETX: Final = 0x03
LOCKS: Final = 16
STATUS_REPLY: Final = 0x35
STATUS_ALL_REPLY: Final = 0x36
BUS_ADDRESS: Final = {"F0": (15, 1), "00": (0, 1)}  # the bus-wide query's ADDR as (board, channel)
REQUEST_LEN: Final = 5
STATUS_LEN: Final = 9


class Command(enum.IntEnum):
    STATUS = 0x30
    UNLOCK = 0x31
    STATUS_ALL = 0x32
    UNLOCK_ALL = 0x33


_COMMANDS: Final = frozenset(int(command) for command in Command)


@dataclass(frozen=True)
class Request:
    board: int  # 0-15
    channel: int  # 1-16; the "all" commands carry channel 1
    command: Command


@dataclass(frozen=True)
class Status:
    board: int
    channel: int  # from the echoed ADDR
    locks: int  # bit (channel - 1): that lock's feedback bit
    items: int  # bit (channel - 1): that compartment's infrared item sensor


def checksum(data: bytes) -> int:
    return sum(data) & 0xFF


def address(board: int, channel: int) -> int:
    if not 0 <= board < 16:
        raise ValueError(f"kerong board must be 0-15, got {board}")
    if not 1 <= channel <= LOCKS:
        raise ValueError(f"kerong channel must be 1-{LOCKS}, got {channel}")
    return board << 4 | (channel - 1)


def encode_request(request: Request) -> bytes:
    body = bytes((STX, address(request.board, request.channel), request.command, ETX))
    return body + bytes((checksum(body),))


def encode_status(status: Status, code: int = STATUS_REPLY) -> bytes:
    """A status frame: 0x35 (to 0x30 or 0x31), or 0x36 (each board's answer to the bus-wide 0x32)."""
    body = bytes(
        (
            STX,
            address(status.board, status.channel),
            code,
            status.locks & 0xFF,
            status.locks >> 8 & 0xFF,
            status.items & 0xFF,
            status.items >> 8 & 0xFF,
            ETX,
        )
    )
    return body + bytes((checksum(body),))


def frame_end(buffer: bytes) -> int:
    """The length of the complete frame (request or status) at the start of `buffer`; 0: need more."""
    if not buffer:
        return 0
    if buffer[0] != STX:
        raise FrameError(0, f"expected STX 0x02, got 0x{buffer[0]:02X}")
    if len(buffer) < 3:
        return 0
    if buffer[2] in (STATUS_REPLY, STATUS_ALL_REPLY):
        length = STATUS_LEN
    elif buffer[2] in _COMMANDS:
        length = REQUEST_LEN
    else:
        raise FrameError(2, f"0x{buffer[2]:02X} is not a kerong command or reply")
    return length if len(buffer) >= length else 0


def _check_frame(frame: bytes, length: int, what: str) -> None:
    if len(frame) != length:
        raise FrameError(min(len(frame), length), f"{what} is {length} bytes, got {len(frame)}")
    if frame[0] != STX:
        raise FrameError(0, f"expected STX 0x02, got 0x{frame[0]:02X}")
    if frame[-2] != ETX:
        raise FrameError(length - 2, f"expected ETX 0x03, got 0x{frame[-2]:02X}")
    expected = checksum(frame[:-1])
    if frame[-1] != expected:
        raise FrameError(length - 1, f"checksum 0x{frame[-1]:02X}, expected 0x{expected:02X}")


def decode_request(frame: bytes) -> Request:
    _check_frame(frame, REQUEST_LEN, "a request")
    try:
        command = Command(frame[2])
    except ValueError:
        raise FrameError(2, f"0x{frame[2]:02X} is not a kerong command") from None
    return Request(board=frame[1] >> 4, channel=(frame[1] & 0x0F) + 1, command=command)


def decode_status(frame: bytes, code: int = STATUS_REPLY) -> Status:
    _check_frame(frame, STATUS_LEN, "a status reply")
    if frame[2] != code:
        raise FrameError(2, f"expected status reply 0x{code:02X}, got 0x{frame[2]:02X}")
    return Status(
        board=frame[1] >> 4,
        channel=(frame[1] & 0x0F) + 1,
        locks=frame[3] | frame[4] << 8,
        items=frame[5] | frame[6] << 8,
    )


class KerongBoard(LockBoard):
    """One KR-CU board's locks; several boards share a bus by their address switches."""

    protocol = "kerong"

    def __init__(
        self,
        module: ModuleSection,
        bus: Rs485Bus,
        timeouts: TimeoutsSection,
        sink: EventSink,
        *,
        poll_s: float = FEEDBACK_POLL_S,
        clock: Clock | None = None,
    ) -> None:
        lock = module.lock
        if not isinstance(lock, KerongModuleLock):
            raise TypeError(f"module {module.name}: not a kerong module")
        super().__init__(module, bus, lock.board, lock, timeouts, sink, poll_s=poll_s, clock=clock)
        self.unlocked_bit = lock.unlocked_bit
        self.status_to_every_board = lock.poll == "bus"
        if self.status_to_every_board:
            self._status_frame = encode_request(Request(*BUS_ADDRESS[lock.bus_address], Command.STATUS_ALL))
        else:
            self._status_frame = encode_request(Request(self.board, 1, Command.STATUS))

    def unlock_request(self, channel: int) -> bytes:
        return encode_request(Request(self.board, channel, Command.UNLOCK))

    def status_request(self) -> bytes:
        return self._status_frame

    def reply_end(self, buffer: bytes) -> int:
        return frame_end(buffer)

    def own_status_frame(self, exchange: Exchange) -> bytes:
        if not self.status_to_every_board:
            return exchange.frame
        frames = (exchange.frame, *exchange.more)
        for frame in frames:
            if len(frame) > 1 and frame[1] >> 4 == self.board:
                return frame
        raise FrameError(1, f"none of the {len(frames)} 0x36 replies is from board {self.board}")

    def read_unlock_reply(self, frame: bytes, channel: int) -> Feedback:
        return self._feedback_of(decode_status(frame))

    def read_status_reply(self, frame: bytes) -> Feedback:
        return self._feedback_of(decode_status(frame, STATUS_ALL_REPLY if self.status_to_every_board else STATUS_REPLY))

    def _feedback_of(self, status: Status) -> Feedback:
        if status.board != self.board:
            raise FrameError(1, f"reply from board {status.board}, expected board {self.board}")
        return {channel: (status.locks >> (channel - 1) & 1) == self.unlocked_bit for channel in range(1, LOCKS + 1)}


def build_lock_bank(module: ModuleSection, wiring: LockWiring) -> LockBank:
    """The registry's builder for `driver = "kerong"` (drivers.py): the board on its module's bus."""
    lock = module.lock
    if not isinstance(lock, KerongModuleLock):
        raise TypeError(f"module {module.name}: not a kerong module")
    bus = wiring.bus(lock.bus, BAUDRATE)
    return KerongBoard(module, bus, wiring.timeouts, wiring.sink, poll_s=wiring.feedback_poll_s, clock=wiring.clock)
