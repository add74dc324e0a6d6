"""The cabinet's state as the quiet-moment rule reads it (cabinetd/updates/quiet.py), taken from the
controller and the door sensors."""

from __future__ import annotations

from typing import Final

from cabinetd.controller import Controller
from cabinetd.updates.quiet import CabinetNow
from cabinetproto.enums import SlotState

# A slot in one of these has a door, a device or an inspection in hand, whether or not a flow owns it.
MID_WAY: Final = frozenset({SlotState.DISPENSING, SlotState.RECEIVING, SlotState.INSPECTING})


def cabinet_now(controller: Controller) -> CabinetNow:
    core = controller.core
    slots = sorted(core.slots.items())
    # A door that reads unknown (its board unreachable) is not held against the install: the restart
    # changes nothing for it, and a board down for days must not keep a fix away.
    open_doors = tuple(n for n, _ in slots if core.hardware.doors(n).is_open(n) is True)
    busy = tuple(n for n, slot in slots if n in core.flows or slot.state in MID_WAY)
    return CabinetNow(controller.session is not None, open_doors, busy)
