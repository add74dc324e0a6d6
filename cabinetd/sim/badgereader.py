"""A simulated badge reader: a pty pair whose master side sends what a real reader sends.

The driver opens `url`, a symlink to the pty's slave side, the way a real cabinet opens the stable
name a udev rule gives the reader. Unplugging closes the pty (its `/dev/pts` node vanishes, a driver
reading it gets an error) and removes the symlink; plugging in again makes a new pty behind the same
name, as a reader on a USB-serial adapter comes back under its udev name.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import tempfile
import tty
from pathlib import Path

from cabinetd.config import BadgeReaderSection
from cabinetd.hal.badgecodec import (
    ETX,
    STX,
    NumberFormat,
    encode_line,
    encode_rdm6300,
    rdm6300_checksum,
)
from cabinetproto.badges import BadgeError, parse_roster

_CARD_DATA = re.compile(r"^[0-9A-Fa-f]{1,10}$")  # what an rdm6300 frame can carry: 5 bytes


def card_data(badge: str) -> int:
    """The number a simulated card carries for `badge`: a roster entry in any of its forms (bits the
    form does not tell, such as the version byte, are zero), else 1 to 10 hex digits of card data."""
    try:
        return parse_roster(badge).number
    except BadgeError as error:
        if _CARD_DATA.match(badge):
            return int(badge, 16)
        raise ValueError(f"{error}; or 1 to 10 hex digits of card data") from None


class PtyBadgeReader:
    """A badge reader of one kind (`serial-line` or `rdm6300`) that a test or the simulator drives."""

    def __init__(
        self,
        kind: str,
        *,
        number_format: NumberFormat = "hex",
        prefix: str = "",
        suffix: str = "",
        directory: Path | None = None,
        name: str = "badge",
    ) -> None:
        if kind not in ("serial-line", "rdm6300"):
            raise ValueError(f"unknown badge reader kind {kind!r}")
        self.kind = kind
        self.number_format: NumberFormat = number_format
        self.prefix = prefix
        self.suffix = suffix
        self._own_directory = directory is None
        self._directory = Path(tempfile.mkdtemp(prefix="cabinetd-badge-")) if directory is None else directory
        self.path = self._directory / name
        self._master: int | None = None
        self._slave: int | None = None
        self.plug()

    @classmethod
    def for_config(cls, section: BadgeReaderSection, *, directory: Path | None = None) -> PtyBadgeReader:
        """A reader that speaks what `section` says the cabinet's reader speaks."""
        return cls(
            section.type,
            number_format=section.number_format,
            prefix=section.strip_prefix,
            suffix=section.strip_suffix,
            directory=directory,
        )

    @property
    def url(self) -> str:
        return str(self.path)

    @property
    def plugged(self) -> bool:
        return self._master is not None

    def plug(self) -> None:
        if self.plugged:
            return
        master, slave = os.openpty()
        # Raw from the start, so that nothing written before the driver opens the port is echoed or
        # cooked; the driver's open sets raw mode too (and flushes what came before it).
        tty.setraw(slave)
        self._master, self._slave = master, slave
        link = self.path.with_name(self.path.name + ".new")
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        link.symlink_to(os.ttyname(slave))
        link.replace(self.path)

    def unplug(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None

    def close(self) -> None:
        self.unplug()
        if self._own_directory:
            shutil.rmtree(self._directory, ignore_errors=True)

    # --- what the reader sends ------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        if self._master is None:
            raise RuntimeError(f"badge reader {self.url} is unplugged")
        view = memoryview(data)
        while view:
            view = view[os.write(self._master, view) :]

    def frame(self, badge: int) -> bytes:
        """The bytes this reader sends for one read of `badge` (a card's 40 bits, or a longer UID).

        As real readers do, and not as the cabinet would like: an rdm6300 sends all 40 bits; a line
        reader in hex sends 10 digits (20 for a longer UID); in decimal it prints the 32-bit card
        number as 10 digits, dropping the version byte; in wiegand26 only facility and card.
        """
        if self.kind == "rdm6300":
            return encode_rdm6300(badge)
        if self.number_format == "decimal" and badge < 1 << 40:
            badge &= 0xFFFFFFFF
        return encode_line(badge, number_format=self.number_format, prefix=self.prefix, suffix=self.suffix)

    def present(self, badge: int, *, frames: int = 1) -> None:
        """A badge held on the reader: an rdm6300 repeats its frame for as long as it is held."""
        self.send(self.frame(badge) * frames)

    def send_bad_checksum(self, badge: int) -> None:
        frame = bytearray(encode_rdm6300(badge))
        data = bytes.fromhex(frame[1:11].decode("ascii"))
        frame[11:13] = f"{rdm6300_checksum(data) ^ 0x5A:02X}".encode("ascii")
        self.send(bytes(frame))

    def send_garbage(self, size: int = 32, *, seed: int = 0) -> None:
        """Line noise: random bytes without frame or line markers, then a line end to close it off."""
        noise = random.Random(seed).randbytes(size)
        noise = bytes(b for b in noise if b not in (STX, ETX, 0x0A, 0x0D))
        self.send(noise + b"\r\n")
