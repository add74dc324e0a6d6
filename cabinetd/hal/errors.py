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


class PowerSwitchRefused(PortPowerError):
    """The hub in front of a slot cannot cut that port's power alone, so nothing was switched.

    `switching` is what the hub does instead: "ganged" (every port at once, as a Raspberry Pi 4's own
    ports) or "none" (no power switching: at most the port's data is cut, VBUS stays on).
    """

    def __init__(self, message: str, *, hub: str, switching: str) -> None:
        super().__init__(message)
        self.hub = hub
        self.switching = switching


class PowerCycleIncomplete(PortPowerError):
    """A power cycle whose device did not leave the bus (`left` False) or did not come back."""

    def __init__(self, message: str, *, left: bool, came_back: bool) -> None:
        super().__init__(message)
        self.left = left
        self.came_back = came_back


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
    NO_LINK = "no such link"  # the device model names a link this cabinet was not built with
    UNAUTHORISED = "unauthorised"  # adb: the device has not accepted the cabinet's key
    OFFLINE = "offline"  # adb: the server sees the device but cannot reach it, or it fell off mid-command
    INSTALL_FAILED = "install failed"  # adb: Android refused a package; its reason is in the detail
    MDM = "MDM"  # the fleet's MDM could not move the device, and its policy is to refuse then


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
