"""The cloud's own watch: a cabinet quiet for half an hour raises cabinet_offline once (cleared when it
syncs again), and a device no cabinet has seen for days is published as device.lost once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from cabinetcloud import projections, schema
from cabinetcloud.outbox import endpoints, watch, worker
from cabinetcloud.storage import Storage
from testbed import cloudharness
from testbed.receivers import webhook_receiver
from tests.cabinetcloud.fleet_history import Clock, Fleet


@pytest.fixture
def fleet(storage: Storage, tmp_path: Path) -> Iterator[Fleet]:
    cloudharness.seeded(storage)
    made = Fleet(storage, Clock(), tmp_path)
    yield made
    for cabinet in made.cabinets.values():
        cabinet.ledger.close()


def test_a_quiet_cabinet_and_a_lost_device_are_told_once(fleet: Fleet) -> None:
    with webhook_receiver() as ops:
        with fleet.storage.writing() as conn:
            values = {
                "store": "demo",
                "name": "ops",
                "kind": "webhook",
                "url": ops.url,
                "allow_private": True,
                "event_types": ["alarm.raised", "device.lost"],
            }
            endpoints.create(conn, values, datetime.now(UTC))
        cabinet = fleet.cabinet("sim-1", "demo")
        cabinet.status(3, "S1-0001", 90)
        fleet.contact(cabinet)
        fleet.sync(cabinet)
        projections.catch_up(fleet.storage, fleet.clock.now)
        assert watch.run_once(fleet.storage, fleet.clock.advance(minutes=10)) == 0
        assert watch.run_once(fleet.storage, fleet.clock.advance(minutes=25)) == 1
        assert watch.run_once(fleet.storage, fleet.clock.advance(minutes=25)) == 0, "raised once"
        fleet.contact(cabinet)
        assert watch.run_once(fleet.storage, fleet.clock.now) == 0
        with fleet.storage.reading() as conn:
            (alarm,) = conn.execute(sa.select(schema.cloud_alarms)).all()
        assert alarm.alarm == "cabinet_offline"
        assert alarm.cleared_at is not None, "cleared when the cabinet synced again"
        cabinet.rent(3, "S1-0001", "demo-anna", "r-1", "price-tags", hours=4)  # out, and never back
        fleet.sync(cabinet)
        projections.catch_up(fleet.storage, fleet.clock.now)
        fleet.clock.advance(days=4)
        fleet.contact(cabinet)
        assert watch.run_once(fleet.storage, fleet.clock.now) >= 1
        fleet.clock.advance(hours=1)
        fleet.contact(cabinet)
        assert watch.run_once(fleet.storage, fleet.clock.now) == 0, "lost once"
        worker.run_once(fleet.storage, fleet.clock.now + timedelta(minutes=1))
    sent = sorted(
        (m["type"], m["data"].get("alarm") or m["data"].get("serial"))
        for m in map(json.loads, (r.body for r in ops.received))
    )
    assert ("alarm.raised", "cabinet_offline") in sent
    assert ("device.lost", "S1-0001") in sent
    assert len(sent) == len(set(sent))
