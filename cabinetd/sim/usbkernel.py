"""What Linux does around the emulated bus: a uevent when a device comes or goes, sysfs `disable` files.

`SimKernel` is told of every hub the bus knows (`hub_known`). A change on one of its ports (a plug, an
unplug, power switched) becomes one uevent, sent once the device has had its enumeration time, as the
kernel announces a device only after enumerating it. Each port gets a `disable` file under the fake
sysfs tree, at the path Linux 6.0 gives it; what a driver writes there is applied the next time the
bus is looked at (listed, or a transfer), as the kernel's hub driver would: `1` switches the port off
and keeps it off, `0` gives it back.
"""

from __future__ import annotations

import threading
from functools import partial
from pathlib import Path

from cabinetd.hal.usbhub import PortPath, sysfs_disable_path
from cabinetd.sim.uevents import SimUevents
from cabinetd.sim.usbdevices import SimHub, SimPort


class SimKernel:
    def __init__(self, *, uevents: SimUevents | None, sysfs: Path | None, enumerate_delay_s: float) -> None:
        self.uevents = uevents
        self.sysfs = sysfs
        self.enumerate_delay_s = enumerate_delay_s
        self._hubs: dict[PortPath, SimHub] = {}

    def hub_known(self, path: PortPath, hub: SimHub) -> None:
        self._hubs[path] = hub
        hub.on_change = partial(self._changed, path)
        if self.sysfs is None:
            return
        for number, port in hub.ports.items():
            disable = sysfs_disable_path(self.sysfs, path, number)
            disable.parent.mkdir(parents=True, exist_ok=True)
            disable.write_text("1" if port.sysfs_disabled else "0", encoding="ascii")

    def sync_sysfs(self) -> None:
        """Apply what was written to the `disable` files since the last look; the bus's lock is held."""
        if self.sysfs is None:
            return
        for path, hub in self._hubs.items():
            for number, port in hub.ports.items():
                try:
                    written = sysfs_disable_path(self.sysfs, path, number).read_text(encoding="ascii").strip()
                except OSError:
                    continue
                disabled = written == "1"
                if disabled != port.sysfs_disabled:
                    hub.switch_from_sysfs(port, disabled)

    def _changed(self, hub: PortPath, port: SimPort) -> None:
        if self.uevents is None:
            return
        where = PortPath(hub.bus, (*hub.ports, port.number))
        action = "add" if port.connected else "remove"
        send = partial(self.uevents.send, action, f"/devices/sim/usb{hub.bus}/{where}", DEVTYPE="usb_device")
        if action == "add" and self.enumerate_delay_s > 0:
            timer = threading.Timer(self.enumerate_delay_s, send)
            timer.daemon = True
            timer.start()
        else:
            send()
