"""The controller's heartbeat: waiting for facts is healthy, being stuck in one is not."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from cabinetd.hal.base import PartStateChanged
from tests.flows.rig import Rig


async def test_ok__an_idle_controller_ticks_and_one_stuck_in_a_fact_stalls(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    controller = rig.controller
    controller.stall_after_s = 0.3  # read by the heartbeat each round; ticks every 0.1 s
    stuck = asyncio.Event()
    handle = controller.handle

    async def handle_or_hang(fact: object) -> None:
        if isinstance(fact, PartStateChanged) and fact.part == "hung":
            await stuck.wait()
        await handle(fact)

    controller.handle = handle_or_hang
    await rig.start()
    try:
        await asyncio.sleep(0.8)  # no fact for longer than stall_after_s
        assert not controller.stalled(time.monotonic())
        controller.post(PartStateChanged("hung", False, "a fact that never finishes"))
        await asyncio.sleep(0.8)
        assert controller.stalled(time.monotonic())
        stuck.set()
        await asyncio.sleep(0.3)
        assert not controller.stalled(time.monotonic())
    finally:
        stuck.set()
        await rig.stop()
        rig.sim.close()
