"""Badge frame codecs: byte fixtures from the protocol facts, and properties over any input."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cabinetd.hal.badge import RepeatFilter
from cabinetd.hal.badgecodec import (
    MAX_LINE,
    LineSplitter,
    NumberFormat,
    Rdm6300Splitter,
    canonical_badge,
    decode_line,
    decode_rdm6300,
    encode_line,
    encode_rdm6300,
)
from cabinetd.hal.errors import FrameError

# An rdm6300 frame for badge 62E3086CED: 02, ten hex characters, the XOR of the five data bytes
# (62^E3^08^6C^ED = 08) as two hex characters, 03.
FRAME_62E3086CED = bytes.fromhex("02 36 32 45 33 30 38 36 43 45 44 30 38 03")
# Badge 0x12D687 (decimal 1234567) on an rdm6300: data 00 00 12 D6 87, checksum 43.
FRAME_12D687 = b"\x02000012D68743\x03"


# --- canonical form -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "number_format", "expected"),
    [
        (b"0001234567", "decimal", "12D687"),
        (b"1234567", "decimal", "12D687"),
        (b"0012D687", "hex", "12D687"),
        (b"0012d687", "hex", "12D687"),
        (b"00:12:D6:87", "hex", "12D687"),
        (b"  12-d6-87\t", "hex", "12D687"),
        (b"62E3086CED", "hex", "62E3086CED"),
        (b"0424869101", "decimal", "1952FCED"),
    ],
)
def test_ok__line_gives_canonical_badge(line: bytes, number_format: NumberFormat, expected: str) -> None:
    assert decode_line(line, number_format=number_format) == expected


def test_ok__decimal_and_hex_of_one_badge_are_equal() -> None:
    assert decode_line(b"0001234567", number_format="decimal") == decode_line(b"0012D687", number_format="hex")
    assert decode_rdm6300(FRAME_12D687) == decode_line(b"0001234567", number_format="decimal")


def test_ok__prefix_and_suffix_are_stripped() -> None:
    assert decode_line(b"ID:0012D687;", number_format="hex", prefix="ID:", suffix=";") == "12D687"
    # A reader that sometimes leaves them off is still read.
    assert decode_line(b"0012D687", number_format="hex", prefix="ID:", suffix=";") == "12D687"


@pytest.mark.parametrize(
    ("line", "number_format", "message"),
    [
        (b"12G4", "hex", "byte 2: 'G' is not a hex digit"),
        (b"12A4", "decimal", "byte 2: 'A' is not a decimal digit"),
        (b"12\x0034", "hex", "byte 2: 0x00 is not printable text"),
        (b"   ", "hex", "byte 3: no badge number in the line"),
        (b"0000000000", "decimal", "byte 0: badge number is zero"),
        (b"1" * 21, "hex", "byte 0: badge number is longer than 80 bits"),
        (b"9" * 25, "decimal", "byte 0: badge number is longer than 80 bits"),
        (b"ID:", "hex", "byte 3: no badge number in the line"),
    ],
)
def test_fail__bad_line(line: bytes, number_format: NumberFormat, message: str) -> None:
    with pytest.raises(FrameError) as caught:
        decode_line(line, number_format=number_format, prefix="ID:")
    assert str(caught.value) == message


def test_ok__canonical_form_has_no_leading_zeros() -> None:
    assert canonical_badge(0x00012D687) == "12D687"
    with pytest.raises(ValueError, match="out of range"):
        canonical_badge(0)


# --- rdm6300 ------------------------------------------------------------------------------------------


def test_ok__rdm6300_fixture_frames() -> None:
    assert decode_rdm6300(FRAME_62E3086CED) == "62E3086CED"
    assert decode_rdm6300(FRAME_12D687) == "12D687"
    assert encode_rdm6300(0x62E3086CED) == FRAME_62E3086CED
    assert encode_rdm6300(0x12D687) == FRAME_12D687


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (FRAME_62E3086CED[:-1], "byte 13: frame is 13 bytes, expected 14"),
        (FRAME_62E3086CED + b"\x03", "byte 14: frame is 15 bytes, expected 14"),
        (b"\x03" + FRAME_62E3086CED[1:], "byte 0: expected STX 0x02, got 0x03"),
        (FRAME_62E3086CED[:5] + b"Z" + FRAME_62E3086CED[6:], "byte 5: 0x5A is not a hex digit"),
        (FRAME_62E3086CED[:13] + b"\x0d", "byte 13: expected ETX 0x03, got 0x0D"),
        (FRAME_62E3086CED[:11] + b"09\x03", "byte 11: checksum 0x09 does not match the data's 0x08"),
        (b"\x02000000000000\x03", "byte 1: badge number is zero"),
    ],
)
def test_fail__bad_rdm6300_frame(frame: bytes, message: str) -> None:
    with pytest.raises(FrameError) as caught:
        decode_rdm6300(frame)
    assert str(caught.value) == message


def test_ok__rdm6300_stream_split_anywhere() -> None:
    stream = FRAME_62E3086CED + FRAME_12D687
    for cut in range(len(stream) + 1):
        splitter = Rdm6300Splitter()
        assert splitter.feed(stream[:cut]) + splitter.feed(stream[cut:]) == ["62E3086CED", "12D687"]


def test_fail__rdm6300_stream_bad_checksum_is_one_error() -> None:
    bad = FRAME_62E3086CED[:11] + b"09\x03"
    found = Rdm6300Splitter().feed(FRAME_12D687 + bad + FRAME_12D687)
    assert found[0] == "12D687"
    assert found[2] == "12D687"
    assert isinstance(found[1], FrameError)
    assert str(found[1]) == "byte 25: checksum 0x09 does not match the data's 0x08"


def test_fail__rdm6300_stream_garbage_then_frame() -> None:
    found = Rdm6300Splitter().feed(b"\xff\x00ab" + FRAME_12D687)
    assert [str(item) for item in found] == ["byte 0: 4 byte(s) outside a frame", "12D687"]


def test_fail__rdm6300_stream_frame_cut_short_by_the_next() -> None:
    # A reader reset mid-frame: the next STX starts over, the torn frame is one error.
    found = Rdm6300Splitter().feed(FRAME_62E3086CED[:6] + FRAME_12D687)
    assert [str(item) for item in found] == ["byte 6: 0x02 is not a hex digit", "12D687"]


# --- lines ----------------------------------------------------------------------------------------------


def test_ok__line_stream_endings() -> None:
    splitter = LineSplitter(number_format="hex")
    assert splitter.feed(b"0012D687\r\n62E3086CED\n\n0000AB\r") == ["12D687", "62E3086CED", "AB"]


def test_fail__line_stream_overlong_line_is_one_error() -> None:
    splitter = LineSplitter(number_format="decimal")
    found = splitter.feed(b"1" * (MAX_LINE + 1))
    found += splitter.feed(b"2" * 200 + b"\r\n0001234567\r\n")
    assert [str(item) for item in found] == [f"byte 0: line longer than {MAX_LINE} bytes", "12D687"]


def test_fail__line_stream_error_offsets_are_in_the_stream() -> None:
    found = LineSplitter(number_format="hex").feed(b"0012D687\r\n12X4\r\n")
    assert [str(item) for item in found] == ["12D687", "byte 12: 'X' is not a hex digit"]


# --- properties ------------------------------------------------------------------------------------------

badges_40_bit = st.integers(min_value=1, max_value=(1 << 40) - 1)
formats = st.sampled_from(["hex", "decimal"])
affixes = st.sampled_from(["", "ID:", ";", "#"])


@given(badges_40_bit)
def test_ok__rdm6300_round_trip(value: int) -> None:
    assert decode_rdm6300(encode_rdm6300(value)) == canonical_badge(value)


@given(st.integers(min_value=1, max_value=(1 << 80) - 1), formats, affixes, affixes)
def test_ok__line_round_trip(value: int, number_format: NumberFormat, prefix: str, suffix: str) -> None:
    line = encode_line(value, number_format=number_format, prefix=prefix, suffix=suffix)
    found = LineSplitter(number_format=number_format, prefix=prefix, suffix=suffix).feed(line)
    assert found == [canonical_badge(value)]


@given(st.binary(max_size=64))
def test_fail__rdm6300_random_bytes_raise_only_frame_error(data: bytes) -> None:
    with contextlib.suppress(FrameError):
        decode_rdm6300(data)


@given(st.binary(max_size=200), formats)
def test_fail__line_random_bytes_raise_only_frame_error(data: bytes, number_format: NumberFormat) -> None:
    with contextlib.suppress(FrameError):
        decode_line(data, number_format=number_format)


@given(st.lists(st.binary(max_size=40), max_size=8), badges_40_bit)
def test_ok__rdm6300_stream_recovers_after_any_garbage(chunks: list[bytes], value: int) -> None:
    splitter = Rdm6300Splitter()
    for chunk in chunks:
        assert all(isinstance(item, str | FrameError) for item in splitter.feed(chunk))
    assert splitter.feed(encode_rdm6300(value))[-1] == canonical_badge(value)


@given(st.lists(st.binary(max_size=100), max_size=8), badges_40_bit, formats)
def test_ok__line_stream_recovers_after_any_garbage(
    chunks: list[bytes], value: int, number_format: NumberFormat
) -> None:
    splitter = LineSplitter(number_format=number_format)
    for chunk in chunks:
        assert all(isinstance(item, str | FrameError) for item in splitter.feed(chunk))
    line = encode_line(value, number_format=number_format)
    assert splitter.feed(b"\n" + line)[-1] == canonical_badge(value)


# --- repeats ---------------------------------------------------------------------------------------------


def test_ok__repeat_filter_window() -> None:
    repeats = RepeatFilter(2.0)
    assert repeats.accept("A", 0.0)
    assert not repeats.accept("A", 1.9)  # within 2 s of the last read: the same presentation
    assert not repeats.accept("A", 3.8)  # still held: the window restarts with each frame
    assert repeats.accept("A", 5.8)  # 2 s since the last frame: presented again
    assert repeats.accept("B", 5.9)
    assert repeats.accept("A", 6.0)  # another badge in between ends the merge
