"""A badge reader driver running against a pty badge reader, for the badge tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from cabinetd.config import CabinetConfig
from cabinetd.hal.base import BadgeReader, PartStateChanged
from cabinetd.hal.drivers import build_badge_reader
from cabinetd.sim.badgereader import PtyBadgeReader
from testbed.recorder import EventRecorder, HandClock

REOPEN_S = 0.1


def badge_config(reader: dict[str, Any], *, repeat_s: float = 2.0) -> CabinetConfig:
    """A one-slot cabinet whose badge reader section is `reader`; the reader is reopened quickly."""
    return CabinetConfig.model_validate(
        {
            "cabinet": {"id": "test-1", "store": "0001"},
            "timeouts": {"reader_reopen_s": REOPEN_S, "badge_repeat_s": repeat_s},
            "badge_reader": {"port": "/dev/cabinet-badge", **reader},
            "modules": [
                {
                    "name": "A",
                    "slot_type": "pda",
                    "lock": {"driver": "gpio"},
                    "slots": [{"number": 1, "lock": {"pin": 5}, "door": {"pin": 6}, "usb_port": "1-1.1"}],
                }
            ],
        }
    )


@dataclass
class ReaderRig:
    config: CabinetConfig
    sim: PtyBadgeReader
    reader: BadgeReader
    events: EventRecorder
    clock: HandClock

    async def connection(self, connected: bool, timeout_s: float = 2.0) -> PartStateChanged:
        """The next PartStateChanged saying the reader is (dis)connected."""
        async with asyncio.timeout(timeout_s):
            while True:
                event = await self.events.next(PartStateChanged, timeout_s)
                if event.connected == connected:
                    return event

    def counters(self) -> dict[str, int]:
        return dict(self.reader.state().counters)


@contextlib.asynccontextmanager
async def reader_rig(reader: dict[str, Any], *, plugged: bool = True) -> AsyncIterator[ReaderRig]:
    """A running driver on a pty reader; waits until the driver has the port open when plugged."""
    config = badge_config(reader)
    sim = PtyBadgeReader.for_config(config.badge_reader)
    if not plugged:
        sim.unplug()
    events, clock = EventRecorder(), HandClock()
    driver = build_badge_reader(config, events, url=sim.url, clock=clock)
    rig = ReaderRig(config, sim, driver, events, clock)
    await driver.prepare()
    task = asyncio.create_task(driver.run())
    try:
        if plugged:
            await rig.connection(True)
        yield rig
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await driver.cleanup()
        sim.close()
