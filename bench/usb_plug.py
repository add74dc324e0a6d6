"""Plug to seen: from a handheld going into a slot to `DevicePlugged` on the event loop; and its floor.

    python -m bench usb_plug [--json] [--plugs N]

The slot ports driver is the production one (usbports.py, usbevents.py) on the emulated bus, with
plug events from the simulated kernel's uevents read through pyudev's Monitor interface, so each plug
costs: one uevent datagram, the driver's thread waking on it, one listing of the bus, the serial
number read from the device, the hand-off to the loop. Polling every `usb.poll_s` (0.25 s, the
fallback where udev is not running) is timed the same way for comparison.

Not in the figures: the kernel's enumeration of a real device and udev running its rules before it
rebroadcasts the event (tens of milliseconds on a Raspberry Pi, more for a handheld that is slow to
answer its descriptors).

The floor is the same hand-off without the driver: a datagram on a socket pair wakes a thread
blocked in select(), which lists the same bus once and posts to the loop. `ratio_p99` = p99 / floor
p99; `within_200ms` says whether the udev path's p99 stays under the 200 ms a slot owes a technician
watching its LED.
"""

from __future__ import annotations

import argparse
import asyncio
import select
import socket
import statistics
import threading
import time
from typing import Any, Final

import usb.core

from cabinetd.hal.base import DevicePlugged, DeviceUnplugged
from cabinetd.sim.usbdevices import handheld
from cabinetd.sim.usbtopology import bus_for_config
from testbed.usbrig import ports_rig, usb_config

PORT: Final = "1-1.1"
PORTS: Final = {1: PORT}
DEFAULT_POLL_S: Final = 0.25
BUDGET_MS: Final = 200.0


def _percentiles(samples_s: list[float]) -> dict[str, float]:
    ordered = sorted(sample * 1000 for sample in samples_s)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return {"p50_ms": cuts[49], "p99_ms": cuts[98], "max_ms": ordered[-1]}


async def _plug_to_seen(plugs: int, *, udev: bool) -> list[float]:
    samples = []
    async with ports_rig(PORTS, udev=udev, poll_s=DEFAULT_POLL_S) as rig:
        for number in range(plugs):
            started = time.perf_counter()
            rig.bus.plug(PORT, handheld(f"BENCH{number:04d}"))
            await rig.events.next(DevicePlugged, 5.0)
            samples.append(time.perf_counter() - started)
            rig.bus.unplug(PORT)
            await rig.events.next(DeviceUnplugged, 5.0)
    return samples


async def _floor(plugs: int) -> list[float]:
    bus = bus_for_config(usb_config(PORTS), devices={1: handheld("FLOOR")})
    loop = asyncio.get_running_loop()
    kernel, listener = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    seen: asyncio.Queue[float] = asyncio.Queue()
    stop = threading.Event()

    def listen() -> None:
        while not stop.is_set():
            ready, _, _ = select.select([listener], [], [], 0.5)
            if ready:
                listener.recv(8192)
                list(usb.core.find(find_all=True, backend=bus))
                loop.call_soon_threadsafe(seen.put_nowait, time.perf_counter())

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    samples = []
    try:
        for _ in range(plugs):
            started = time.perf_counter()
            kernel.send(b"add@/devices/floor\0")
            await seen.get()
            samples.append(time.perf_counter() - started)
            await asyncio.sleep(0.005)  # the driver's runs have an unplug between plugs
    finally:
        stop.set()
        thread.join()
        kernel.close()
        listener.close()
    return samples


async def _measure(plugs: int) -> dict[str, Any]:
    await _plug_to_seen(2, udev=True)  # warm-up: imports, first threads
    floor = _percentiles(await _floor(plugs))
    udev = _percentiles(await _plug_to_seen(plugs, udev=True))
    polling = _percentiles(await _plug_to_seen(max(plugs // 4, 2), udev=False))
    return {
        "plugs": plugs,
        "udev": udev,
        "polling_every_0.25_s": polling,
        "floor": floor,
        "ratio_p99": udev["p99_ms"] / floor["p99_ms"],
        "within_200ms": udev["p99_ms"] < BUDGET_MS,
    }


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench usb_plug")
    parser.add_argument("--plugs", type=int, default=100, help="plugs to time (default 100)")
    options = parser.parse_args(argv)
    if options.plugs < 2:
        parser.error("--plugs must be at least 2")
    return asyncio.run(_measure(options.plugs))
