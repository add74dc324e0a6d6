"""One accessory handshake plus `hello` against the simulated handheld, and `hello` alone.

    python -m bench device_link [--json] [--runs N]

Each run plugs a fresh simulated handheld (in its normal USB mode) into a slot of an emulated bus
and times `DeviceLink.hello()` on a fresh link: find the device on the slot's port, GET_PROTOCOL, six
SEND_STRINGs, START, wait for the accessory on the same port, read its serial, claim its interface,
one framed request and its reply, results back on the event loop. Then it times `hello` on the open
link. The code is the production code (aoa.py, devicelink.py) down to pyusb; only the bus is
emulated, so the figures are this machine's cost of our side of the link, not a real cable's.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from cabinetd.hal.base import DeviceRefresh
from cabinetd.hal.devicelink import AoaDeviceLink
from cabinetd.hal.usbhub import PortPath
from cabinetd.sim.handheld import SimHandheld
from cabinetd.sim.usbbus import SimUsbBackend
from cabinetd.sim.usbdevices import SimHub

PORT = "1-1.1"


def _ignore(refresh: DeviceRefresh) -> None:
    """No refresh task runs in this benchmark."""


def _percentiles(samples_s: list[float]) -> dict[str, float]:
    ordered = sorted(sample * 1000 for sample in samples_s)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return {"p50_ms": cuts[49], "p99_ms": cuts[98], "max_ms": ordered[-1]}


async def _one_run() -> tuple[float, float]:
    bus = SimUsbBackend()
    bus.add_bus(1)
    bus.plug("1-1", SimHub(4))
    handheld = SimHandheld("BENCH0001")
    bus.plug(PORT, handheld.usb)
    link = AoaDeviceLink({1: PortPath.parse(PORT)}, _ignore, cabinet_id="bench", request_timeout_s=2.0, backend=bus)
    await link.prepare()
    try:
        started = time.perf_counter()
        await link.hello(1)
        first = time.perf_counter() - started
        started = time.perf_counter()
        await link.hello(1)
        again = time.perf_counter() - started
    finally:
        await link.cleanup()
    if handheld.starts != 1:
        raise RuntimeError(f"expected one handshake per run, saw {handheld.starts}")
    return first, again


async def _measure(runs: int) -> dict[str, Any]:
    await _one_run()  # warm-up: imports, first thread
    firsts, agains = [], []
    for _ in range(runs):
        first, again = await _one_run()
        firsts.append(first)
        agains.append(again)
    return {
        "runs": runs,
        "handshake_and_hello": _percentiles(firsts),
        "hello_on_open_link": _percentiles(agains),
    }


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench device_link")
    parser.add_argument("--runs", type=int, default=200, help="handshakes to time (default 200)")
    options = parser.parse_args(argv)
    if options.runs < 2:
        parser.error("--runs must be at least 2")
    return asyncio.run(_measure(options.runs))
