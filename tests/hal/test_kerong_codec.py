"""Kerong KR-CU frames: byte fixtures from the protocol facts, and properties of the codec."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cabinetd.hal.errors import FrameError
from cabinetd.hal.kerong import (
    Command,
    Request,
    Status,
    decode_request,
    decode_status,
    encode_request,
    encode_status,
    frame_end,
)


@pytest.mark.parametrize(
    ("request_", "frame"),
    [
        (Request(board=0, channel=1, command=Command.UNLOCK), "02 00 31 03 36"),
        (Request(board=0, channel=1, command=Command.STATUS), "02 00 30 03 35"),
        (Request(board=0, channel=1, command=Command.STATUS_ALL), "02 00 32 03 37"),
        (Request(board=15, channel=1, command=Command.STATUS_ALL), "02 F0 32 03 27"),
        (Request(board=3, channel=1, command=Command.STATUS), "02 30 30 03 65"),
        (Request(board=0, channel=1, command=Command.UNLOCK_ALL), "02 00 33 03 38"),
        (Request(board=3, channel=16, command=Command.UNLOCK), "02 3F 31 03 75"),
        (Request(board=15, channel=2, command=Command.UNLOCK), "02 F1 31 03 27"),
    ],
)
def test_ok__request_frames(request_: Request, frame: str) -> None:
    assert encode_request(request_) == bytes.fromhex(frame)
    assert decode_request(bytes.fromhex(frame)) == request_


def test_ok__status_reply_carries_lock_and_item_bits_channel_1_first() -> None:
    # board 0: locks 1 and 16 read 1, item sensors 2 and 9 see something
    frame = bytes.fromhex("02 00 35 01 80 02 01 03 BE")
    assert decode_status(frame) == Status(board=0, channel=1, locks=0x8001, items=0x0102)
    assert encode_status(Status(board=0, channel=1, locks=0x8001, items=0x0102)) == frame


def test_ok__bus_wide_status_reply_is_0x36_at_the_boards_own_address() -> None:
    # board 3 answers the bus-wide 0x32: lock 1 reads 0, the other fifteen 1; no items
    frame = bytes.fromhex("02 30 36 FE FF 00 00 03 68")
    assert frame_end(frame + b"\x02") == 9
    assert decode_status(frame, 0x36) == Status(board=3, channel=1, locks=0xFFFE, items=0)
    assert encode_status(Status(board=3, channel=1, locks=0xFFFE, items=0), 0x36) == frame


def test_fail__a_0x36_reply_where_a_0x35_was_asked_for() -> None:
    with pytest.raises(FrameError) as raised:
        decode_status(bytes.fromhex("02 30 36 FE FF 00 00 03 68"))
    assert str(raised.value) == "byte 2: expected status reply 0x35, got 0x36"


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        ("02 00 31 03 37", "byte 4: checksum 0x37, expected 0x36"),
        ("41 00 31 03 75", "byte 0: expected STX 0x02, got 0x41"),
        ("02 00 31 04 37", "byte 3: expected ETX 0x03, got 0x04"),
        ("02 00 40 03 45", "byte 2: 0x40 is not a kerong command"),
        ("02 00 31 03", "byte 4: a request is 5 bytes, got 4"),
        ("02 00 31 03 36 00", "byte 5: a request is 5 bytes, got 6"),
        ("", "byte 0: a request is 5 bytes, got 0"),
    ],
)
def test_fail__bad_request(frame: str, error: str) -> None:
    with pytest.raises(FrameError) as raised:
        decode_request(bytes.fromhex(frame))
    assert str(raised.value) == error


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        ("02 00 35 01 80 02 01 03 BF", "byte 8: checksum 0xBF, expected 0xBE"),
        ("02 00 31 03 36", "byte 5: a status reply is 9 bytes, got 5"),
        ("02 00 34 01 80 02 01 03 BD", "byte 2: expected status reply 0x35, got 0x34"),
    ],
)
def test_fail__bad_status_reply(frame: str, error: str) -> None:
    with pytest.raises(FrameError) as raised:
        decode_status(bytes.fromhex(frame))
    assert str(raised.value) == error


@pytest.mark.parametrize(
    ("buffer", "end"),
    [("", 0), ("02", 0), ("02 00", 0), ("02 00 31 03", 0), ("02 00 31 03 36 02", 5), ("02 00 35 00", 0)],
)
def test_ok__frame_end(buffer: str, end: int) -> None:
    assert frame_end(bytes.fromhex(buffer)) == end


@pytest.mark.parametrize(
    ("buffer", "error"),
    [("FF 02", "byte 0: expected STX 0x02, got 0xFF"), ("02 00 99", "byte 2: 0x99 is not a kerong command or reply")],
)
def test_fail__frame_end(buffer: str, error: str) -> None:
    with pytest.raises(FrameError) as raised:
        frame_end(bytes.fromhex(buffer))
    assert str(raised.value) == error


requests = st.builds(Request, board=st.integers(0, 15), channel=st.integers(1, 16), command=st.sampled_from(Command))
statuses = st.builds(
    Status,
    board=st.integers(0, 15),
    channel=st.integers(1, 16),
    locks=st.integers(0, 0xFFFF),
    items=st.integers(0, 0xFFFF),
)


@given(requests)
def test_ok__every_request_decodes_to_itself(request_: Request) -> None:
    frame = encode_request(request_)
    assert frame_end(frame) == len(frame)
    assert decode_request(frame) == request_


@given(statuses)
def test_ok__every_status_decodes_to_itself(status: Status) -> None:
    frame = encode_status(status)
    assert frame_end(frame) == len(frame)
    assert decode_status(frame) == status


@given(st.binary(max_size=64))
def test_fail__random_bytes_raise_only_frame_error(data: bytes) -> None:
    for decode in (decode_request, decode_status):
        with contextlib.suppress(FrameError):
            decode(data)
    try:
        end = frame_end(data)
    except FrameError:
        return
    assert 0 <= end <= len(data)


@given(statuses, st.integers(0, 8), st.integers(1, 255))
def test_fail__any_corrupted_status_byte_is_caught(status: Status, offset: int, flip: int) -> None:
    frame = bytearray(encode_status(status))
    frame[offset] ^= flip
    with pytest.raises(FrameError):
        decode_status(bytes(frame))
