"""Frames of the device agent protocol (docs/device-protocol.md): pure codec, no I/O.

A frame is an 8-byte header and a payload:

    offset 0  2 bytes  magic "CB" (0x43 0x42)
    offset 2  1 byte   protocol version (1)
    offset 3  1 byte   reserved, 0
    offset 4  4 bytes  payload length, unsigned, big-endian, at most MAX_PAYLOAD
    offset 8  n bytes  payload: one JSON object, UTF-8

The header's layout is the same in every version, so a reader can always skip to the end of a frame
and name the version it cannot read. The only error raised here is `FrameError` (hal/base.py); its
offset counts from the start of the frame, so it also says which field was wrong: below VERSION_AT
the magic, VERSION_AT the version, RESERVED_AT the reserved byte, LENGTH_AT the length, from
PAYLOAD_AT on the payload (raised by the message layer, agentprotocol.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from cabinetd.hal.errors import FrameError

MAGIC: Final = b"CB"
VERSION: Final = 1
SUPPORTED_VERSIONS: Final = frozenset({VERSION})
HEADER_SIZE: Final = 8
VERSION_AT: Final = 2
RESERVED_AT: Final = 3
LENGTH_AT: Final = 4
PAYLOAD_AT: Final = HEADER_SIZE
# 64 KiB holds a usage report for hundreds of apps; a longer announcement is a broken or hostile agent,
# and a reader that believed it would wait for (or buffer) bytes that never come.
MAX_PAYLOAD: Final = 65536


@dataclass(frozen=True)
class Header:
    version: int
    length: int

    @property
    def frame_size(self) -> int:
        return HEADER_SIZE + self.length


@dataclass(frozen=True)
class Frame:
    version: int
    payload: bytes


def encode_frame(payload: bytes, version: int = VERSION) -> bytes:
    """Header + payload; FrameError at LENGTH_AT for a payload over MAX_PAYLOAD."""
    if not 0 <= version <= 0xFF:
        raise FrameError(VERSION_AT, f"version {version} does not fit in a byte")
    if len(payload) > MAX_PAYLOAD:
        raise FrameError(LENGTH_AT, f"payload of {len(payload)} bytes exceeds the {MAX_PAYLOAD}-byte limit")
    return MAGIC + bytes([version, 0]) + len(payload).to_bytes(4, "big") + payload


def parse_header(data: bytes) -> Header:
    """The header at the start of `data` (at least HEADER_SIZE bytes), checked field by field."""
    if len(data) < HEADER_SIZE:
        raise FrameError(len(data), f"header is {len(data)} bytes, expected {HEADER_SIZE}")
    for offset, expected in enumerate(MAGIC):
        if data[offset] != expected:
            raise FrameError(offset, f"expected magic byte 0x{expected:02X}, got 0x{data[offset]:02X}")
    version = data[VERSION_AT]
    if version not in SUPPORTED_VERSIONS:
        supported = ", ".join(str(v) for v in sorted(SUPPORTED_VERSIONS))
        raise FrameError(VERSION_AT, f"unknown protocol version {version} (supported: {supported})")
    if data[RESERVED_AT] != 0:
        raise FrameError(RESERVED_AT, f"reserved byte must be 0, got 0x{data[RESERVED_AT]:02X}")
    length = int.from_bytes(data[LENGTH_AT:HEADER_SIZE], "big")
    if length > MAX_PAYLOAD:
        raise FrameError(LENGTH_AT, f"frame announces {length} bytes, over the {MAX_PAYLOAD}-byte limit")
    return Header(version, length)


def decode_frame(data: bytes) -> Frame:
    """Exactly one complete frame, nothing before or after it."""
    header = parse_header(data)
    if len(data) != header.frame_size:
        offset = min(len(data), header.frame_size)
        raise FrameError(offset, f"frame is {len(data)} bytes, its header announces {header.frame_size}")
    return Frame(header.version, bytes(data[HEADER_SIZE:]))


class FrameDecoder:
    """Cuts a byte stream into frames, whatever sizes the stream arrives in.

    After a FrameError the stream cannot be trusted (there is no way back to a frame boundary), so
    the decoder refuses everything until `reset()`; the link drops the connection instead.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._header: Header | None = None
        self._broken: FrameError | None = None

    @property
    def pending(self) -> int:
        """Bytes of an unfinished frame held back."""
        return len(self._buffer)

    @property
    def expected(self) -> int | None:
        """Size of the frame being received, once its header is in."""
        return None if self._header is None else self._header.frame_size

    def reset(self) -> None:
        self._buffer.clear()
        self._header = None
        self._broken = None

    def feed(self, data: bytes) -> list[Frame]:
        """Frames completed by `data`; FrameError for a stream that is not frames."""
        if self._broken is not None:
            raise self._broken
        self._buffer += data
        frames: list[Frame] = []
        try:
            while True:
                if self._header is None:
                    if len(self._buffer) < HEADER_SIZE:
                        self._check_partial_magic()
                        return frames
                    self._header = parse_header(bytes(self._buffer[:HEADER_SIZE]))
                size = self._header.frame_size
                if len(self._buffer) < size:
                    return frames
                frames.append(Frame(self._header.version, bytes(self._buffer[HEADER_SIZE:size])))
                del self._buffer[:size]
                self._header = None
        except FrameError as error:
            self._broken = error
            raise

    def _check_partial_magic(self) -> None:
        # Fail on the first wrong byte rather than waiting for a header that will never be one.
        for offset, byte in enumerate(self._buffer[: len(MAGIC)]):
            if byte != MAGIC[offset]:
                raise FrameError(offset, f"expected magic byte 0x{MAGIC[offset]:02X}, got 0x{byte:02X}")
