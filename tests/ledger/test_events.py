from __future__ import annotations

from typing import Any

import pytest

from cabinetd.ledger.projections import PROJECTIONS
from cabinetproto.enums import DeviceHealth
from cabinetproto.events import EVENT_TYPES, DeviceStatus, Payload, PayloadError, SlotStateChanged, validate_payload
from tests.ledger.helpers import EXAMPLES


def test_ok__every_declared_type_has_an_example_and_it_validates() -> None:
    assert set(EXAMPLES) == set(EVENT_TYPES)
    for event_type, (payload, _) in EXAMPLES.items():
        model = validate_payload(event_type, payload)
        assert isinstance(model, EVENT_TYPES[event_type])
        assert model.event_type == event_type
        assert model.schema_version == 1


def test_ok__every_projection_belongs_to_a_declared_type() -> None:
    assert set(PROJECTIONS) <= set(EVENT_TYPES)


def test_ok__a_model_instance_is_taken_as_it_is() -> None:
    model = SlotStateChanged.model_validate({"from": "empty", "to": "ready", "reason": "stocked"})
    assert validate_payload("slot_state_changed", model) is model
    assert model.model_dump(mode="json", by_alias=True) == {"from": "empty", "to": "ready", "reason": "stocked"}


@pytest.mark.parametrize(
    ("event_type", "payload", "message"),
    [
        ("door_kicked", {}, "unknown event type 'door_kicked'"),
        (
            "slot_state_changed",
            {"from": "empty", "to": "lost", "reason": "x"},
            "event type 'slot_state_changed': field 'to': Input should be 'empty', 'charging', 'ready', "
            "'dispensing', 'receiving', 'inspecting', 'faulty' or 'disabled'",
        ),
        (
            "slot_state_changed",
            {"to": "ready", "reason": "x"},
            "event type 'slot_state_changed': field 'from': Field required",
        ),
        (
            "device_status",
            {"serial": "PDA-1", "model": "TC21", "battery": 101, "health": "good", "charging": False},
            "event type 'device_status': field 'battery': Input should be less than or equal to 100",
        ),
        (
            "device_rented",
            {"rental_id": "R-1", "due_at": "2025-03-01T16:00:00"},
            "event type 'device_rented': field 'due_at': Input should have timezone info",
        ),
        (
            "alarm_raised",
            {"alarm": "door_forced", "colour": "red"},
            "event type 'alarm_raised': field 'colour': Extra inputs are not permitted",
        ),
        (
            "device_returned",
            {"rental_id": None},
            "event type 'device_returned': field 'usage': Field required (and 2 more)",
        ),
        (
            "device_provisioned",
            {"work_type": "picking", "apps": [{"package": "com.store.picking"}]},
            "event type 'device_provisioned': field 'apps.0.version': Field required",
        ),
    ],
)
def test_fail__invalid_payloads_name_the_type_and_the_field(
    event_type: str, payload: dict[str, Any], message: str
) -> None:
    with pytest.raises(PayloadError) as caught:
        validate_payload(event_type, payload)
    assert str(caught.value) == message


def test_fail__a_model_of_another_type_is_refused() -> None:
    model = DeviceStatus(serial="PDA-1", model="TC21", battery=50, health=DeviceHealth.GOOD, charging=False)
    with pytest.raises(PayloadError) as caught:
        validate_payload("slot_state_changed", model)
    assert str(caught.value) == "event type 'slot_state_changed' takes a SlotStateChanged payload, not DeviceStatus"


def test_ok__payload_models_are_frozen() -> None:
    model: Payload = validate_payload("cabinet_started", {"software_version": "0.1.0"})
    with pytest.raises(ValueError, match="frozen"):
        model.software_version = "9"  # type: ignore[attr-defined]
