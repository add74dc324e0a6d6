"""The slot's LED while its door is the one to use: it blinks from the unlock until the flow ends.

A blinking light is what catches the eye across a wall of doors (a steady one reads as "on", as a
charging light does). The blink is a task owned by the flow at that slot: started at the unlock,
stopped (and the LED darkened) when the door relocks unopened, closes, or the ledger refuses a step.
Slots without an LED (`LockBank.has_led`) get no task.
"""

from __future__ import annotations

import asyncio
from typing import Final

from cabinetd.flows.core import Core

BLINK_S: Final = 0.5  # half a period: on for this long, then off


def start_blinking(core: Core, slot: int) -> None:
    bank = core.hardware.lock_bank(slot)
    if not bank.has_led(slot):
        return
    stop_blinking(core, slot)
    core.blinking[slot] = core.spawn(_blink(core, slot), f"blink the LED of slot {slot}")


def stop_blinking(core: Core, slot: int) -> None:
    task = core.blinking.pop(slot, None)
    if task is not None:
        task.cancel()
    core.hardware.lock_bank(slot).set_led(slot, False)


async def _blink(core: Core, slot: int) -> None:
    bank = core.hardware.lock_bank(slot)
    lit = True
    try:
        while True:
            bank.set_led(slot, lit)
            await core.clock.sleep(BLINK_S)
            lit = not lit
    except asyncio.CancelledError:
        bank.set_led(slot, False)
        raise
