"""The cabinet's decisions, as pure functions: who may rent, which device, which slot takes a return,
and when a rental is due. No I/O and no clock of their own, so every rule can be checked exhaustively.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cabinetproto.enums import SlotState

# A rental is due soon this long before its due time: its reminder goes out then (DESIGN §6).
DUE_SOON = timedelta(minutes=15)


class Refusal(enum.Enum):
    UNKNOWN_BADGE = "unknown_badge"
    OTHER_STORE = "other_store"
    INACTIVE = "inactive"
    LIMIT_REACHED = "limit_reached"
    NO_DEVICE_AVAILABLE = "no_device_available"
    CABINET_DISABLED = "cabinet_disabled"


class Role(enum.Enum):
    STAFF = "staff"
    TECHNICIAN = "technician"
    MANAGER = "manager"


@dataclass(frozen=True)
class WorkType:
    id: str
    name: str
    battery_threshold: int  # percent a device needs to be handed out for this work
    rental_limit_minutes: int
    device_limit: int  # devices one staff member of this work type may hold at once
    device_models: frozenset[str]


@dataclass(frozen=True)
class Staff:
    staff_id: str
    name: str
    store: str
    work_type: str
    role: Role = Role.STAFF
    active: bool = True


@dataclass(frozen=True)
class DeviceView:
    serial: str
    model: str
    battery: int | None
    healthy: bool = True
    provisioned_work_type: str | None = None
    last_rented_at: datetime | None = None
    charge_rate: float | None = None  # percent per minute while charging, as observed
    # The ledger has the device out on an open rental (it cannot be in a slot and with a person).
    rented: bool = False
    # False when the fleet's device list does not name it: held until the fleet lists it.
    fleet_listed: bool = True

    @property
    def may_go(self) -> bool:
        """Healthy, and nothing in the ledger or the fleet's list stands against handing it out."""
        return self.healthy and not self.rented and self.fleet_listed


@dataclass(frozen=True)
class SlotView:
    number: int
    state: SlotState
    slot_type: str
    device: DeviceView | None = None
    usb_ok: bool = True
    uses: int = 0  # door cycles so far, for spreading wear over slots


def may_rent(
    staff: Staff | None,
    *,
    store: str,
    work_type: WorkType | None,
    held: int,
    cabinet_disabled: bool = False,
) -> Refusal | None:
    """Why this person may not rent here now, or None when they may."""
    if cabinet_disabled:
        return Refusal.CABINET_DISABLED
    if staff is None:
        return Refusal.UNKNOWN_BADGE
    if staff.store != store:
        return Refusal.OTHER_STORE
    if not staff.active or work_type is None:
        return Refusal.INACTIVE
    if held >= work_type.device_limit:
        return Refusal.LIMIT_REACHED
    return None


def suits(slot: SlotView, work_type: WorkType) -> bool:
    """A slot whose device may be handed out for this work right now."""
    device = slot.device
    return (
        slot.state is SlotState.READY
        and device is not None
        and device.may_go
        and device.model in work_type.device_models
        and device.battery is not None
        and device.battery >= work_type.battery_threshold
    )


def rank_devices(slots: Iterable[SlotView], work_type: WorkType) -> list[SlotView]:
    """Slots to hand out from, best first: already provisioned for this work (no install wait), then the
    highest battery, then the least recently rented (so wear spreads over the fleet)."""
    candidates = [slot for slot in slots if suits(slot, work_type)]

    def key(slot: SlotView) -> tuple[bool, int, float, int]:
        device = slot.device
        assert device is not None
        assert device.battery is not None
        last = device.last_rented_at.timestamp() if device.last_rented_at else -math.inf
        return (device.provisioned_work_type != work_type.id, -device.battery, last, slot.number)

    return sorted(candidates, key=key)


def rank_for_scarcity(
    slots: Iterable[SlotView], work_type: WorkType, others: Iterable[WorkType] = ()
) -> list[SlotView]:
    """Slots to hand out from, best first, keeping back what other work needs (docs/flows.md, "Device
    choice"). `others` are the other work types someone in the store may still rent for.

    Among the devices that suit this work, the best leaves the fewest of `others` with no ready device
    that suits them; then the one that fewer of `others` could use at all (a device only this work can
    take goes before one another work could take); then `rank_devices`' order. Every suiting device is
    still offered: scarcity reorders, it never refuses.
    """
    stock = list(slots)
    ranked = rank_devices(stock, work_type)
    waiting = [other for other in others if other.id != work_type.id]
    if not waiting or len(ranked) < 2:
        return ranked
    suiting = {other.id: {slot.number for slot in stock if suits(slot, other)} for other in waiting}

    def key(item: tuple[int, SlotView]) -> tuple[int, int, int]:
        order, slot = item
        left_without = sum(1 for numbers in suiting.values() if not numbers - {slot.number})
        wanted_by = sum(1 for numbers in suiting.values() if slot.number in numbers)
        return (left_without, wanted_by, order)

    return [slot for _, slot in sorted(enumerate(ranked), key=key)]


def minutes_until_ready(slots: Iterable[SlotView], work_type: WorkType) -> int | None:
    """When no device suits: the estimated minutes until a charging one will, from its charge rate;
    None when no charging device of a fitting model is gaining charge."""
    best: float | None = None
    for slot in slots:
        device = slot.device
        if (
            slot.state is not SlotState.CHARGING
            or device is None
            or not device.may_go
            or device.model not in work_type.device_models
            or device.battery is None
            or not device.charge_rate
            or device.charge_rate <= 0
        ):
            continue
        minutes = max(work_type.battery_threshold - device.battery, 0) / device.charge_rate
        best = minutes if best is None else min(best, minutes)
    return None if best is None else max(1, math.ceil(best))


def choose_return_slot(
    slots: Sequence[SlotView], slot_types_of_model: frozenset[str] | None
) -> SlotView | None:
    """An empty slot that fits the device's model, preferring a working USB port, then the least used.

    `slot_types_of_model` is None for a device whose model the cabinet does not know: a return is never
    refused, so any empty slot takes it.
    """
    fitting = [
        slot
        for slot in slots
        if slot.state is SlotState.EMPTY
        and (slot_types_of_model is None or slot.slot_type in slot_types_of_model)
    ]
    if not fitting:
        return None
    return min(fitting, key=lambda slot: (not slot.usb_ok, slot.uses, slot.number))


def due_at(started_at: datetime, work_type: WorkType) -> datetime:
    return started_at + timedelta(minutes=work_type.rental_limit_minutes)
