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
    decode_line,
    decode_rdm6300,
    encode_line,
    encode_rdm6300,
    line_badge,
)
from cabinetd.hal.errors import FrameError
from cabinetproto.badges import UID_BITS, Badge

# An rdm6300 frame for badge 62E3086CED: 02, ten hex characters, the XOR of the five data bytes
# (62^E3^08^6C^ED = 08) as two hex characters, 03.
FRAME_62E3086CED = bytes.fromhex("02 36 32 45 33 30 38 36 43 45 44 30 38 03")
# Badge 0x12D687 (decimal 1234567) on an rdm6300: data 00 00 12 D6 87, checksum 43.
FRAME_12D687 = b"\x02000012D68743\x03"


CARD_12D687 = Badge(0x12D687, 32)  # a card number without its version byte
EM_12D687 = Badge(0x12D687, 40)  # the same card as an rdm6300 reads it: version byte 00


# --- what a frame tells -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "number_format", "expected"),
    [
        (b"0001234567", "decimal", CARD_12D687),
        (b"1234567", "decimal", CARD_12D687),
        (b"0012D687", "hex", CARD_12D687),
        (b"0012d687", "hex", CARD_12D687),
        (b"00:12:D6:87", "hex", CARD_12D687),
        (b"  12-d6-87\t", "hex", CARD_12D687),
        (b"62E3086CED", "hex", Badge(0x62E3086CED, 40)),
        (b"000012D687", "hex", EM_12D687),  # ten hex digits carry the version byte, even when 00
        (b"0424869101", "decimal", Badge(0x1952FCED, 32)),
        (b"0382263917391", "decimal", Badge(0x5900B47B4F, 40)),
        (b"04A1B2C3D4E5F6", "hex", Badge(0x04A1B2C3D4E5F6, UID_BITS)),
    ],
)
def test_ok__line_tells_the_bits_it_carries(line: bytes, number_format: NumberFormat, expected: Badge) -> None:
    assert decode_line(line, number_format=number_format) == expected


def test_ok__decimal_and_hex_of_one_badge_are_equal() -> None:
    assert decode_line(b"0001234567", number_format="decimal") == decode_line(b"0012D687", number_format="hex")
    assert decode_rdm6300(FRAME_12D687).matches(decode_line(b"0001234567", number_format="decimal"))


def test_ok__prefix_and_suffix_are_stripped() -> None:
    assert decode_line(b"ID:0012D687;", number_format="hex", prefix="ID:", suffix=";") == CARD_12D687
    # A reader that sometimes leaves them off is still read.
    assert decode_line(b"0012D687", number_format="hex", prefix="ID:", suffix=";") == CARD_12D687


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


def test_fail__line_badge_refuses_zero() -> None:
    with pytest.raises(ValueError, match="out of range"):
        line_badge(0)


# --- rdm6300 ------------------------------------------------------------------------------------------


def test_ok__rdm6300_fixture_frames() -> None:
    assert decode_rdm6300(FRAME_62E3086CED) == Badge(0x62E3086CED, 40)
    assert decode_rdm6300(FRAME_12D687) == EM_12D687
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
        assert splitter.feed(stream[:cut]) + splitter.feed(stream[cut:]) == [Badge(0x62E3086CED, 40), EM_12D687]


def test_fail__rdm6300_stream_bad_checksum_is_one_error() -> None:
    bad = FRAME_62E3086CED[:11] + b"09\x03"
    found = Rdm6300Splitter().feed(FRAME_12D687 + bad + FRAME_12D687)
    assert found[0] == EM_12D687
    assert found[2] == EM_12D687
    assert isinstance(found[1], FrameError)
    assert str(found[1]) == "byte 25: checksum 0x09 does not match the data's 0x08"


def test_fail__rdm6300_stream_garbage_then_frame() -> None:
    found = Rdm6300Splitter().feed(b"\xff\x00ab" + FRAME_12D687)
    assert [str(item) for item in found] == ["byte 0: 4 byte(s) outside a frame", str(EM_12D687)]


def test_fail__rdm6300_stream_frame_cut_short_by_the_next() -> None:
    # A reader reset mid-frame: the next STX starts over, the torn frame is one error.
    found = Rdm6300Splitter().feed(FRAME_62E3086CED[:6] + FRAME_12D687)
    assert [str(item) for item in found] == ["byte 6: 0x02 is not a hex digit", str(EM_12D687)]


# --- lines ----------------------------------------------------------------------------------------------


def test_ok__line_stream_endings() -> None:
    splitter = LineSplitter(number_format="hex")
    found = splitter.feed(b"0012D687\r\n62E3086CED\n\n0000AB\r")
    assert found == [CARD_12D687, Badge(0x62E3086CED, 40), Badge(0xAB, 32)]


def test_fail__line_stream_overlong_line_is_one_error() -> None:
    splitter = LineSplitter(number_format="decimal")
    found = splitter.feed(b"1" * (MAX_LINE + 1))
    found += splitter.feed(b"2" * 200 + b"\r\n0001234567\r\n")
    assert [str(item) for item in found] == [f"byte 0: line longer than {MAX_LINE} bytes", str(CARD_12D687)]


def test_fail__line_stream_error_offsets_are_in_the_stream() -> None:
    found = LineSplitter(number_format="hex").feed(b"0012D687\r\n12X4\r\n")
    assert [str(item) for item in found] == [str(CARD_12D687), "byte 12: 'X' is not a hex digit"]


# --- properties ------------------------------------------------------------------------------------------

badges_40_bit = st.integers(min_value=1, max_value=(1 << 40) - 1)
formats = st.sampled_from(["hex", "decimal"])
affixes = st.sampled_from(["", "ID:", ";", "#"])


@given(badges_40_bit)
def test_ok__rdm6300_round_trip(value: int) -> None:
    assert decode_rdm6300(encode_rdm6300(value)) == Badge(value, 40)


@given(st.integers(min_value=1, max_value=(1 << 80) - 1), formats, affixes, affixes)
def test_ok__line_round_trip(value: int, number_format: NumberFormat, prefix: str, suffix: str) -> None:
    line = encode_line(value, number_format=number_format, prefix=prefix, suffix=suffix)
    found = LineSplitter(number_format=number_format, prefix=prefix, suffix=suffix).feed(line)
    assert found == [line_badge(value, hex_digits=max(10, len(f"{value:X}")) if number_format == "hex" else None)]


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
        assert all(isinstance(item, Badge | FrameError) for item in splitter.feed(chunk))
    assert splitter.feed(encode_rdm6300(value))[-1] == Badge(value, 40)


@given(st.lists(st.binary(max_size=100), max_size=8), badges_40_bit, formats)
def test_ok__line_stream_recovers_after_any_garbage(
    chunks: list[bytes], value: int, number_format: NumberFormat
) -> None:
    splitter = LineSplitter(number_format=number_format)
    for chunk in chunks:
        assert all(isinstance(item, Badge | FrameError) for item in splitter.feed(chunk))
    line = encode_line(value, number_format=number_format)
    assert splitter.feed(b"\n" + line)[-1] == decode_line(line.strip(), number_format=number_format)


# --- repeats ---------------------------------------------------------------------------------------------


def test_ok__repeat_filter_window() -> None:
    repeats = RepeatFilter(2.0)
    assert repeats.accept("A", 0.0)
    assert not repeats.accept("A", 1.9)  # within 2 s of the last read: the same presentation
    assert not repeats.accept("A", 3.8)  # still held: the window restarts with each frame
    assert repeats.accept("A", 5.8)  # 2 s since the last frame: presented again
    assert repeats.accept("B", 5.9)
    assert repeats.accept("A", 6.0)  # another badge in between ends the merge


# --- facility,card lines ----------------------------------------------------------------------------------


@pytest.mark.parametrize("line", [b"180,31567", b"180, 31567", b"180 31567", b"18031567", b" ID:180,31567 "])
def test_ok__a_facility_card_line_tells_the_low_24_bits(line: bytes) -> None:
    assert decode_line(line, number_format="wiegand26", prefix="ID:") == Badge(0xB47B4F, 24)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"180-31567", "byte 0: '180-31567' is not facility,card"),
        (b"256,00001", "byte 0: facility 256 or card 1 is out of range (0-255, 0-65535)"),
        (b"000,00000", "byte 0: badge number is zero"),
        (b"1803156", "byte 0: '1803156' is not facility,card"),
    ],
)
def test_fail__bad_facility_card_line(line: bytes, message: str) -> None:
    with pytest.raises(FrameError) as caught:
        decode_line(line, number_format="wiegand26")
    assert str(caught.value) == message


def test_ok__facility_card_line_round_trip() -> None:
    line = encode_line(0x5900B47B4F, number_format="wiegand26")
    assert line == b"180,31567\r\n"
    assert LineSplitter(number_format="wiegand26").feed(line) == [Badge(0xB47B4F, 24)]
