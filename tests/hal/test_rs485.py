"""The RS-485 bus transport on a bare pty: how one exchange ends, and what is counted."""

from __future__ import annotations

import asyncio
import os
import select
import threading
import time
import tty
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from cabinetd.hal import kerong
from cabinetd.hal.base import PartStateChanged
from cabinetd.hal.rs485 import Exchange, Outcome, Rs485Bus
from testbed.recorder import EventRecorder

STATUS_REQUEST = bytes.fromhex("02 00 32 03 37")
STATUS_REPLY = bytes.fromhex("02 00 35 00 00 00 00 03 3A")


class Board:
    """The far end of the pty: answers the next request with whatever the test scripted."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)

        self.asked_at: list[float] = []
        self.answered_at: list[float] = []

    def answer_next(self, reply: bytes, delay_s: float = 0.0) -> threading.Thread:
        def serve() -> None:
            select.select([self.master], [], [], 2.0)
            os.read(self.master, 64)
            self.asked_at.append(time.monotonic())
            if delay_s:
                time.sleep(delay_s)
            if reply:
                self.answered_at.append(time.monotonic())  # before the write: the bus cannot see it earlier
                os.write(self.master, reply)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def board() -> Iterator[Board]:
    board = Board()
    yield board
    board.close()


@pytest.fixture
async def bus(board: Board) -> AsyncIterator[tuple[Rs485Bus, EventRecorder]]:
    events = EventRecorder()
    bus = Rs485Bus("lockbus", board.path, kerong.BAUDRATE, reply_ms=25, sink=events)
    await bus.prepare()
    yield bus, events
    await bus.cleanup()


async def exchange(bus: Rs485Bus, board: Board, reply: bytes, delay_s: float = 0.0, **options: Any) -> Exchange:
    thread = board.answer_next(reply, delay_s)
    result = await bus.transact(STATUS_REQUEST, kerong.frame_end, **options)
    thread.join()
    return result


async def test_ok__a_complete_frame_ends_the_reply(bus: tuple[Rs485Bus, EventRecorder], board: Board) -> None:
    assert await exchange(bus[0], board, STATUS_REPLY) == Exchange(Outcome.REPLY, STATUS_REPLY)
    assert dict(bus[0].state().counters) == {"frames": 1, "late": 0, "opened": 1, "lost": 0}
    assert bus[0].state().connected


async def test_fail__nothing_back_is_silent(bus: tuple[Rs485Bus, EventRecorder], board: Board) -> None:
    assert await exchange(bus[0], board, b"") == Exchange(Outcome.SILENT, detail="no reply within 100 ms")


async def test_ok__a_board_may_take_longer_to_start_than_the_silence_that_ends_its_reply(
    bus: tuple[Rs485Bus, EventRecorder], board: Board
) -> None:
    # 60 ms: past the 25 ms of silence that ends a reply, inside the 100 ms first-byte window.
    assert await exchange(bus[0], board, STATUS_REPLY, 0.06) == Exchange(Outcome.REPLY, STATUS_REPLY)


async def test_ok__a_request_can_wait_longer_for_its_first_byte(
    bus: tuple[Rs485Bus, EventRecorder], board: Board
) -> None:
    late = await exchange(bus[0], board, STATUS_REPLY, 0.15)
    assert late == Exchange(Outcome.SILENT, detail="no reply within 100 ms")
    # The pty hands bytes from its master to its slave side through a kernel work queue: give the
    # late reply the moment it takes to be waiting on the line, as it would be on a real one.
    await asyncio.sleep(0.05)
    slow = await exchange(bus[0], board, STATUS_REPLY, 0.15, first_byte_s=0.5)
    assert slow == Exchange(Outcome.REPLY, STATUS_REPLY)
    assert dict(bus[0].state().counters)["late"] == 1, "the first one's reply came after its window"


async def test_ok__a_request_every_board_answers_gets_every_reply(
    bus: tuple[Rs485Bus, EventRecorder], board: Board
) -> None:
    second = bytes.fromhex("02 30 36 FE FF 00 00 03 68")
    result = await exchange(bus[0], board, STATUS_REPLY + second, every_board=True)
    assert result == Exchange(Outcome.REPLY, STATUS_REPLY, more=(second,))
    assert dict(bus[0].state().counters)["late"] == 0


async def test_ok__the_line_is_left_quiet_for_the_turnaround_before_each_request(board: Board) -> None:
    bus = Rs485Bus("lockbus", board.path, kerong.BAUDRATE, reply_ms=25, turnaround_ms=50, sink=EventRecorder())
    await bus.prepare()
    try:
        for _ in range(2):
            await exchange(bus, board, STATUS_REPLY)
    finally:
        await bus.cleanup()
    assert board.asked_at[1] - board.answered_at[0] >= 0.05


@pytest.mark.parametrize(("low_latency", "detail"), [(True, ", low latency not supported"), (False, "")])
async def test_ok__a_port_that_refuses_low_latency_mode_is_used_as_it_is(
    board: Board, low_latency: bool, detail: str
) -> None:
    bus = Rs485Bus("lockbus", board.path, kerong.BAUDRATE, reply_ms=25, low_latency=low_latency, sink=EventRecorder())
    await bus.prepare()
    try:
        assert await exchange(bus, board, STATUS_REPLY) == Exchange(Outcome.REPLY, STATUS_REPLY)
    finally:
        await bus.cleanup()
    assert bus.state().detail == f"{board.path} open at 19200 8N1{detail}"


async def test_fail__part_of_a_frame_then_silence_is_short(bus: tuple[Rs485Bus, EventRecorder], board: Board) -> None:
    assert await exchange(bus[0], board, STATUS_REPLY[:4]) == Exchange(
        Outcome.SHORT, STATUS_REPLY[:4], "4 byte(s) then 25 ms of silence"
    )


async def test_fail__bytes_that_start_no_frame_are_garbled(bus: tuple[Rs485Bus, EventRecorder], board: Board) -> None:
    result = await exchange(bus[0], board, b"\xff" + STATUS_REPLY)
    assert (result.outcome, result.detail) == (
        Outcome.GARBLED,
        "garbled reply: byte 0: expected STX 0x02, got 0xFF",
    )
    assert result.frame.startswith(b"\xff")


async def test_ok__bytes_after_the_frame_are_late_and_counted(
    bus: tuple[Rs485Bus, EventRecorder], board: Board
) -> None:
    assert await exchange(bus[0], board, STATUS_REPLY + STATUS_REPLY) == Exchange(Outcome.REPLY, STATUS_REPLY)
    assert dict(bus[0].state().counters)["late"] == 1


async def test_fail__a_port_that_cannot_be_opened(tmp_path: os.PathLike[str]) -> None:
    events = EventRecorder()
    url = f"{tmp_path}/no-such-adapter"
    bus = Rs485Bus("lockbus", url, kerong.BAUDRATE, reply_ms=25, sink=events)
    await bus.prepare()
    try:
        result = await bus.transact(STATUS_REQUEST, kerong.frame_end)
    finally:
        await bus.cleanup()
    assert result.outcome is Outcome.NO_PORT
    assert result.detail.startswith(f"cannot open {url}: ")
    assert (await events.next(PartStateChanged)).connected is False
    assert bus.state().connected is False


async def test_fail__transact_before_prepare(board: Board) -> None:
    bus = Rs485Bus("lockbus", board.path, kerong.BAUDRATE, reply_ms=25, sink=EventRecorder())
    with pytest.raises(RuntimeError) as raised:
        await bus.transact(STATUS_REQUEST, kerong.frame_end)
    assert str(raised.value) == "bus lockbus is not prepared"
