"""Plug events from udev: the slot ports driver lists the bus when the kernel says a USB device came or went.

udev rebroadcasts each kernel uevent once its rules have run (the device node then has the group and
mode 99-cabinetd.rules gives it), so a device is opened only after it is ready. pyudev's netlink
`Monitor` (source "udev", filtered to subsystem usb, devtype usb_device) delivers them on a file
descriptor that the driver's thread waits on.

Where udev does not run (a container, an image without systemd-udevd: no /run/udev/control) or pyudev
cannot load libudev, there is no monitor and the driver polls the bus instead.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Final

import pyudev  # type: ignore[import-untyped]  # pyudev ships no types

log = logging.getLogger(__name__)

# systemd-udevd's control socket: present while udev runs (libudev itself checks for it).
UDEV_CONTROL: Final = Path("/run/udev/control")
SUBSYSTEM: Final = "usb"
DEVTYPE: Final = "usb_device"  # the device itself, not each of its interfaces


def open_udev_monitor(control: Path = UDEV_CONTROL) -> Any | None:
    """A started pyudev monitor of USB devices, or None where udev is not there to send events."""
    if not control.exists():
        log.info("slot USB ports: udev is not running (no %s); polling the bus", control)
        return None
    try:
        monitor = pyudev.Monitor.from_netlink(pyudev.Context(), source="udev")
        monitor.filter_by(SUBSYSTEM, device_type=DEVTYPE)
        monitor.start()
    except (ImportError, OSError) as error:
        log.warning("slot USB ports: cannot listen to udev (%s); polling the bus", error)
        return None
    log.info("slot USB ports: listening to udev for plug events")
    return monitor


def drain(monitor: Any) -> int:
    """Take every event waiting on `monitor` without blocking; returns how many there were.

    The events only say that something changed: the driver lists the bus afterwards, which also
    covers an event the kernel dropped. OSError (the socket's buffer overflowed: ENOBUFS) ends the
    drain and is raised for the caller to log.
    """
    count = 0
    while True:
        device = monitor.poll(timeout=0)
        if device is None:
            return count
        count += 1
        log.debug("udev: %s %s", device.action, device.device_path)
