"""8A lock-board frames: byte fixtures from the protocol facts, and properties of the codec."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cabinetd.hal.board8a import (
    Query,
    QueryReply,
    Unlock,
    UnlockReply,
    decode_query_reply,
    decode_request,
    decode_unlock_reply,
    encode_query_reply,
    encode_request,
    encode_unlock_reply,
    reply_end,
    request_end,
    state_bytes,
)
from cabinetd.hal.errors import FrameError


@pytest.mark.parametrize(
    ("request_", "frame"),
    [
        (Unlock(board=1, channel=1), "8A 01 01 11 9B"),
        (Unlock(board=2, channel=24), "8A 02 18 11 81"),
        (Query(board=1), "80 01 00 33 B2"),
    ],
)
def test_ok__request_frames(request_: Unlock | Query, frame: str) -> None:
    assert encode_request(request_) == bytes.fromhex(frame)
    assert decode_request(bytes.fromhex(frame)) == request_


@pytest.mark.parametrize(
    ("reply", "frame"),
    [
        (UnlockReply(board=1, channel=1, signal=True), "8A 01 01 11 9B"),
        (UnlockReply(board=1, channel=1, signal=False), "8A 01 01 00 8A"),
    ],
)
def test_ok__unlock_replies(reply: UnlockReply, frame: str) -> None:
    assert encode_unlock_reply(reply) == bytes.fromhex(frame)
    assert decode_unlock_reply(bytes.fromhex(frame)) == reply


def test_ok__query_reply_of_the_protocol_facts_has_three_status_bytes_all_low() -> None:
    assert decode_query_reply(bytes.fromhex("80 01 00 00 00 33 B2")) == QueryReply(board=1, signals=0, state_bytes=3)


def test_ok__query_reply_state_bytes_are_big_endian_channel_1_in_the_last_byte() -> None:
    frame = bytes.fromhex("80 01 80 00 01 33 33")  # channels 24 and 1 high
    assert decode_query_reply(frame) == QueryReply(board=1, signals=1 << 23 | 1, state_bytes=3)
    assert encode_query_reply(QueryReply(board=1, signals=1 << 23 | 1, state_bytes=3)) == frame


@pytest.mark.parametrize(
    ("frame", "reply"),
    [
        ("80 01 FF 33 4D", QueryReply(board=1, signals=0xFF, state_bytes=1)),
        ("80 01 01 FF 33 4C", QueryReply(board=1, signals=0x1FF, state_bytes=2)),
        ("80 02 01 00 00 00 00 00 33 B0", QueryReply(board=2, signals=1 << 40, state_bytes=6)),
    ],
)
def test_ok__query_reply_length_says_how_many_status_bytes(frame: str, reply: QueryReply) -> None:
    data = bytes.fromhex(frame)
    assert reply_end(data) == len(data)
    assert decode_query_reply(data) == reply


def test_ok__a_status_byte_of_0x33_does_not_end_the_reply_where_its_xor_does_not_follow() -> None:
    data = bytes.fromhex("80 01 33 00 33 81")  # channels 1, 2, 5, 6 of the second group high
    assert reply_end(data) == len(data)
    assert decode_query_reply(data) == QueryReply(board=1, signals=0x3300, state_bytes=2)


def test_ok__reply_end_waits_for_the_status_bytes_the_wired_channels_need() -> None:
    # "80 01 33 B2" would be a complete one-byte reply to a reader that needs no more than channel 8.
    data = bytes.fromhex("80 01 00 33 B2")
    assert reply_end(data, 1) == 5
    assert reply_end(data, 2) == 0


@pytest.mark.parametrize(("channels", "count"), [(1, 1), (8, 1), (9, 2), (16, 2), (24, 3), (25, 4), (48, 6)])
def test_ok__state_bytes(channels: int, count: int) -> None:
    assert state_bytes(channels) == count


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        ("8A 01 01 11 9C", "byte 4: checksum 0x9C, expected 0x9B"),
        ("8A 01 01 12 98", "byte 3: expected unlock 0x11, got 0x12"),
        ("80 01 01 33 B3", "byte 2: expected 0x00, got 0x01"),
        ("80 01 00 34 B5", "byte 3: expected query 0x33, got 0x34"),
        ("8B 01 01 11 9A", "byte 0: expected 0x8A, got 0x8B"),
        ("8A 01 01", "byte 3: an unlock is 5 bytes, got 3"),
    ],
)
def test_fail__bad_request(frame: str, error: str) -> None:
    with pytest.raises(FrameError) as raised:
        decode_request(bytes.fromhex(frame))
    assert str(raised.value) == error


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        ("8A 01 01 22 A8", "byte 3: status 0x22 is neither 0x00 nor 0x11"),
        ("80 01 00 33 B2", "byte 0: expected 0x8A, got 0x80"),
    ],
)
def test_fail__bad_unlock_reply(frame: str, error: str) -> None:
    with pytest.raises(FrameError) as raised:
        decode_unlock_reply(bytes.fromhex(frame))
    assert str(raised.value) == error


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        ("80 01 00 00 00 33 B3", "byte 6: checksum 0xB3, expected 0xB2"),
        ("80 01 00 00 00 34 B5", "byte 5: expected 0x33, got 0x34"),
        ("80 01 33 B2", "byte 4: a query reply is at least 5 bytes, got 4"),
        ("8A 01 00 33 B8", "byte 0: expected 0x80, got 0x8A"),
    ],
)
def test_fail__bad_query_reply(frame: str, error: str) -> None:
    with pytest.raises(FrameError) as raised:
        decode_query_reply(bytes.fromhex(frame))
    assert str(raised.value) == error


@pytest.mark.parametrize(
    ("buffer", "end"),
    [("", 0), ("8A 01 01 11", 0), ("8A 01 01 11 9B 80", 5), ("80 01 00 00 00 33", 0), ("80 01 00 00 00 33 B2", 7)],
)
def test_ok__reply_end(buffer: str, end: int) -> None:
    assert reply_end(bytes.fromhex(buffer), 3) == end


def test_fail__reply_end_after_more_status_bytes_than_any_board_has() -> None:
    with pytest.raises(FrameError) as raised:
        reply_end(bytes.fromhex("80 01") + bytes(40))
    assert str(raised.value) == "byte 36: no query reply end within 32 status bytes"


def test_fail__reply_end_on_a_byte_that_starts_no_frame() -> None:
    with pytest.raises(FrameError) as raised:
        reply_end(b"\x02\x00", 3)
    assert str(raised.value) == "byte 0: expected 0x8A or 0x80, got 0x02"


boards = st.integers(0, 255)
requests = st.one_of(st.builds(Unlock, board=boards, channel=st.integers(1, 255)), st.builds(Query, board=boards))


@given(requests)
def test_ok__every_request_decodes_to_itself(request_: Unlock | Query) -> None:
    frame = encode_request(request_)
    assert request_end(frame) == len(frame)
    assert decode_request(frame) == request_


@given(st.builds(UnlockReply, board=boards, channel=st.integers(1, 255), signal=st.booleans()))
def test_ok__every_unlock_reply_decodes_to_itself(reply: UnlockReply) -> None:
    frame = encode_unlock_reply(reply)
    assert reply_end(frame, 3) == len(frame)
    assert decode_unlock_reply(frame) == reply


@given(st.data())
def test_ok__every_query_reply_decodes_to_itself(data: st.DataObject) -> None:
    count = data.draw(st.integers(1, 6))
    reply = QueryReply(data.draw(boards), data.draw(st.integers(0, (1 << 8 * count) - 1)), count)
    frame = encode_query_reply(reply)
    assert reply_end(frame, count) == len(frame)
    assert decode_query_reply(frame) == reply


@given(st.binary(max_size=64), st.integers(3, 6))
def test_fail__random_bytes_raise_only_frame_error(data: bytes, count: int) -> None:
    for decode in (decode_request, decode_unlock_reply, decode_query_reply):
        with contextlib.suppress(FrameError):
            decode(data)
    for end_of in (request_end, lambda buffer: reply_end(buffer, count)):
        try:
            end = end_of(data)
        except FrameError:
            continue
        assert 0 <= end <= len(data)
