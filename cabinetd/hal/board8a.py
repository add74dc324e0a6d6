"""The common "8A" RS-485 lock boards (9600 8N1): the frame codec and the driver.

Every frame ends with X, the XOR of the bytes before it.

- unlock: `8A BB CH 11 X` (board BB, channel CH from 1), e.g. `8A 01 01 11 9B`; the board answers
  `8A BB CH SS X` with SS = 0x11 while the channel's lock feedback reads open, 0x00 while it reads shut;
- query all: `80 BB 00 33 X`; the board answers `80 BB S.. 33 X`, e.g. `80 01 00 00 00 33 B2`.

Our reading of the query reply, from that example: the single 00 of the query is replaced by the state
bytes, three for a 24-channel board (the example's `00 00 00`: all shut), and more for a larger board
(`state_bytes()`: one bit per channel, at least three bytes). The state bytes read as one big-endian
number whose bit (channel - 1) is set while that channel's lock reads open: the last state byte holds
channels 1-8, channel 1 in its lowest bit. An all-zero reply from an idle board fits "set means open".

The codec functions are pure and raise only `FrameError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from cabinetd.clock import Clock
from cabinetd.config import Board8aModuleLock, ModuleSection, TimeoutsSection
from cabinetd.hal.base import EventSink, LockBank
from cabinetd.hal.errors import FrameError
from cabinetd.hal.lockboard import FEEDBACK_POLL_S, Feedback, LockBoard
from cabinetd.hal.rs485 import Rs485Bus
from cabinetd.hal.wiring import LockWiring

BAUDRATE: Final = 9600
UNLOCK_HEAD: Final = 0x8A
QUERY_HEAD: Final = 0x80
OPEN: Final = 0x11
SHUT: Final = 0x00
QUERY: Final = 0x33
SHORT_FRAME_LEN: Final = 5  # every request, and the unlock reply
MIN_STATE_BYTES: Final = 3


@dataclass(frozen=True)
class Unlock:
    board: int
    channel: int


@dataclass(frozen=True)
class Query:
    board: int


Request = Unlock | Query


@dataclass(frozen=True)
class UnlockReply:
    board: int
    channel: int
    open: bool


@dataclass(frozen=True)
class QueryReply:
    board: int
    open: int  # bit (channel - 1) set while that channel's lock reads open
    state_bytes: int = MIN_STATE_BYTES


def checksum(data: bytes) -> int:
    result = 0
    for byte in data:
        result ^= byte
    return result


def state_bytes(channels: int) -> int:
    return max(MIN_STATE_BYTES, (channels + 7) // 8)


def _byte(value: int, what: str) -> int:
    if not 0 <= value <= 0xFF:
        raise ValueError(f"8A {what} must be 0-255, got {value}")
    return value


def _seal(body: bytes) -> bytes:
    return body + bytes((checksum(body),))


def encode_request(request: Request) -> bytes:
    if isinstance(request, Unlock):
        return _seal(bytes((UNLOCK_HEAD, _byte(request.board, "board"), _byte(request.channel, "channel"), OPEN)))
    return _seal(bytes((QUERY_HEAD, _byte(request.board, "board"), 0x00, QUERY)))


def encode_unlock_reply(reply: UnlockReply) -> bytes:
    status = OPEN if reply.open else SHUT
    return _seal(bytes((UNLOCK_HEAD, _byte(reply.board, "board"), _byte(reply.channel, "channel"), status)))


def encode_query_reply(reply: QueryReply) -> bytes:
    if not 0 <= reply.open < 1 << (8 * reply.state_bytes):
        raise ValueError(f"8A state {reply.open:#x} does not fit {reply.state_bytes} bytes")
    state = reply.open.to_bytes(reply.state_bytes, "big")
    return _seal(bytes((QUERY_HEAD, _byte(reply.board, "board"))) + state + bytes((QUERY,)))


def _head(buffer: bytes) -> int:
    if buffer[0] not in (UNLOCK_HEAD, QUERY_HEAD):
        raise FrameError(0, f"expected 0x8A or 0x80, got 0x{buffer[0]:02X}")
    return buffer[0]


def request_end(buffer: bytes) -> int:
    """The length of the complete request at the start of `buffer`; 0: need more."""
    if not buffer:
        return 0
    _head(buffer)
    return SHORT_FRAME_LEN if len(buffer) >= SHORT_FRAME_LEN else 0


def reply_end(buffer: bytes, n_state: int) -> int:
    """The length of the complete reply at the start of `buffer`; 0: need more."""
    if not buffer:
        return 0
    length = SHORT_FRAME_LEN if _head(buffer) == UNLOCK_HEAD else 4 + n_state
    return length if len(buffer) >= length else 0


def _check_frame(frame: bytes, length: int, head: int, what: str) -> None:
    if len(frame) != length:
        raise FrameError(min(len(frame), length), f"{what} is {length} bytes, got {len(frame)}")
    if frame[0] != head:
        raise FrameError(0, f"expected 0x{head:02X}, got 0x{frame[0]:02X}")
    expected = checksum(frame[:-1])
    if frame[-1] != expected:
        raise FrameError(length - 1, f"checksum 0x{frame[-1]:02X}, expected 0x{expected:02X}")


def decode_request(frame: bytes) -> Request:
    if frame and frame[0] == QUERY_HEAD:
        _check_frame(frame, SHORT_FRAME_LEN, QUERY_HEAD, "a query")
        if frame[2] != 0x00:
            raise FrameError(2, f"expected 0x00, got 0x{frame[2]:02X}")
        if frame[3] != QUERY:
            raise FrameError(3, f"expected query 0x33, got 0x{frame[3]:02X}")
        return Query(frame[1])
    _check_frame(frame, SHORT_FRAME_LEN, UNLOCK_HEAD, "an unlock")
    if frame[3] != OPEN:
        raise FrameError(3, f"expected unlock 0x11, got 0x{frame[3]:02X}")
    return Unlock(frame[1], frame[2])


def decode_unlock_reply(frame: bytes) -> UnlockReply:
    _check_frame(frame, SHORT_FRAME_LEN, UNLOCK_HEAD, "an unlock reply")
    if frame[3] not in (OPEN, SHUT):
        raise FrameError(3, f"status 0x{frame[3]:02X} is neither 0x00 nor 0x11")
    return UnlockReply(frame[1], frame[2], frame[3] == OPEN)


def decode_query_reply(frame: bytes, n_state: int) -> QueryReply:
    length = 4 + n_state
    _check_frame(frame, length, QUERY_HEAD, "a query reply")
    if frame[-2] != QUERY:
        raise FrameError(length - 2, f"expected 0x33, got 0x{frame[-2]:02X}")
    return QueryReply(frame[1], int.from_bytes(frame[2:-2], "big"), n_state)


class Board8aBoard(LockBoard):
    """One 8A board's locks; boards share a bus by their address (1-255)."""

    protocol = "8A"

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
        if not isinstance(lock, Board8aModuleLock):
            raise TypeError(f"module {module.name}: not a board8a module")
        super().__init__(module, bus, lock.board, timeouts, sink, poll_s=poll_s, clock=clock)
        self.channels = lock.channels
        self.state_bytes = state_bytes(lock.channels)

    def unlock_request(self, channel: int) -> bytes:
        return encode_request(Unlock(self.board, channel))

    def status_request(self) -> bytes:
        return encode_request(Query(self.board))

    def reply_end(self, buffer: bytes) -> int:
        return reply_end(buffer, self.state_bytes)

    def read_unlock_reply(self, frame: bytes, channel: int) -> Feedback:
        reply = decode_unlock_reply(frame)
        if reply.board != self.board:
            raise FrameError(1, f"reply from board {reply.board}, expected board {self.board}")
        if reply.channel != channel:
            raise FrameError(2, f"reply for channel {reply.channel}, expected channel {channel}")
        return {channel: reply.open}

    def read_status_reply(self, frame: bytes) -> Feedback:
        reply = decode_query_reply(frame, self.state_bytes)
        if reply.board != self.board:
            raise FrameError(1, f"reply from board {reply.board}, expected board {self.board}")
        return {channel: bool(reply.open >> (channel - 1) & 1) for channel in range(1, self.channels + 1)}


def build_lock_bank(module: ModuleSection, wiring: LockWiring) -> LockBank:
    """The registry's builder for `driver = "board8a"` (drivers.py): the board on its module's bus."""
    lock = module.lock
    if not isinstance(lock, Board8aModuleLock):
        raise TypeError(f"module {module.name}: not a board8a module")
    bus = wiring.bus(lock.bus, BAUDRATE)
    return Board8aBoard(module, bus, wiring.timeouts, wiring.sink, poll_s=wiring.feedback_poll_s, clock=wiring.clock)
