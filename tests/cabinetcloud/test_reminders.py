"""Reminders through a test clock: a rental with a time limit, two devices due together, one message per
person per interval (due soon, overdue, overdue again) listing both, whether the cabinet's own events or
the cloud's clock noticed first; an escalation to the manager's channel once; quiet hours respected."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from cabinetcloud import projections, schema
from cabinetcloud.outbox import endpoints, notices, reminders, worker
from cabinetcloud.storage import Storage
from cabinetd.ledger import NewEvent
from testbed import cloudharness
from testbed.receivers import WebhookReceiver, webhook_receiver
from tests.cabinetcloud.fleet_history import Cabinet, Clock, Fleet

ANNA = "demo-anna"


@pytest.fixture
def fleet(storage: Storage, tmp_path: Path) -> Iterator[Fleet]:
    cloudharness.seeded(storage)
    made = Fleet(storage, Clock(), tmp_path)
    yield made
    for cabinet in made.cabinets.values():
        cabinet.ledger.close()


def channel(storage: Storage, url: str, purpose: str, name: str) -> None:
    with storage.writing() as conn:
        values = {
            "store": "demo",
            "name": name,
            "kind": "channel",
            "url": url,
            "purpose": purpose,
            "allow_private": True,
        }
        endpoints.create(conn, values, datetime.now(UTC))


def json_channel(receiver: WebhookReceiver) -> str:
    return receiver.url.replace("http://", "json://")


def rent_two(fleet: Fleet) -> Cabinet:
    cabinet = fleet.cabinet("sim-1", "demo")
    cabinet.rent(1, "S1-0001", ANNA, "r-1", "price-tags", hours=1)
    cabinet.rent(2, "S1-0002", ANNA, "r-2", "price-tags", hours=1)
    fleet.sync(cabinet)
    projections.catch_up(fleet.storage, fleet.clock.now)
    return cabinet


def cabinet_reminds(fleet: Fleet, cabinet: Cabinet, event_type: str) -> None:
    """What the cabinet's own watch writes at the time (cabinetd/flows/watch.py), then uploads."""
    due = (fleet.clock.now + timedelta(minutes=15 if event_type == "rental_due_soon" else 0)).replace(microsecond=0)
    for slot, serial, rental in ((1, "S1-0001", "r-1"), (2, "S1-0002", "r-2")):
        payload = {"rental_id": rental, "due_at": due.isoformat()}
        cabinet.write(NewEvent(event_type, payload, slot=slot, device=serial, staff=ANNA))
    fleet.sync(cabinet)


def send(fleet: Fleet) -> None:
    """The worker a minute and a bit later, when the gathered message is due."""
    worker.run_once(fleet.storage, fleet.clock.now + reminders.GATHER + timedelta(seconds=1))


def messages(receiver: WebhookReceiver) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in receiver.received]


def test_one_message_per_person_per_interval_with_both_devices(fleet: Fleet) -> None:
    with webhook_receiver() as chat, webhook_receiver() as manager:
        channel(fleet.storage, json_channel(chat), "reminders", "floor-chat")
        channel(fleet.storage, json_channel(manager), "escalation", "manager")
        cabinet = rent_two(fleet)
        fleet.clock.advance(minutes=45, seconds=1)
        cabinet_reminds(fleet, cabinet, "rental_due_soon")
        assert reminders.run_once(fleet.storage, fleet.clock.now) == 0, "the cabinet noted both already"
        send(fleet)
        fleet.clock.advance(minutes=15)
        assert reminders.run_once(fleet.storage, fleet.clock.now) == 2, "the cloud notices overdue first"
        cabinet_reminds(fleet, cabinet, "rental_overdue")  # the cabinet's, a moment later: nothing new
        send(fleet)
        fleet.clock.advance(minutes=30)
        assert reminders.run_once(fleet.storage, fleet.clock.now) == 0, "not an interval later yet"
        fleet.clock.advance(minutes=30)
        assert reminders.run_once(fleet.storage, fleet.clock.now) == 2, "overdue again, an hour on"
        send(fleet)
        fleet.clock.advance(minutes=60)
        assert reminders.run_once(fleet.storage, fleet.clock.now) == 2 + 2, "and again, escalated after two hours"
        send(fleet)
        fleet.clock.advance(minutes=40)
        assert reminders.run_once(fleet.storage, fleet.clock.now) == 0
        send(fleet)
    sent = messages(chat)
    assert [m["title"] for m in sent] == ["Devices due back soon"] + ["Devices overdue"] * 3
    for message in sent:
        assert "Anna Li" in message["message"]
        assert "S1-0001" in message["message"]
        assert "S1-0002" in message["message"]
    escalated = messages(manager)
    assert len(escalated) == 1
    assert "Anna Li has not returned these" in escalated[0]["message"]


def test_the_cloud_does_not_remind_of_a_returned_device(fleet: Fleet) -> None:
    with webhook_receiver() as chat:
        channel(fleet.storage, json_channel(chat), "reminders", "floor-chat")
        cabinet = rent_two(fleet)
        cabinet.give_back(1, "S1-0001", "r-1", 80)
        fleet.sync(cabinet)
        projections.catch_up(fleet.storage, fleet.clock.now)
        fleet.clock.advance(minutes=61)
        assert reminders.run_once(fleet.storage, fleet.clock.now) == 1
        send(fleet)
    (message,) = messages(chat)
    assert "S1-0002" in message["message"]
    assert "S1-0001" not in message["message"]


def test_a_late_cabinet_reminder_is_kept_not_sent(fleet: Fleet) -> None:
    with webhook_receiver() as chat:
        channel(fleet.storage, json_channel(chat), "reminders", "floor-chat")
        cabinet = fleet.cabinet("sim-1", "demo")
        cabinet.rent(1, "S1-0001", ANNA, "r-1", "price-tags", hours=1)
        fleet.clock.advance(minutes=45)
        cabinet.write(
            NewEvent(
                "rental_due_soon",
                {"rental_id": "r-1", "due_at": (fleet.clock.now + timedelta(minutes=15)).isoformat()},
                slot=1,
                device="S1-0001",
                staff=ANNA,
            )
        )
        fleet.clock.advance(hours=3)  # offline all this time
        fleet.sync(cabinet)
        send(fleet)
    assert chat.received == []
    with fleet.storage.reading() as conn:
        kept = conn.execute(sa.select(schema.reminders_sent)).all()
    assert [(r.kind, r.source, r.delivered) for r in kept] == [("due_soon", "cabinet", False)]


def test_a_reminder_in_quiet_hours_waits_for_the_morning(fleet: Fleet) -> None:
    with fleet.storage.writing() as conn:
        settings = notices.check(
            {"timezone": "Asia/Shanghai", "languages": ["zh-CN", "en"], "quiet_start": "22:00", "quiet_end": "07:00"}
        )
        notices.put(conn, "demo", settings)
    channel(fleet.storage, "json://127.0.0.1:9/hooks", "reminders", "floor-chat")
    fleet.clock.now = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)  # 22:30 in Shanghai
    cabinet = rent_two(fleet)
    fleet.clock.advance(minutes=46)
    assert reminders.run_once(fleet.storage, fleet.clock.now) == 2
    with fleet.storage.reading() as conn:
        (row,) = conn.execute(sa.select(schema.deliveries)).all()
    assert row.next_attempt_at == datetime(2026, 3, 2, 23, 0, tzinfo=UTC)  # 07:00 in Shanghai
    body = json.loads(row.payload)["body"]
    assert body.index("请在") < body.index("please return"), "the store's first language first"
    del cabinet


@pytest.mark.parametrize(
    ("at", "quiet", "expected"),
    [
        ("2026-03-02T12:00:00+00:00", ("22:00", "07:00"), "2026-03-02T12:00:00+00:00"),
        ("2026-03-02T23:30:00+00:00", ("22:00", "07:00"), "2026-03-03T07:00:00+00:00"),
        ("2026-03-02T03:00:00+00:00", ("22:00", "07:00"), "2026-03-02T07:00:00+00:00"),
        ("2026-03-02T13:00:00+00:00", ("12:00", "14:00"), "2026-03-02T14:00:00+00:00"),
    ],
)
def test_quiet_hours(at: str, quiet: tuple[str, str], expected: str) -> None:
    settings = notices.Notices(quiet_start=quiet[0], quiet_end=quiet[1])
    assert settings.release(datetime.fromisoformat(at)) == datetime.fromisoformat(expected)


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"timezone": "Mars/Olympus"}, "IANA time zone"),
        ({"languages": ["fr"]}, "language 'fr'"),
        ({"quiet_start": "22:00"}, "come together"),
        ({"quiet_start": "25:00", "quiet_end": "07:00"}, "HH:MM"),
    ],
)
def test_bad_notice_settings_are_named(values: dict[str, Any], words: str) -> None:
    with pytest.raises(notices.NoticeError, match=words):
        notices.check(values)
