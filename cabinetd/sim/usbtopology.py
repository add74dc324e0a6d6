"""An emulated bus laid out for a cabinet's config: the hubs every slot's port path needs, of one kind.

The kinds (`HUB_KINDS`, `usb.sim.hubs` in config) are the hubs found in the field:

- `per-port`: USB 2 hubs that switch each port's power alone (the ones to build cabinets with);
- `usb3`: USB 3 hubs, each two halves: the USB 2 hub on the slot's bus and a SuperSpeed twin at the same
  port numbers on the next bus (Linux numbers an xHCI controller's USB 3 root hub after its USB 2
  one), sharing each port's VBUS and one Container ID;
- `ganged`: hubs that switch all their ports at once, as a Raspberry Pi 4's own four ports do;
- `no-switching`: hubs without power switching;
- `kernel-repowers`: per-port hubs whose port the kernel's hub driver switches back on after userspace
  switched it off, unless it is disabled through sysfs (needs `sysfs`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Final

from cabinetd.config import CabinetConfig
from cabinetd.hal.usbhub import PortPath
from cabinetd.sim.usbbus import SimUsbBackend
from cabinetd.sim.usbdevices import SimHub, SimUsbDevice

HUB_KINDS: Final = ("per-port", "usb3", "ganged", "no-switching", "kernel-repowers")
_SWITCHING: Final = {"ganged": "ganged", "no-switching": "none"}


def bus_for_config(
    config: CabinetConfig,
    *,
    devices: Mapping[int, SimUsbDevice] | None = None,
    hubs: str = "per-port",
    **options: Any,
) -> SimUsbBackend:
    """A bus with a hub of kind `hubs` wherever a slot's path needs one (root hubs included), and
    `devices` plugged in by slot number; `options` go to the backend (clock, enumerate_delay_s,
    timeout_scale, uevents, sysfs)."""
    if hubs not in HUB_KINDS:
        raise ValueError(f"unknown kind of hub {hubs!r}; one of {', '.join(HUB_KINDS)}")
    backend = SimUsbBackend(**options)
    paths = {slot.number: PortPath.parse(slot.usb_port) for _, slot in config.slots()}
    # Ports each hub needs: the highest port number any slot path uses below it (at least 4).
    needed: dict[PortPath, int] = {}
    for path in paths.values():
        for depth in range(len(path.ports)):
            hub = PortPath(path.bus, path.ports[:depth])
            needed[hub] = max(needed.get(hub, 4), path.ports[depth])
    buses = {hub.bus for hub in needed}
    if hubs == "usb3" and buses & {bus + 1 for bus in buses}:
        raise ValueError(f"USB 3 hubs need the bus after each slot's bus free for their SuperSpeed half: {buses}")
    for hub in sorted(needed, key=lambda where: len(where.ports)):
        _add_hub(backend, hub, needed[hub], hubs)
    for number, device in (devices or {}).items():
        backend.plug(paths[number], device)
    return backend


def _add_hub(backend: SimUsbBackend, where: PortPath, ports: int, kind: str) -> None:
    switching = _SWITCHING.get(kind, "per-port")
    if not where.ports:
        hub = backend.add_bus(where.bus, ports=ports, switching=switching)
    else:
        hub = SimHub(ports, switching=switching, clock=backend.clock)
        backend.plug(where, hub)
    hub.repowered_by_kernel = kind == "kernel-repowers"
    if kind != "usb3":
        return
    twin_at = PortPath(where.bus + 1, where.ports)
    if not where.ports:
        twin = backend.add_bus(twin_at.bus, ports=ports, usb3=True)
        hub.pair_with(twin, None)  # root hubs give no Container ID
    else:
        twin = SimHub(ports, usb3=True, clock=backend.clock)
        backend.plug(twin_at, twin)
        hub.pair_with(twin, hashlib.sha256(str(where).encode()).digest()[:16])
