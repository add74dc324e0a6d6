"""The errors drivers raise, apart from the interfaces so that codecs and protocols can raise them too."""

from __future__ import annotations

import enum

from cabinetd.lifecycle import SetupError


class HardwareError(Exception):
    """A driver could not do what it was asked; the message names the slot, board or port."""


class DriverError(HardwareError, SetupError):
    """A driver cannot start here (no pin library, no libusb): `modules[0].lock (gpio): no GPIO ...`."""

    def __init__(self, where: str, driver: str, reason: str) -> None:
        super().__init__(f"{where} ({driver}): {reason}")
        self.where = where
        self.driver = driver
        self.reason = reason


class LockFault(HardwareError):
    """A lock or its board did not take a command (after retries)."""


class PortPowerError(HardwareError):
    """A hub cannot switch the power of a slot's USB port."""


class LinkFailure(enum.Enum):
    """What went wrong on a device link; the controller acts on it (UNRESPONSIVE: power-cycle once)."""

    NO_DEVICE = "no device"
    NO_ACCESSORY = "no accessory support"
    HANDSHAKE_TIMEOUT = "handshake timeout"
    WRONG_SERIAL = "wrong serial"
    BAD_FRAME = "bad frame"
    FRAME_TOO_LONG = "frame too long"
    UNKNOWN_VERSION = "unknown version"
    BAD_JSON = "bad JSON"
    BAD_REPLY = "bad reply"
    UNRESPONSIVE = "unresponsive"
    REFUSED = "refused"  # the agent answered with an error reply


class LinkError(HardwareError):
    """The handheld in a slot could not be talked to, or refused; the message names slot and serial."""

    def __init__(self, slot: int, serial: str | None, failure: LinkFailure, detail: str) -> None:
        super().__init__(f"slot {slot}, device {serial or 'unknown'}: {failure.value}: {detail}")
        self.slot = slot
        self.serial = serial
        self.failure = failure
        self.detail = detail


class FrameError(ValueError):
    """Bytes that are not a valid frame of a wire protocol; `offset` is the byte it went wrong at.

    The one error every frame codec raises (codecs are pure: the driver adds the port to the log line).
    """

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(f"byte {offset}: {reason}")
        self.offset = offset
        self.reason = reason
