"""What the fleet's views answer: the admin API's replies and the dashboard's data (docs/fleet-views.md)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class DeviceState(StrEnum):
    IN_SLOT = "in_slot"
    RENTED = "rented"
    IN_REPAIR = "in_repair"
    LOST = "lost"
    UNKNOWN = "unknown"


class Rental(BaseModel):
    """One rental, as a view shows it. `ended_at` is null while it is open."""

    device: str
    staff: str
    staff_name: str | None = Field(description="from the fleet's roster; null for staff it does not list")
    store: str = Field(description="the store of the cabinet it was rented from")
    cabinet: str
    slot: int
    rental_id: str
    work_type: str | None
    rented_at: datetime
    due_at: datetime | None
    overdue: bool = Field(description="open and past due at the view's `now`")
    conflict: bool = Field(description="the device was in another rental at the same time (never merged)")
    battery_out: int | None
    ended_at: datetime | None
    ended_by: str | None = Field(description="returned or cancelled")
    returned_cabinet: str | None
    returned_store: str | None
    away_from_home: bool = Field(description="returned to a store that is not the device's home store")


class LostDevice(BaseModel):
    serial: str
    model: str | None
    home_store: str | None
    last_seen_at: datetime | None
    last_seen_cabinet: str | None
    rental: Rental | None = Field(description="the open rental it left on, if any")


class Fault(BaseModel):
    """A repair ticket (with the self-test evidence) or a problem a person reported at the screen."""

    kind: str = Field(description="ticket or report")
    cabinet: str
    store: str
    slot: int | None
    device: str | None
    staff: str | None
    at: datetime
    ticket_id: str | None
    evidence: dict[str, Any] | None
    reason: str | None
    note: str | None
    critical: bool
    open: bool = Field(description="the device is not back in service (rented again, passed, cleared)")
    closed_at: datetime | None
    rental: Rental | None


class UsageDay(BaseModel):
    """One day (UTC) of one store, or of one work type in it."""

    store: str
    work_type: str | None = Field(description="null: the whole store")
    day: date
    rentals: int
    hours_out: float = Field(description="hours the rentals begun that day were out (until `now` when open)")
    devices_rented: int
    devices_idle: int = Field(description="devices homed in the store (that suit the work type) not rented that day")
    battery_out_avg: float | None = Field(description="mean battery % at hand-out")
    battery_in_avg: float | None = Field(description="mean battery % at return")


class Conflict(BaseModel):
    """A device in two (or more) rentals at once, e.g. after a cabinet was restored from an old copy."""

    device: str
    rentals: list[Rental]
    open: bool = Field(description="at least one of them is still open")


class SlotPicture(BaseModel):
    cabinet: str
    slot: int
    state: str | None
    device: str | None
    since: datetime


class DeviceStatus(BaseModel):
    serial: str
    state: DeviceState


class HistoryEvent(BaseModel):
    cabinet: str
    epoch: str
    seq: int
    type: str
    occurred_at: str = Field(description="the cabinet's own clock, as it sent it")
    received_at: datetime
    slot: int | None
    device: str | None
    staff: str | None
    payload: dict[str, Any]


class HistoryPage(BaseModel):
    events: list[HistoryEvent]
    next_offset: int | None = Field(description="pass as `offset` for the next page; null at the end")


class CabinetLogPage(BaseModel):
    cabinet: str
    epoch: str | None = Field(description="the epoch this page is of; null when the cabinet sent nothing")
    epochs: list[str] = Field(description="every epoch the cloud holds of the cabinet, oldest first")
    events: list[HistoryEvent]
    next_after: int | None = Field(description="pass as `after` (same epoch) for the next page; null at its end")
