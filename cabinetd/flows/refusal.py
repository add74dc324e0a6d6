"""A step the ledger refused to record: the cabinet carries on, with every lock locked.

The ledger refuses an event that contradicts what it holds (a device in two open rentals, a rental
that does not exist, an envelope it cannot store). The flows check what they can before they commit,
so a refusal is a fault, not a decision. Nothing of the refused step was written, but the slot
machines may already have moved: every slot whose memory differs from the ledger is rebuilt from it
(the ledger is the truth), the flows at those slots are ended, every lock is commanded locked, and
the refusal is recorded and shown. A slot the ledger still has unlocked for a person (dispensing or
receiving) is then ended as recovery ends it after a restart. If the ledger refuses that as well,
the error is raised: the daemon exits, its cleanup commands every lock locked, and systemd restarts it.
"""

from __future__ import annotations

import logging

from cabinetd.flows.core import Core
from cabinetd.flows.leds import stop_blinking
from cabinetd.flows.recovery import reconcile_slot
from cabinetd.fsm.slot import DOOR_FLOW_STATES, Slot
from cabinetd.hal.errors import HardwareError
from cabinetd.ledger import LedgerError
from cabinetproto.enums import Alarm, SlotState

log = logging.getLogger(__name__)


async def step_refused(core: Core, step: str, slot_number: int | None, error: LedgerError) -> None:
    log.error("the ledger refused %s: %s; the slots are rebuilt from the ledger", step, error)
    core.pending.clear()  # the refused step's state changes: the rebuild below puts the slots right
    rebuilt = _rebuild(core, slot_number)
    await _lock_everything(core)
    core.commit(core.event("step_refused", {"step": step[:500], "error": str(error)[:500]}, slot=slot_number))
    core.screen.show("refused", reason="step_refused", detail=str(error), slot=slot_number)
    for slot in rebuilt:
        if slot.state in DOOR_FLOW_STATES:
            await reconcile_slot(core, slot)


def _rebuild(core: Core, slot_number: int | None) -> list[Slot]:
    rows = {row.slot: row for row in core.ledger.slot_states()}
    rebuilt = []
    for number, slot in core.slots.items():
        row = rows.get(number)
        state = row.state if row else SlotState.EMPTY
        device = row.device if row else None
        alarms = {Alarm(alarm) for alarm in row.alarms} if row else set()
        if number != slot_number and (slot.state, slot.device, slot.alarms) == (state, device, alarms):
            continue
        core.flows.pop(number, None)
        core.recorded_moves.discard((number, slot.state))
        slot.stop_timers()
        slot.machine.set_state(state)
        slot.entered_at = core.clock.monotonic()
        slot.device, slot.alarms = device, alarms
        stop_blinking(core, number)
        rebuilt.append(slot)
    return rebuilt


async def _lock_everything(core: Core) -> None:
    for bank in core.hardware.locks.lock_banks:
        try:
            await bank.lock_all()
        except HardwareError as exc:
            log.error("cannot command the locks of %s locked: %s", bank.slots, exc)
