"""The common "8A" RS-485 lock boards (9600 8N1): the frame codec and the driver.

Every frame ends with X, the XOR of the bytes before it.

- unlock: `8A BB CH 11 X` (board BB, channel CH from 1), e.g. `8A 01 01 11 9B`; the board answers
  `8A BB CH SS X` with SS = 0x11 or 0x00, the channel's feedback signal (high or low), possibly
  about 500 ms later (Open-Locker waits up to 1.5 s: `unlock_reply_ms`);
- query all: `80 BB 00 33 X`; the board answers `80 BB S.. 33 X`, e.g. `80 01 00 00 00 33 B2`, with
  one status byte per group of eight channels, as many as the board has: the highest group first,
  so the last status byte holds channels 1-8, channel 1 in its lowest bit. The reply's length says
  how many there are (`reply_end`): it ends at the first 0x33 after the status bytes a configured
  channel needs whose next byte is the frame's XOR. A channel past the groups a board reports reads
  unknown, as Open-Locker reads it.

What a signal means depends on how the locks' feedback switches are wired (`door_feedback`):
"door_closing", Open-Locker's default, reads a high signal (bit 1, 0x11) as a closed door, and
"door_opening" reads it as an open one.

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
MAX_STATE_BYTES: Final = 32  # 256 channels: more than any board drives, so a longer run is noise


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
    signal: bool  # 0x11: high


@dataclass(frozen=True)
class QueryReply:
    board: int
    signals: int  # bit (channel - 1): that channel's feedback signal
    state_bytes: int = 1


def checksum(data: bytes) -> int:
    result = 0
    for byte in data:
        result ^= byte
    return result


def state_bytes(channels: int) -> int:
    """The status bytes that carry `channels` channels."""
    return max(1, (channels + 7) // 8)


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
    status = OPEN if reply.signal else SHUT
    return _seal(bytes((UNLOCK_HEAD, _byte(reply.board, "board"), _byte(reply.channel, "channel"), status)))


def encode_query_reply(reply: QueryReply) -> bytes:
    if not 0 <= reply.signals < 1 << (8 * reply.state_bytes):
        raise ValueError(f"8A state {reply.signals:#x} does not fit {reply.state_bytes} bytes")
    state = reply.signals.to_bytes(reply.state_bytes, "big")
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


def reply_end(buffer: bytes, min_state: int = 1) -> int:
    """The length of the complete reply at the start of `buffer`; 0: need more.

    A query reply has at least `min_state` status bytes; it ends at the first 0x33 after them that
    the XOR byte after it seals. A status byte that happens to be 0x33 and be followed by the XOR of
    what came before it would cut the frame short; requiring the status bytes the configured
    channels need keeps that to boards that send more groups than are wired."""
    if not buffer:
        return 0
    if _head(buffer) == UNLOCK_HEAD:
        return SHORT_FRAME_LEN if len(buffer) >= SHORT_FRAME_LEN else 0
    running = checksum(buffer[: 2 + min_state])
    for index in range(2 + min_state, min(len(buffer) - 1, 3 + MAX_STATE_BYTES)):
        running ^= buffer[index]
        if buffer[index] == QUERY and buffer[index + 1] == running:
            return index + 2
    if len(buffer) > 4 + MAX_STATE_BYTES:
        raise FrameError(4 + MAX_STATE_BYTES, f"no query reply end within {MAX_STATE_BYTES} status bytes")
    return 0


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


def decode_query_reply(frame: bytes) -> QueryReply:
    """A query reply with however many status bytes its length gives (at least one)."""
    if len(frame) < SHORT_FRAME_LEN:
        raise FrameError(len(frame), f"a query reply is at least {SHORT_FRAME_LEN} bytes, got {len(frame)}")
    _check_frame(frame, len(frame), QUERY_HEAD, "a query reply")
    if frame[-2] != QUERY:
        raise FrameError(len(frame) - 2, f"expected 0x33, got 0x{frame[-2]:02X}")
    return QueryReply(frame[1], int.from_bytes(frame[2:-2], "big"), len(frame) - 4)


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
        super().__init__(module, bus, lock.board, lock, timeouts, sink, poll_s=poll_s, clock=clock)
        self.channels = lock.channels
        self.high_is_open = lock.door_feedback == "door_opening"
        # The status bytes the wired channels need: a reply with fewer cannot say where they are.
        self.state_bytes = state_bytes(max(self._channel.values()))

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
        return {channel: reply.signal == self.high_is_open}

    def read_status_reply(self, frame: bytes) -> Feedback:
        reply = decode_query_reply(frame)
        if reply.board != self.board:
            raise FrameError(1, f"reply from board {reply.board}, expected board {self.board}")
        reported = min(self.channels, 8 * reply.state_bytes)
        return {
            channel: bool(reply.signals >> (channel - 1) & 1) == self.high_is_open for channel in range(1, reported + 1)
        }


def build_lock_bank(module: ModuleSection, wiring: LockWiring) -> LockBank:
    """The registry's builder for `driver = "board8a"` (drivers.py): the board on its module's bus."""
    lock = module.lock
    if not isinstance(lock, Board8aModuleLock):
        raise TypeError(f"module {module.name}: not a board8a module")
    bus = wiring.bus(lock.bus, BAUDRATE)
    return Board8aBoard(module, bus, wiring.timeouts, wiring.sink, poll_s=wiring.feedback_poll_s, clock=wiring.clock)
