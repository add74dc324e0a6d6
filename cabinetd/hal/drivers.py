"""Every driver by the name config gives it: the one place that maps a config string to a driver.

    [[modules]] lock.driver    gpio, kerong, board8a      LOCK_DRIVERS
    [badge_reader] type        serial-line, rdm6300       BADGE_READERS
    [usb] type                 pyusb                      SLOT_PORTS
    a device model's link      aoa-agent, adb             DEVICE_LINKS (every one is built: the fleet
                                                          data picks per device model, linkchoice.py)

A builder reads its config section and the wiring it is handed (wiring.py) and returns the driver; it
opens nothing. Ports, pins and libraries are opened in the driver's `prepare()`, where a missing one is
a `DriverError` naming the config key and the driver (`modules[0].lock (gpio): ...`), or, for a serial
port that may come back, a disconnected part that is reopened forever.

Adding a kind of lock board is one module (its codec, a `LockBoard` subclass and a `build_lock_bank`)
and one line in LOCK_DRIVERS, plus its section in config.py's `ModuleLock` union, which validates the
keys a person writes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

from cabinetd.clock import Clock
from cabinetd.config import BadgeReaderSection, CabinetConfig, ModuleSection
from cabinetd.hal import adb, badge, board8a, devicelink, gpio, kerong, usbports
from cabinetd.hal.base import BadgeReader, DeviceLink, DeviceRefreshSink, EventSink, LockBank, SlotPorts
from cabinetd.hal.linkchoice import LinkChoice
from cabinetd.hal.mdm.headwind import NAME as HEADWIND
from cabinetd.hal.mdm.headwind import HeadwindAdapter
from cabinetd.hal.wiring import LinkWiring, LockWiring, PortsWiring, ReaderWiring

LockDriver = Callable[[ModuleSection, LockWiring], LockBank]
ReaderDriver = Callable[[BadgeReaderSection, ReaderWiring], BadgeReader]
PortsDriver = Callable[[CabinetConfig, PortsWiring], SlotPorts]
LinkDriver = Callable[[CabinetConfig, LinkWiring], DeviceLink]

LOCK_DRIVERS: Final[Mapping[str, LockDriver]] = {
    "gpio": gpio.build_lock_bank,
    "kerong": kerong.build_lock_bank,
    "board8a": board8a.build_lock_bank,
}
BADGE_READERS: Final[Mapping[str, ReaderDriver]] = {
    "serial-line": badge.build_line_reader,
    "rdm6300": badge.build_rdm6300_reader,
}
SLOT_PORTS: Final[Mapping[str, PortsDriver]] = {
    "pyusb": usbports.build_pyusb_ports,
}
# No config key: which link a device model uses is the fleet's to say (cabinetproto.links).
DEVICE_LINKS: Final[Mapping[str, LinkDriver]] = {
    "aoa-agent": devicelink.build_aoa_link,
    "adb": adb.build_adb_link,
}


def build_badge_reader(
    config: CabinetConfig, sink: EventSink, *, url: str | None = None, clock: Clock | None = None
) -> BadgeReader:
    """The reader `badge_reader.type` names; `url` replaces its port (the simulator's pty)."""
    section = config.badge_reader
    wiring = ReaderWiring("badge_reader.port", sink, config.timeouts, url=url, clock=clock)
    return BADGE_READERS[section.type](section, wiring)


def build_slot_ports(
    config: CabinetConfig,
    sink: EventSink,
    *,
    backend: Any = None,
    power_off_s: float = 1.0,
    enumerate_s: float = 5.0,
    clock: Clock | None = None,
    udev_monitor: Any = None,
    sysfs: Path | None = None,
) -> SlotPorts:
    """The slot ports `usb.type` names; `backend` replaces libusb (the simulator's bus), `udev_monitor`
    and `sysfs` the kernel's plug events and sysfs tree (the simulator's, a test's)."""
    wiring = PortsWiring(
        sink,
        backend,
        power_off_s=power_off_s,
        enumerate_s=enumerate_s,
        clock=clock,
        udev_monitor=udev_monitor,
        sysfs=sysfs,
    )
    return SLOT_PORTS[config.usb.type](config, wiring)


def build_device_link(
    config: CabinetConfig,
    on_refresh: DeviceRefreshSink,
    *,
    backend: Any = None,
    adb: Mapping[str, Any] | None = None,
    **options: Any,
) -> DeviceLink:
    """The device link to the handhelds in the slots, every back-end under one `LinkChoice`; `options`
    are the agent link's timings and `adb` the adb link's (the simulator's fake server, tests')."""
    wiring = LinkWiring(on_refresh, backend, options, adb_options=adb or {})
    mdm = {HEADWIND: HeadwindAdapter(config.mdm.headwind)} if config.mdm.headwind is not None else {}
    return LinkChoice({name: build(config, wiring) for name, build in DEVICE_LINKS.items()}, mdm)
