"""What the cabinet hands a driver's builder besides the driver's own config section.

Each kind of driver has its own: where its events go, the clock, the parts it shares with other drivers
(the pin factory, an RS-485 bus), and the fakes the simulator or a test puts under it (mock pins, a pty
URL, an emulated USB bus). Builders (drivers.py) only read config and store what they are given; ports,
pins and libraries are opened in the driver's `prepare()`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cabinetd.clock import Clock
from cabinetd.config import TimeoutsSection
from cabinetd.hal.base import DeviceRefreshSink, EventSink
from cabinetd.hal.pins import PinSource
from cabinetd.hal.rs485 import Rs485Bus

# (bus name, the protocol's own baud rate) -> the bus, shared by every board on it
BusFor = Callable[[str, int], Rs485Bus]


@dataclass(frozen=True)
class LockWiring:
    where: str  # the module's lock section as config spells it: "modules[0].lock"
    timeouts: TimeoutsSection
    sink: EventSink  # where the driver posts its facts (unlock sent, door opened, door closed)
    pins: PinSource
    bus: BusFor
    feedback_poll_s: float
    clock: Clock | None = None


@dataclass(frozen=True)
class ReaderWiring:
    where: str  # "badge_reader.port"
    sink: EventSink
    timeouts: TimeoutsSection
    url: str | None = None  # replaces the configured port: the simulator's pty
    clock: Clock | None = None


@dataclass(frozen=True)
class PortsWiring:
    sink: EventSink
    backend: Any = None  # a pyusb backend; None: libusb-1.0, looked up in prepare()
    power_off_s: float = 1.0
    enumerate_s: float = 5.0
    clock: Clock | None = None
    udev_monitor: Any = None  # the simulator's uevents; None: udev's own, on a real bus where it runs
    sysfs: Path | None = None  # a test's fake sysfs tree; None: /sys on a real bus, none on an emulated one


@dataclass(frozen=True)
class LinkWiring:
    on_refresh: DeviceRefreshSink
    backend: Any = None
    options: Mapping[str, Any] = field(default_factory=dict)  # the agent link's timings, for the simulator and tests
    adb_options: Mapping[str, Any] = field(default_factory=dict)  # the adb link's: its server, for the simulator
