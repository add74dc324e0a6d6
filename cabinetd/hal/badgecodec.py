"""Badge reader frames: pure codecs, no I/O.

Two kinds of reader are in use:

- `serial-line` readers send one badge number a line, as hex, decimal or facility,card text, sometimes wrapped in a
  fixed prefix and suffix;
- `rdm6300` 125 kHz readers send `02` + 10 hex characters (5 data bytes) + 2 hex characters (the XOR
  of the 5 data bytes) + `03`, over and over while a badge is held on them.

Every frame becomes a `Badge` (cabinetproto.badges): the number and how many of its bits the reader
told. An rdm6300 tells all 40 (version byte and card number); a line reader's number tells 32 bits up
to 8 hex digits or 4294967295, 40 up to 10 hex digits or 2**40 - 1, and is a long UID beyond. The
driver turns it into the cabinet's one id per card in the configured form. Decimal `0001234567` and
hex `0012D687` are the same badge, whatever the reader's padding. Zero is refused: readers send it
when they read nothing.

The only error these functions raise is `FrameError` (hal/base.py); its message names the byte offset
(within the frame for `decode_*`, within the stream for the splitters).
"""

from __future__ import annotations

import re
from typing import Final, Literal, Protocol

from cabinetd.hal.errors import FrameError
from cabinetproto.badges import UID_BITS, Badge

# How a line reader writes the number: hex, decimal, or Wiegand-26's facility and card ("180,31567",
# "180 31567" or the 3+5 digits "18031567" that readers set to 8-digit output send).
NumberFormat = Literal["hex", "decimal", "wiegand26"]

STX: Final = 0x02
ETX: Final = 0x03
RDM6300_FRAME_LEN: Final = 14
RDM6300_DATA_BYTES: Final = 5
# Longest badge number we take: 10 bytes covers 125 kHz ids and 13.56 MHz UIDs alike.
MAX_BADGE: Final = (1 << 80) - 1
# A serial-line reader's line is a few dozen characters; anything longer is noise, not a badge.
MAX_LINE: Final = 64

_HEX_DIGITS: Final = frozenset(b"0123456789abcdefABCDEF")
_HEX_SEPARATORS: Final = frozenset(":- ")
_WIEGAND_LINE: Final = re.compile(r"([0-9]{1,3})(?:, ?| )([0-9]{1,5})|([0-9]{3})([0-9]{5})")


def line_badge(value: int, *, hex_digits: int | None = None) -> Badge:
    """What a line reader's number tells: by its hex digits when sent in hex, else by its size."""
    if not 0 < value <= MAX_BADGE:
        raise ValueError(f"badge number out of range: {value}")
    if hex_digits is not None:
        bits = 32 if hex_digits <= 8 else 40 if hex_digits <= 10 or value < 1 << 40 else UID_BITS
    else:
        bits = 32 if value < 1 << 32 else 40 if value < 1 << 40 else UID_BITS
    return Badge(value, bits)


# --- rdm6300 -------------------------------------------------------------------------------------


def rdm6300_checksum(data: bytes) -> int:
    checksum = 0
    for byte in data:
        checksum ^= byte
    return checksum


def encode_rdm6300(value: int) -> bytes:
    """The 14-byte frame an rdm6300 reader sends for a 40-bit badge number."""
    if not 0 < value < 1 << (8 * RDM6300_DATA_BYTES):
        raise ValueError(f"an rdm6300 badge number is 1 to 40 bits, got {value}")
    data = value.to_bytes(RDM6300_DATA_BYTES, "big")
    text = f"{data.hex().upper()}{rdm6300_checksum(data):02X}"
    return bytes([STX]) + text.encode("ascii") + bytes([ETX])


def decode_rdm6300(frame: bytes) -> Badge:
    """One complete frame to its 40-bit badge; FrameError names the first byte that is wrong."""
    if len(frame) != RDM6300_FRAME_LEN:
        raise FrameError(min(len(frame), RDM6300_FRAME_LEN), f"frame is {len(frame)} bytes, expected 14")
    if frame[0] != STX:
        raise FrameError(0, f"expected STX 0x02, got 0x{frame[0]:02X}")
    for offset in range(1, RDM6300_FRAME_LEN - 1):
        if frame[offset] not in _HEX_DIGITS:
            raise FrameError(offset, f"0x{frame[offset]:02X} is not a hex digit")
    if frame[-1] != ETX:
        raise FrameError(RDM6300_FRAME_LEN - 1, f"expected ETX 0x03, got 0x{frame[-1]:02X}")
    data = bytes.fromhex(frame[1:11].decode("ascii"))
    sent = int(frame[11:13], 16)
    computed = rdm6300_checksum(data)
    if sent != computed:
        raise FrameError(11, f"checksum 0x{sent:02X} does not match the data's 0x{computed:02X}")
    value = int.from_bytes(data, "big")
    if value == 0:
        raise FrameError(1, "badge number is zero")
    return Badge(value, 40)


# --- serial-line -----------------------------------------------------------------------------------


def encode_line(
    value: int, *, number_format: NumberFormat, prefix: str = "", suffix: str = "", width: int = 10
) -> bytes:
    """A line as a serial-line reader sends it: zero-padded number between prefix and suffix, CR LF."""
    line_badge(value)
    if number_format == "wiegand26":
        digits = f"{value >> 16 & 0xFF:03d},{value & 0xFFFF:05d}"
    else:
        digits = f"{value:0{width}X}" if number_format == "hex" else f"{value:0{width}d}"
    return f"{prefix}{digits}{suffix}\r\n".encode("ascii")


def _decode_wiegand(text: str, start: int, end: int) -> Badge:
    match = _WIEGAND_LINE.match(text, start, end)
    if match is None or match.end() != end:
        raise FrameError(start, f"{text[start:end]!r} is not facility,card")
    facility, card = int(match[1] or match[3]), int(match[2] or match[4])
    if facility > 0xFF or card > 0xFFFF:
        raise FrameError(start, f"facility {facility} or card {card} is out of range (0-255, 0-65535)")
    if facility == card == 0:
        raise FrameError(start, "badge number is zero")
    return Badge(facility << 16 | card, 24)


def decode_line(line: bytes, *, number_format: NumberFormat, prefix: str = "", suffix: str = "") -> Badge:
    """One line (without its line end) to its badge.

    Surrounding blanks are ignored, the prefix and suffix are removed where present, hex may carry
    `:`, `-` or space between digit groups.
    """
    for offset, byte in enumerate(line):
        if not 0x20 <= byte < 0x7F and byte != 0x09:
            raise FrameError(offset, f"0x{byte:02X} is not printable text")
    text = line.decode("ascii")
    start, end = 0, len(text)
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if prefix and text.startswith(prefix, start, end):
        start += len(prefix)
    if suffix and end - len(suffix) >= start and text.endswith(suffix, start, end):
        end -= len(suffix)
    if number_format == "wiegand26":
        return _decode_wiegand(text, start, end)
    digits: list[str] = []
    for offset in range(start, end):
        char = text[offset]
        if number_format == "hex" and char in _HEX_SEPARATORS:
            continue
        valid = char in "0123456789" or (number_format == "hex" and ord(char) in _HEX_DIGITS)
        if not valid:
            raise FrameError(offset, f"{char!r} is not a {number_format} digit")
        digits.append(char)
    if not digits:
        raise FrameError(start, "no badge number in the line")
    # Bound the digits before int() so that a long line cannot cost quadratic time.
    significant = "".join(digits).lstrip("0")
    if len(significant) > (20 if number_format == "hex" else 25):
        raise FrameError(start, f"badge number is longer than {MAX_BADGE.bit_length()} bits")
    value = int(significant or "0", 16 if number_format == "hex" else 10)
    if value == 0:
        raise FrameError(start, "badge number is zero")
    if value > MAX_BADGE:
        raise FrameError(start, f"badge number is longer than {MAX_BADGE.bit_length()} bits")
    return line_badge(value, hex_digits=len(digits) if number_format == "hex" else None)


# --- streams -----------------------------------------------------------------------------------------


class BadgeSplitter(Protocol):
    """Cuts a byte stream from a reader into badges and errors; keeps at most one partial frame."""

    def feed(self, data: bytes) -> list[Badge | FrameError]: ...


class Rdm6300Splitter:
    """Finds rdm6300 frames in a stream, resynchronising on the next STX after anything bad."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._consumed = 0  # stream offset of _buffer[0]

    def _drop(self, count: int) -> None:
        del self._buffer[:count]
        self._consumed += count

    def feed(self, data: bytes) -> list[Badge | FrameError]:
        self._buffer += data
        found: list[Badge | FrameError] = []
        while self._buffer:
            start = self._buffer.find(STX)
            if start != 0:
                skipped = len(self._buffer) if start < 0 else start
                found.append(FrameError(self._consumed, f"{skipped} byte(s) outside a frame"))
                self._drop(skipped)
                continue
            if len(self._buffer) < RDM6300_FRAME_LEN:
                break
            try:
                found.append(decode_rdm6300(bytes(self._buffer[:RDM6300_FRAME_LEN])))
                self._drop(RDM6300_FRAME_LEN)
            except FrameError as error:
                found.append(FrameError(self._consumed + error.offset, error.reason))
                # One bad frame is one error: drop it whole, unless a new frame starts inside it.
                restart = self._buffer.find(STX, 1, RDM6300_FRAME_LEN)
                self._drop(restart if restart > 0 else RDM6300_FRAME_LEN)
        return found


class LineSplitter:
    """Finds lines (LF, CR or CR LF) in a stream and decodes each; blank lines are ignored."""

    def __init__(self, *, number_format: NumberFormat, prefix: str = "", suffix: str = "") -> None:
        self._number_format: NumberFormat = number_format
        self._prefix = prefix
        self._suffix = suffix
        self._buffer = bytearray()
        self._consumed = 0
        self._overlong = False  # inside a line already reported as too long: skip to its end

    def _drop(self, count: int) -> None:
        del self._buffer[:count]
        self._consumed += count

    def feed(self, data: bytes) -> list[Badge | FrameError]:
        self._buffer += data
        found: list[Badge | FrameError] = []
        while True:
            end = next((i for i, byte in enumerate(self._buffer) if byte in (0x0A, 0x0D)), -1)
            if end < 0:
                if len(self._buffer) > MAX_LINE:
                    if not self._overlong:
                        found.append(FrameError(self._consumed, f"line longer than {MAX_LINE} bytes"))
                    self._overlong = True
                    self._drop(len(self._buffer))
                break
            line = bytes(self._buffer[:end])
            start = self._consumed
            self._drop(end + 1)
            if self._overlong:
                self._overlong = False
                continue
            if not line.strip():
                continue
            if len(line) > MAX_LINE:
                found.append(FrameError(start, f"line longer than {MAX_LINE} bytes"))
                continue
            try:
                found.append(
                    decode_line(line, number_format=self._number_format, prefix=self._prefix, suffix=self._suffix)
                )
            except FrameError as error:
                found.append(FrameError(start + error.offset, error.reason))
        return found
