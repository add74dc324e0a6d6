"""The device link (real aoa.py and devicelink.py) against simulated handhelds on the emulated USB bus."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

from cabinetd.config import CabinetConfig, TimeoutsSection
from cabinetd.hal.base import DeviceRefresh
from cabinetd.hal.devicelink import AoaDeviceLink
from cabinetd.sim.handheld import SimHandheld
from cabinetd.sim.usbbus import SimUsbBackend
from cabinetd.sim.usbtopology import bus_for_config
from testbed.usbrig import usb_config

PORTS: Mapping[int, str] = {1: "1-1.1", 2: "1-1.2"}
REQUEST_S = 0.25


class RefreshRecorder:
    """The refresh sink: keeps every refresh, notes the thread it came on, lets a test await the next."""

    def __init__(self) -> None:
        self.refreshes: list[DeviceRefresh] = []
        self.threads: set[int] = set()
        self._queue: asyncio.Queue[DeviceRefresh] = asyncio.Queue()
        self.fail_with: Exception | None = None  # a sink that breaks, as a buggy controller would

    def __call__(self, refresh: DeviceRefresh) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.refreshes.append(refresh)
        self.threads.add(threading.get_ident())
        self._queue.put_nowait(refresh)

    async def next(self, timeout_s: float = 2.0) -> DeviceRefresh:
        async with asyncio.timeout(timeout_s):
            return await self._queue.get()


@dataclass
class LinkRig:
    config: CabinetConfig
    bus: SimUsbBackend
    link: AoaDeviceLink
    refreshes: RefreshRecorder
    handhelds: dict[int, SimHandheld] = field(default_factory=dict)

    def power_cycle(self, slot: int) -> None:
        port = self.bus.port(PORTS[slot])
        with self.bus.lock:
            port.switch_power(False)
            port.switch_power(True)


@contextlib.asynccontextmanager
async def link_rig(
    handhelds: Mapping[int, SimHandheld] | None = None,
    *,
    request_s: float = REQUEST_S,
    handshake_s: float | None = None,
    refresh_s: float = 60.0,
    enumerate_delay_s: float = 0.0,
) -> AsyncIterator[LinkRig]:
    # The request timeout comes from config, as in the daemon.
    config = usb_config(dict(PORTS))
    config = config.model_copy(update={"timeouts": TimeoutsSection(device_request_s=request_s)})
    plugged = dict(handhelds or {})
    bus = bus_for_config(
        config, devices={slot: handheld.usb for slot, handheld in plugged.items()}, enumerate_delay_s=enumerate_delay_s
    )
    refreshes = RefreshRecorder()
    link = AoaDeviceLink.from_config(
        config,
        refreshes,
        backend=bus,
        refresh_s=refresh_s,
        handshake_timeout_s=handshake_s,
        poll_s=0.01,
    )
    await link.prepare()
    try:
        yield LinkRig(config, bus, link, refreshes, plugged)
    finally:
        await link.cleanup()
