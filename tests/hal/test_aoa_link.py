"""The per-slot refresh task: battery and health while a device sits in its slot, reported on the loop."""

from __future__ import annotations

import asyncio
import contextlib
import threading

import pytest

from cabinetd.hal.base import DeviceRefresh
from cabinetd.hal.errors import LinkFailure
from cabinetd.sim.agent import HandheldAgent
from cabinetd.sim.handheld import LinkFault, SimHandheld
from testbed.handheldrig import link_rig
from testbed.recorder import HandClock

REFRESH_S = 0.05


async def test_ok__a_watched_slot_is_refreshed_at_once_then_every_interval() -> None:
    clock = HandClock()
    agent = HandheldAgent("SIM0001", battery_percent=40, charge_rate_per_min=1, clock=clock)
    async with link_rig({1: SimHandheld("SIM0001", agent=agent)}, refresh_s=REFRESH_S) as rig:
        rig.link.watch(1)
        rig.link.watch(1)  # watching twice is watching once
        first = await rig.refreshes.next()
        assert (first.slot, first.error) == (1, None)
        assert first.hello is not None
        assert (first.hello.battery_percent, first.hello.battery_health, first.hello.charging) == (40, "good", True)
        clock.advance(30 * 60)
        second = await rig.refreshes.next()
        assert second.hello is not None
        assert second.hello.battery_percent == 70
        assert rig.link.watched() == (1,)
        # Reported on the loop's own thread, never from the USB threads.
        assert rig.refreshes.threads == {threading.get_ident()}


async def test_ok__a_silent_device_is_reported_and_watched_on() -> None:
    handheld = SimHandheld("SIM0001")
    handheld.fault = LinkFault.SILENT
    async with link_rig({1: handheld}, refresh_s=REFRESH_S) as rig:
        rig.link.watch(1)
        failed = await rig.refreshes.next()
        assert failed.hello is None
        assert failed.error is not None
        assert failed.error.failure is LinkFailure.UNRESPONSIVE
        assert str(failed.error) == "slot 1, device SIM0001: unresponsive: no reply to hello within 0.25 s"
        handheld.fault = None
        refresh = await rig.refreshes.next()
        while refresh.error is not None:  # a refresh may have started before the fault was cleared
            refresh = await rig.refreshes.next()
        assert refresh.hello is not None
        assert refresh.hello.serial == "SIM0001"


async def test_ok__unwatch_stops_refreshing() -> None:
    async with link_rig({1: SimHandheld("SIM0001"), 2: SimHandheld("SIM0002")}, refresh_s=REFRESH_S) as rig:
        rig.link.watch(1)
        rig.link.watch(2)
        await rig.refreshes.next()
        await rig.refreshes.next()
        rig.link.unwatch(1)
        assert rig.link.watched() == (2,)
        await asyncio.sleep(0.05)
        seen = len(rig.refreshes.refreshes)
        await asyncio.sleep(4 * REFRESH_S)
        later = rig.refreshes.refreshes[seen:]
        assert later
        assert {refresh.slot for refresh in later} == {2}
        assert not rig.link.accessory(1).is_open


async def test_ok__a_device_that_left_is_reported_as_gone() -> None:
    async with link_rig({1: SimHandheld("SIM0001")}, refresh_s=REFRESH_S) as rig:
        rig.link.watch(1)
        await rig.refreshes.next()
        rig.bus.unplug("1-1.1")
        refresh = await rig.refreshes.next()
        while refresh.error is None:
            refresh = await rig.refreshes.next()
        assert refresh == DeviceRefresh(1, None, refresh.error)
        assert refresh.error.failure is LinkFailure.NO_DEVICE


async def test_fail__a_refresh_task_that_dies_stops_run() -> None:
    async with link_rig({1: SimHandheld("SIM0001")}, refresh_s=REFRESH_S) as rig:
        rig.refreshes.fail_with = RuntimeError("the controller could not take the refresh")
        running = asyncio.create_task(rig.link.run())
        rig.link.watch(1)
        with pytest.raises(RuntimeError, match=r"^the controller could not take the refresh$"):
            await asyncio.wait_for(running, 2.0)


async def test_ok__cleanup_cancels_refreshes() -> None:
    handheld = SimHandheld("SIM0001")
    handheld.fault = LinkFault.SILENT
    async with link_rig({1: handheld}, refresh_s=REFRESH_S) as rig:
        rig.link.watch(1)
        await asyncio.sleep(0.05)  # a request is waiting on the silent device
        running = asyncio.create_task(rig.link.run())
        await rig.link.cleanup()
        assert rig.link.watched() == ()
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
