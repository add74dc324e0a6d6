"""What the slot ports driver asks a device itself: its identity, and whether it still answers."""

from __future__ import annotations

import logging
from typing import Any, Final

import usb.core
import usb.util

from cabinetd.hal import usbhub
from cabinetd.hal.base import UsbIdentity

log = logging.getLogger(__name__)

# A control request a healthy device or hub answers in a few milliseconds.
REQUEST_TIMEOUT_MS: Final = 250


def read_identity(device: Any, timeout_ms: int = REQUEST_TIMEOUT_MS) -> UsbIdentity:
    """Vendor, product and serial number; a device that does not answer gets serial None."""
    serial: str | None = None
    if device.iSerialNumber:
        device.default_timeout = timeout_ms
        try:
            serial = usb.util.get_string(device, device.iSerialNumber)
        except (usb.core.USBError, ValueError) as error:
            # pyusb turns a failed language list into ValueError("The device has no langid ...").
            log.warning(
                "USB %04X:%04X at bus %s address %s did not give its serial number: %s",
                device.idVendor,
                device.idProduct,
                device.bus,
                device.address,
                error,
            )
        finally:
            usb.util.dispose_resources(device)
    return UsbIdentity(vendor_id=int(device.idVendor), product_id=int(device.idProduct), serial=serial)


def answers(device: Any, timeout_ms: int = REQUEST_TIMEOUT_MS) -> bool | None:
    """Whether a device answers a standard GET_STATUS: True, False (times out), None (it left)."""
    try:
        device.ctrl_transfer(0x80, usbhub.GET_STATUS, 0, 0, 2, timeout_ms)
        return True
    except usb.core.USBTimeoutError:
        return False
    except usb.core.USBError as error:
        # A stall is still an answer; anything else but a vanished device counts as silence.
        if error.errno == 32:  # EPIPE
            return True
        return None if error.errno == 19 else False  # ENODEV
    finally:
        usb.util.dispose_resources(device)


def same_device(before: UsbIdentity, after: UsbIdentity) -> bool:
    """Whether two sightings on one port can be the same device (a serial may have been unreadable).

    A known serial decides: a handheld switching to accessory mode re-enumerates with another vendor and
    product id but keeps its serial, and must not pass for a device taken out and another put in.
    """
    if before.serial is not None and after.serial is not None:
        return before.serial == after.serial
    return (before.vendor_id, before.product_id) == (after.vendor_id, after.product_id)
