"""Plug events from udev: the driver lists the bus when an event comes, and polls where there is none.

The kernel's side is the simulated one (cabinetd/sim/uevents.py: kernel-format uevents on a datagram
socket, read through pyudev's Monitor interface); the real pyudev monitor is opened where the sandbox
allows it (libudev, a netlink socket), though no udev runs here to send it anything.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cabinetd.hal import usbports
from cabinetd.hal.base import DevicePlugged, DeviceUnplugged, UsbIdentity
from cabinetd.hal.usbevents import DEVTYPE, drain, open_udev_monitor
from cabinetd.sim.uevents import SimUevents, parse_uevent
from cabinetd.sim.usbdevices import handheld
from testbed.usbrig import ports_rig

PORTS = {1: "1-1.1", 2: "1-1.2"}
ALICE = UsbIdentity(0x1209, 0x0001, "HH-0001")
# Polling this slowly would miss every deadline below: what is seen in time came through udev.
SLOW_POLL_S = 5.0


def test_ok__no_monitor_where_udev_does_not_run(tmp_path: Path) -> None:
    assert open_udev_monitor(tmp_path / "control") is None


def test_ok__pyudev_monitor_where_udev_runs(tmp_path: Path) -> None:
    control = tmp_path / "control"
    control.touch()
    monitor = open_udev_monitor(control)
    assert monitor is not None
    assert monitor.started
    assert isinstance(monitor.fileno(), int)
    assert drain(monitor) == 0  # nothing sends here, and taking nothing does not block


def test_ok__uevent_in_the_kernel_format() -> None:
    uevents = SimUevents()
    try:
        uevents.send("add", "/devices/sim/usb1/1-1.1", DEVTYPE=DEVTYPE)
        device = uevents.monitor.poll(timeout=1.0)
        assert device is not None
        assert (device.action, device.device_path, device.get("DEVTYPE")) == ("add", "/devices/sim/usb1/1-1.1", DEVTYPE)
        assert device.properties["SEQNUM"] == "1"
        assert uevents.monitor.poll(timeout=0) is None
    finally:
        uevents.close()
    assert parse_uevent(b"remove@/devices/x\0ACTION=remove\0SUBSYSTEM=usb\0").properties == {
        "ACTION": "remove",
        "SUBSYSTEM": "usb",
    }


async def test_ok__plug_and_unplug_seen_through_udev_without_polling() -> None:
    async with ports_rig(PORTS, udev=True, poll_s=SLOW_POLL_S) as rig:
        assert rig.ports.plug_events == "udev"  # type: ignore[attr-defined]
        started = time.monotonic()
        rig.bus.plug("1-1.1", handheld("HH-0001"))
        assert await rig.events.next(DevicePlugged, 1.0) == DevicePlugged(1, ALICE)
        rig.bus.unplug("1-1.1")
        assert await rig.events.next(DeviceUnplugged, 1.0) == DeviceUnplugged(1)
        assert time.monotonic() - started < SLOW_POLL_S


async def test_ok__a_slow_enumeration_is_announced_when_it_is_done() -> None:
    async with ports_rig(PORTS, udev=True, poll_s=SLOW_POLL_S, enumerate_delay_s=0.3) as rig:
        rig.bus.plug("1-1.1", handheld("HH-0001"))
        assert await rig.events.next(DevicePlugged, 1.5) == DevicePlugged(1, ALICE)


async def test_fail__lost_events_are_caught_up_by_the_resync(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(usbports, "RESYNC_S", 0.3)
    async with ports_rig(PORTS, udev=True, poll_s=SLOW_POLL_S) as rig:
        uevents, rig.bus.kernel.uevents = rig.bus.kernel.uevents, None  # the kernel drops this one
        rig.bus.plug("1-1.1", handheld("HH-0001"))
        rig.bus.kernel.uevents = uevents
        assert await rig.events.next(DevicePlugged, 2.0) == DevicePlugged(1, ALICE)


async def test_fail__udev_going_away_falls_back_to_polling() -> None:
    async with ports_rig(PORTS, udev=True) as rig:
        assert rig.uevents is not None
        rig.uevents.monitor.close()
        rig.bus.plug("1-1.1", handheld("HH-0001"))
        # The driver's thread notices at its next wake-up at the latest (a heartbeat every second).
        assert await rig.events.next(DevicePlugged, 5.0) == DevicePlugged(1, ALICE)
        assert rig.ports.plug_events == "polling"  # type: ignore[attr-defined]
