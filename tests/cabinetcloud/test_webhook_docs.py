"""docs/webhooks.md: each event type's JSON Schema is the one its model makes, and each sample validates."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema_rs
import pytest

from cabinetcloud.outbox import messages, publish

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def _block(kind: str, event_type: str) -> object:
    text = DOC.read_text()
    found = re.search(rf"<!-- {kind}: {re.escape(event_type)} -->\n```json\n(.*?)\n```", text, re.S)
    assert found is not None, f"docs/webhooks.md has no {kind} of {event_type}"
    return json.loads(found.group(1))


def test_every_event_type_is_documented() -> None:
    assert set(messages.DATA_MODELS) == set(publish.EVENT_TYPES)


@pytest.mark.parametrize("event_type", publish.EVENT_TYPES)
def test_the_documented_schema_is_the_models(event_type: str) -> None:
    assert _block("schema", event_type) == messages.envelope_schema(event_type)


@pytest.mark.parametrize("event_type", publish.EVENT_TYPES)
def test_the_sample_validates(event_type: str) -> None:
    sample = _block("sample", event_type)
    jsonschema_rs.validator_for(messages.envelope_schema(event_type)).validate(sample)
    assert isinstance(sample, dict)
    messages.DATA_MODELS[event_type].model_validate(sample["data"])


def test_a_sample_with_a_field_too_many_does_not_validate() -> None:
    sample = _block("sample", "alarm.raised")
    assert isinstance(sample, dict)
    sample["data"]["extra"] = 1
    assert not jsonschema_rs.validator_for(messages.envelope_schema("alarm.raised")).is_valid(sample)


def test_the_reminder_samples_in_docs_are_what_is_sent() -> None:
    from datetime import UTC, datetime

    from cabinetcloud.outbox import notices, texts
    from cabinetcloud.outbox.messages import DueDevice, RentalReminder, StaffRef

    text = (DOC.parent / "notifications.md").read_text()
    settings = notices.Notices(timezone="Asia/Shanghai", languages=("zh-CN", "en"))
    due = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    devices = [
        DueDevice(serial=serial, model="pda-s1", cabinet="sim-1", rental_id=rental, rented_at=None, due_at=due)
        for serial, rental in (("S1-0001", "r-1"), ("S1-0002", "r-2"))
    ]
    for kind in ("due_soon", "overdue", "escalation"):
        reminder = RentalReminder(
            store="demo",
            staff=StaffRef(id="demo-anna", name="Anna Li"),
            kind="overdue" if kind == "escalation" else kind,
            interval=0,
            devices=devices,
        )
        title, body = texts.render(reminder, settings, kind)
        assert f"<!-- sample: {kind} -->\n```text\n{title}\n\n{body}\n```" in text
