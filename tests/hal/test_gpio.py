"""What only the GPIO drivers do: pulse timing and polarity, chatter, LEDs, the pin library."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from cabinetd.hal.base import DoorOpened, UnlockSent
from cabinetd.hal.errors import HardwareError
from cabinetd.hal.pins import default_pin_factory
from testbed.lockrig import PULSE_MS, SETTLE_S, LockRig, lock_config, lock_rig


@pytest.fixture
async def rig() -> AsyncIterator[LockRig]:
    async with lock_rig(lock_config("gpio")) as rig:
        yield rig


@pytest.fixture
async def active_low_rig() -> AsyncIterator[LockRig]:
    async with lock_rig(lock_config("gpio-active-low")) as rig:
        yield rig


async def test_ok__unlock_is_one_pulse_of_pulse_ms(rig: LockRig) -> None:
    pin = rig.sim.pin_factory.pin(5)
    pin.clear_states()
    await rig.bank().unlock(1)
    await rig.events.next(UnlockSent)
    await asyncio.sleep(PULSE_MS / 1000 + 0.1)
    assert [state.state for state in pin.states] == [False, True, False]
    assert PULSE_MS / 1000 <= pin.states[2].timestamp < PULSE_MS / 1000 + 0.1


async def test_ok__active_low_lock_pulls_its_pin_low(active_low_rig: LockRig) -> None:
    pin = active_low_rig.sim.pin_factory.pin(5)
    assert pin.state is True, "an active-low lock rests high"
    await active_low_rig.bank().unlock(1)
    assert pin.state is False
    await asyncio.sleep(PULSE_MS / 1000 + 0.1)
    assert pin.state is True


async def test_ok__lock_all_cuts_a_pulse_short(rig: LockRig) -> None:
    await rig.bank().unlock(1)
    assert rig.sim.lock_released(1)
    await rig.bank().lock_all()
    assert not rig.sim.lock_released(1)
    assert not rig.door(1).pull()


async def test_ok__switch_chatter_is_one_door_event(rig: LockRig) -> None:
    reed = rig.door(1).reed
    assert reed is not None
    for closed in (False, True, False, True, False):
        reed.set_switch(closed)
    assert await rig.events.next(DoorOpened) == DoorOpened(1)
    await asyncio.sleep(SETTLE_S * 5)
    assert rig.events.events == [DoorOpened(1)]


async def test_ok__chatter_that_ends_shut_is_no_door_event(rig: LockRig) -> None:
    reed = rig.door(1).reed
    assert reed is not None
    for closed in (False, True, False, True):
        reed.set_switch(closed)
    await asyncio.sleep(SETTLE_S * 5)
    assert rig.events.events == []
    assert rig.doors().is_open(1) is False


async def test_ok__slot_led(rig: LockRig) -> None:
    assert not rig.sim.led_lit(1)
    rig.bank().set_led(1, True)
    assert rig.sim.led_lit(1)
    rig.bank().set_led(1, False)
    assert not rig.sim.led_lit(1)
    rig.bank().set_led(2, True)  # slot 2 has no LED: nothing to light, nothing to fail


def test_fail__no_pin_library_off_a_real_board() -> None:
    with pytest.raises(HardwareError) as raised:
        default_pin_factory()
    message = str(raised.value)
    assert message.startswith("no GPIO pin library works on this computer (LGPIOFactory: ")
    assert "; RPiGPIOFactory: " in message
    assert "; NativeFactory: " in message
