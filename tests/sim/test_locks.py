"""The simulated cabinet's lock and door side, built from config/sim.toml as `make demo` builds it."""

from __future__ import annotations

import time
import tomllib
from pathlib import Path
from typing import Any

import pytest

from cabinetd.config import CabinetConfig
from cabinetd.hal.base import DoorClosed, DoorOpened, UnlockSent
from cabinetd.hal.gpio import GpioLockBank
from cabinetd.hal.kerong import KerongBoard
from cabinetd.sim import lockboard
from testbed.lockrig import lock_rig

SIM_TOML = Path(__file__).parents[2] / "config" / "sim.toml"


def sim_config() -> CabinetConfig:
    data = tomllib.loads(SIM_TOML.read_text())
    data["timeouts"] = {"door_open_s": 0.2, "board_repoll_s": 0.1}
    return CabinetConfig.model_validate(data)


async def test_ok__the_demo_cabinet_opens_a_gpio_slot_and_a_kerong_slot() -> None:
    async with lock_rig(sim_config()) as rig:
        assert [type(bank) for bank in rig.hardware.lock_banks] == [GpioLockBank, KerongBoard]
        assert [bus.part for bus in rig.hardware.buses] == ["bus/lockbus"]
        for slot in (1, 5):
            await rig.bank(slot).unlock(slot)
            assert await rig.events.next(UnlockSent) == UnlockSent(slot)
            assert rig.door(slot).pull()
            assert await rig.events.next(DoorOpened) == DoorOpened(slot)
            rig.door(slot).push()
            assert await rig.events.next(DoorClosed) == DoorClosed(slot)
        assert rig.bus().boards[0].unlocks == [1]
        assert [part.connected for part in rig.hardware.parts()] == [True, True]


def test_ok__an_idle_simulated_bus_sleeps_until_asked_and_unplugs_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The simulator's serving thread waits in select() for a request or a nudge, not on a short
    timeout: an idle cabinet in the simulator must not spend its CPU on the simulator."""
    waits: list[float | None] = []
    real_select = lockboard.select.select

    def counted(*args: Any) -> Any:
        waits.append(args[3] if len(args) > 3 else None)
        return real_select(*args)

    monkeypatch.setattr(lockboard.select, "select", counted)
    bus = lockboard.BusSim("idle", "kerong", directory=tmp_path)
    bus.start()
    try:
        time.sleep(0.5)
        assert len(waits) <= 3, f"{len(waits)} wake-ups in half a second of nothing"
        started = time.monotonic()
        bus.unplug()
        bus.plug()
        assert time.monotonic() - started < 0.25, "unplug and plug waited for the serving thread's timeout"
    finally:
        bus.close()
