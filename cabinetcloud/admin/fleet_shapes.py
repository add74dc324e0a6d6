"""The fleet data's bodies and replies in the admin API. A new entry's body is the seed file's own
entry (fleetdata.py); a change names only the fields it changes and is checked merged into the entry.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from cabinetcloud.fleetdata import (
    AppEntry,
    BadgeText,
    Entry,
    Ident,
    LocalName,
    Name,
    Notify,
    Pin,
    Slots,
    StaffRole,
)
from cabinetcloud.projections import DeviceState
from cabinetproto.links import DEFAULT_LINK, Link


class StaffOut(BaseModel):
    id: str
    name: str
    badge: str = Field(description="the card in its roster form, whatever form it was typed in")
    store: str
    work_type: str
    role: StaffRole
    active: bool
    has_pin: bool = Field(description="a PIN is set; the PIN itself is never shown")
    notify: str | None = Field(description="where this person's notices go; never sent to a cabinet")


class StaffPatch(Entry):
    name: Name | None = None
    badge: BadgeText | None = None
    store: Ident | None = None
    work_type: Ident | None = None
    role: StaffRole | None = None
    pin: Pin | None = Field(default=None, description="a new PIN (technicians and managers); null keeps the one set")
    active: bool | None = None
    notify: Notify | None = Field(default=None, description="null takes the address away")


class WorkTypeOut(BaseModel):
    id: str
    name: str = Field(description="the plain name: the first language's")
    names: dict[str, str] = Field(description="names by language tag; {} for one plain name")
    apps: list[AppEntry]
    battery_threshold: int
    rental_limit_minutes: int
    device_limit: int
    device_models: list[str]


class WorkTypePatch(Entry):
    name: LocalName | None = None
    apps: Annotated[list[AppEntry], Field(max_length=100)] | None = None
    battery_threshold: Annotated[int, Field(ge=0, le=100)] | None = None
    rental_limit_minutes: Annotated[int, Field(ge=1, le=7 * 24 * 60)] | None = None
    device_limit: Annotated[int, Field(ge=1, le=100)] | None = None
    device_models: Annotated[list[Ident], Field(min_length=1, max_length=100)] | None = None


class DeviceModelOut(BaseModel):
    id: str
    name: str
    names: dict[str, str]
    slot_type: str
    link: str = Field(DEFAULT_LINK, description="how the cabinet talks to its handhelds (aoa-agent, adb, mdm:...)")


class DeviceModelPatch(Entry):
    name: LocalName | None = None
    slot_type: Ident | None = None
    link: Link | None = None


class SlotTypeOut(BaseModel):
    slot_type: str
    device_models: list[str] = Field(description="the models a slot of this type holds")


class DeviceOut(BaseModel):
    serial: str
    model: str
    store: str = Field(description="the device's home store")
    active: bool
    status: DeviceState = Field(
        description="where it stands by its cabinets' events (docs/fleet-views.md): in_slot, rented, in_repair, "
        "lost (not seen for 3 days), unknown (never seen)"
    )


class DevicePatch(Entry):
    model: Ident | None = None
    store: Ident | None = None
    active: bool | None = None


class SlotsIn(Entry):
    slots: Slots = Field(
        description="a count (8: slots 1 to 8) or the slot numbers, as the cabinet's modules number them"
    )


class SlotsOut(BaseModel):
    cabinet: str
    slots: list[int]


CommandStatus = Literal["pending", "delivered", "done", "failed", "expired"]


class CommandIn(Entry):
    kind: Annotated[str, Field(min_length=1, max_length=32)]
    args: Annotated[dict[str, str | int | bool], Field(max_length=10, default_factory=dict)]
    expires_in_minutes: Annotated[int, Field(ge=1, le=7 * 24 * 60)] = 60


class CommandOut(BaseModel):
    command_id: str
    number: int
    cabinet: str
    kind: str
    args: dict[str, str | int | bool]
    issued_at: datetime
    expires_at: datetime
    status: CommandStatus = Field(
        description="pending (not fetched yet), delivered (fetched, no result yet), done or failed (the "
        "cabinet's command_result came back), expired (no result, and past its expiry)"
    )
    delivered_at: datetime | None
    result_at: datetime | None
    result_detail: str | None
