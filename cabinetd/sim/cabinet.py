"""The simulated cabinet: physical models under the production drivers, for `make demo` and the tests.

Doors on mock pins and pty lock boards (`SimLocks`), a pty badge reader, an emulated USB bus with a
handheld in some slots: one with the cabinet's agent app (the `aoa-agent` link), or a stock Android
one that a fake adb server on a loopback port reaches (the `adb` link; its APKs come from
`<state_dir>/packages`). The daemon builds its real drivers on top through
`build_hardware`, so everything above the lowest layer is the code a real cabinet runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cabinetd.config import CabinetConfig
from cabinetd.hal.base import DeviceRefreshSink, EventSink
from cabinetd.hal.hardware import Hardware, build_hardware
from cabinetd.sim.adbserver import FakeAdbServer
from cabinetd.sim.agent import HandheldAgent
from cabinetd.sim.android import SimAndroid
from cabinetd.sim.badgereader import PtyBadgeReader, card_data
from cabinetd.sim.handheld import SimHandheld
from cabinetd.sim.locks import SimLocks
from cabinetd.sim.uevents import SimUevents
from cabinetd.sim.usbtopology import bus_for_config

# The device model of the handhelds the simulator puts in each slot type: the demo fleet's
# (config/fleet-demo.toml), so that the simulated cabinet and the demo cloud agree.
DEMO_MODELS: dict[str, str] = {"pda-standard": "pda-s1", "pda-rugged": "pda-r1"}


def demo_serial(slot: int) -> str:
    return f"SIM{slot:04d}"


class SimCabinet:
    def __init__(
        self,
        config: CabinetConfig,
        *,
        occupied: Iterable[int] | None = None,
        models: Mapping[str, str] = DEMO_MODELS,
        **link_options: Any,
    ) -> None:
        self.config = config
        self.paths = {slot.number: slot.usb_port for _, slot in config.slots()}
        self.models = models
        self.locks = SimLocks(config)
        self.reader = PtyBadgeReader.for_config(config.badge_reader)
        slots = sorted(self.paths)
        chosen = slots[::2] if occupied is None else sorted(occupied)
        self.handhelds: dict[str, SimHandheld] = {}
        self.androids: dict[str, SimAndroid] = {}  # the stock Android handhelds, by serial
        self.adb = FakeAdbServer()
        self.packages = config.cabinet.state_dir / "packages"
        # The simulated kernel's plug events stand in for udev's (usb.sim.plug_events).
        self.uevents = SimUevents() if config.usb.sim.plug_events == "udev" else None
        self.usb = bus_for_config(config, hubs=config.usb.sim.hubs, uevents=self.uevents)
        for slot in chosen:
            model = models.get(config.slot_type(slot), "pda-s1")
            self.insert(slot, self.handheld(demo_serial(slot), model=model))
        self.link_options = link_options
        self.locks.start()

    def handheld(self, serial: str, *, model: str = "pda-s1", link: str = "aoa-agent", **agent: Any) -> SimHandheld:
        """The fleet's handheld with this serial, made on first use; `link = "adb"` makes a stock
        Android one (no accessory support: its battery is the agent model's, its apps the device's)."""
        found = self.handhelds.get(serial)
        if found is None:
            stock = link == "adb"
            battery = HandheldAgent(serial, model=model, **agent)
            found = SimHandheld(serial, agent=battery, aoa_protocol=0 if stock else 2)
            self.handhelds[serial] = found
            if stock:
                self.androids[serial] = SimAndroid(serial, model=model.upper().replace("-", " "), power=battery.power)
        return found

    def link_of(self, handheld: SimHandheld) -> str:
        return "adb" if handheld.serial in self.androids else "aoa-agent"

    def build(self, sink: EventSink, on_refresh: DeviceRefreshSink) -> Hardware:
        return build_hardware(
            self.config,
            sink,
            on_refresh,
            pin_factory=self.locks.pin_factory,
            serial_url_for=self.locks.serial_url_for,
            badge_url=self.reader.url,
            usb_backend=self.usb,
            udev_monitor=None if self.uevents is None else self.uevents.monitor,
            adb={"host": self.adb.host, "port": self.adb.port, "packages": self.packages},
            **self.link_options,
        )

    # --- what a person does at the cabinet -----------------------------------------------------

    def badge(self, badge: str) -> None:
        self.reader.present(card_data(badge))

    def insert(self, slot: int, handheld: SimHandheld) -> None:
        android = self.androids.get(handheld.serial)
        if android is not None:  # the adb server sees it on the slot's port, as `adb devices -l` shows
            self.adb.attach(android, self.paths[slot])
        self.usb.plug(self.paths[slot], handheld.usb)

    def remove(self, slot: int) -> SimHandheld | None:
        device = self.usb.unplug(self.paths[slot])
        for handheld in self.handhelds.values():
            if device is handheld.normal or device is handheld.accessory:
                handheld.usb = handheld.normal  # out of the cabinet the agent leaves accessory mode
                self.adb.detach(handheld.serial)
                return handheld
        return None

    def holds(self, slot: int) -> SimHandheld | None:
        device = self.usb.device_at(self.paths[slot])
        for handheld in self.handhelds.values():
            if device is handheld.normal or device is handheld.accessory:
                return handheld
        return None

    def close(self) -> None:
        self.adb.close()
        self.reader.close()
        self.locks.close()
        if self.uevents is not None:
            self.uevents.close()
