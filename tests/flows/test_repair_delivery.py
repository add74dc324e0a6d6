"""Repair tickets end to end: the simulated cabinet fails a self-test (or a person reports a problem at
the kiosk), the cabinet syncs to the real cloud, and the store's repair service, a real HTTP receiver on
loopback that verifies each signature, gets one ticket carrying the self-test evidence."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema_rs
from standardwebhooks import Webhook

from cabinetcloud.outbox import endpoints, messages, tickets, worker
from cabinetcloud.storage import Storage
from testbed import cloudharness
from testbed.receivers import Reply, webhook_receiver
from tests.cabinetcloud.conftest import sqlite_storage
from tests.flows.rig import Rig
from tests.flows.test_flows import put_back, rent
from tests.flows.test_problem_report import insert_and_close, open_return, sync_to_cloud

__all__ = ["sqlite_storage"]


def _repair_service(storage: Storage, url: str) -> str:
    with storage.writing() as conn:
        values = {
            "store": "demo",
            "name": "repairs",
            "kind": "webhook",
            "url": url,
            "allow_private": True,
            "event_types": ["repair_ticket.opened"],
        }
        issued = endpoints.create(conn, values, datetime.now(UTC))
    assert issued.secret is not None
    return issued.secret


def _one_ticket(receiver: Any, secret: str) -> dict[str, Any]:
    assert len(receiver.received) == 1
    came = receiver.received[0]
    message = Webhook(secret).verify(came.body, came.headers)
    jsonschema_rs.validator_for(messages.envelope_schema("repair_ticket.opened")).validate(message)
    assert message["type"] == "repair_ticket.opened"
    return message["data"]  # type: ignore[no-any-return]


async def test_a_failed_selftest_reaches_the_repair_service_once_with_its_evidence(
    rig: Rig, sqlite_storage: Storage, tmp_path: Path
) -> None:
    cloudharness.seeded(sqlite_storage)
    with webhook_receiver(default=Reply(201, body=b'{"reference": "RS-1001"}')) as receiver:
        receiver.secret = _repair_service(sqlite_storage, receiver.url)
        await rent(rig)
        held = rig.ledger.held_by("anna")[0]
        rig.sim.handheld(held.device).agent.checks["scanner"].passed = False
        slot = await put_back(rig, held.device)
        await sync_to_cloud(rig, sqlite_storage, tmp_path)
        assert worker.run_once(sqlite_storage) == 1
        assert worker.run_once(sqlite_storage) == 0
    data = _one_ticket(receiver, receiver.secret)
    assert data["cabinet"] == "sim-1"
    assert data["slot"] == slot
    assert data["device"]["serial"] == held.device
    assert data["selftest"]["scanner"]["passed"] is False
    assert data["report"] is None
    assert data["rental"]["rental_id"] == held.rental_id
    assert data["rental"]["staff"]["id"] == "anna"
    assert data["rental"]["rented_at"] is not None
    assert data["rental"]["returned_at"] is not None
    with sqlite_storage.reading() as conn:
        ticket = tickets.current(conn, data["ticket_id"])
    assert ticket["reference"] == "RS-1001"
    assert ticket["status"] == "open"


async def test_a_problem_reported_at_the_kiosk_reaches_the_repair_service(
    rig: Rig, sqlite_storage: Storage, tmp_path: Path
) -> None:
    cloudharness.seeded(sqlite_storage)
    with webhook_receiver() as receiver:
        receiver.secret = _repair_service(sqlite_storage, receiver.url)
        await rent(rig)
        slot, serial = await open_return(rig)
        assert None is await rig.controller.report_problem("screen", "cracked in the corner")
        await insert_and_close(rig, slot, serial)
        await sync_to_cloud(rig, sqlite_storage, tmp_path)
        worker.run_once(sqlite_storage)
    data = _one_ticket(receiver, receiver.secret)
    assert data["device"]["serial"] == serial
    assert data["report"]["reason"] == "screen"
    assert data["report"]["note"] == "cracked in the corner"
    assert data["report"]["staff"] == "anna"
    assert data["report"]["reported_at"] is not None
    assert data["selftest"]["scanner"]["passed"] is True  # the self-test of the return, beside the report
