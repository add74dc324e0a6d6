"""The data of each webhook event type, as pydantic models: the JSON Schemas in docs/webhooks.md are made
from them (a test checks that the document and the models agree, and that every sample validates).

Every message is `{"type", "timestamp", "data"}`; these models are the `data`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeviceRef(Message):
    serial: str
    model: str | None
    home_store: str | None


class StaffRef(Message):
    id: str
    name: str


class RentalUsage(Message):
    rental_id: str
    staff: StaffRef | None
    cabinet: str | None
    rented_at: datetime | None
    due_at: datetime | None
    returned_at: datetime | None
    usage: dict[str, Any]


class UserReport(Message):
    reason: str
    note: str
    critical: bool
    reported_at: datetime | None
    staff: str | None


class RepairTicketOpened(Message):
    ticket_id: str
    status: Literal["open"]
    opened_at: datetime | None
    store: str
    cabinet: str
    slot: int | None
    device: DeviceRef | None
    selftest: dict[str, Any]
    report: UserReport | None
    rental: RentalUsage | None


class RepairTicketUpdated(Message):
    ticket_id: str
    status: Literal["open", "accepted", "in_repair", "closed", "rejected"]
    reference: str | None
    note: str | None
    updated_at: datetime
    by: str
    store: str
    device: str | None


class DueDevice(Message):
    serial: str
    model: str | None
    cabinet: str
    rental_id: str
    rented_at: datetime | None
    due_at: datetime


class RentalReminder(Message):
    store: str
    staff: StaffRef
    kind: Literal["due_soon", "overdue"]
    interval: int
    devices: list[DueDevice]


class AlarmRaised(Message):
    alarm: str
    store: str
    source: Literal["cabinet", "cloud"]
    cabinet: str | None
    slot: int | None
    subject: str
    detail: str
    raised_at: datetime | None


class DeviceLost(Message):
    serial: str
    model: str | None
    home_store: str | None
    last_seen_at: datetime | None
    last_seen_cabinet: str | None
    days: int


DATA_MODELS: dict[str, type[Message]] = {
    "repair_ticket.opened": RepairTicketOpened,
    "repair_ticket.updated": RepairTicketUpdated,
    "rental.due_soon": RentalReminder,
    "rental.overdue": RentalReminder,
    "alarm.raised": AlarmRaised,
    "device.lost": DeviceLost,
}


def envelope_schema(event_type: str) -> dict[str, Any]:
    """The JSON Schema of a whole message of this type."""
    data = DATA_MODELS[event_type].model_json_schema(mode="serialization")
    defs = data.pop("$defs", {})
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": event_type,
        "type": "object",
        "required": ["type", "timestamp", "data"],
        "additionalProperties": False,
        "properties": {
            "type": {"const": event_type},
            "timestamp": {"type": "string", "format": "date-time"},
            "data": data,
        },
    }
    if defs:
        schema["$defs"] = defs
    return schema
