"""The repair service posts status updates back with its endpoint's callback token: each one is published
as repair_ticket.updated and audited; another store's ticket is 404; a closed ticket stays closed."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa

from cabinetcloud import schema
from cabinetcloud.outbox import endpoints, tickets, worker
from testbed.receivers import webhook_receiver
from tests.cabinetcloud.operators_rig import Fleet, fleet

__all__ = ["fleet"]
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def _ticket(fleet: Fleet, ticket_id: str, store: str = "demo") -> None:
    event = {
        "cabinet_id": "sim-1",
        "epoch": "e1",
        "seq": 7,
        "slot": 3,
        "device": "SIM0001",
        "occurred_at_utc": NOW,
        "payload": json.dumps({"ticket_id": ticket_id, "evidence": {"scanner": {"passed": False}}}),
    }
    with fleet.storage.writing() as conn:
        tickets.open_ticket(fleet.storage, conn, store, event, NOW)


def _endpoint(fleet: Fleet, url: str, store: str = "demo", name: str = "repairs") -> endpoints.Issued:
    with fleet.storage.writing() as conn:
        values = {"store": store, "name": name, "kind": "webhook", "url": url, "allow_private": True}
        return endpoints.create(conn, values, NOW)


def test_the_repair_service_updates_and_closes_its_ticket(fleet: Fleet) -> None:
    with webhook_receiver() as receiver:
        issued = _endpoint(fleet, receiver.url)
        _ticket(fleet, "T-1")
        token = {"Authorization": f"Bearer {issued.callback_token}"}
        assert fleet.client.post("/v1/repair-tickets/T-1", json={"status": "accepted"}).status_code == 401
        taken = fleet.client.post(
            "/v1/repair-tickets/T-1", json={"status": "accepted", "reference": "RS-7"}, headers=token
        )
        assert taken.status_code == 200, taken.text
        assert taken.json()["reference"] == "RS-7"
        closed = fleet.client.post(
            "/v1/repair-tickets/T-1", json={"status": "closed", "note": "new screen"}, headers=token
        )
        assert closed.json()["status"] == "closed"
        again = fleet.client.post("/v1/repair-tickets/T-1", json={"status": "in_repair"}, headers=token)
        assert again.status_code == 409
        worker.run_once(fleet.storage)
    sent = [json.loads(r.body) for r in receiver.received]
    # Sent by parallel senders: in any order.
    assert sorted((m["type"], m["data"].get("status")) for m in sent) == [
        ("repair_ticket.opened", "open"),
        ("repair_ticket.updated", "accepted"),
        ("repair_ticket.updated", "closed"),
    ]
    with fleet.storage.reading() as conn:
        assert tickets.current(conn, "T-1")["closed_at"] is not None
        actors = (
            conn.execute(
                sa.select(schema.audit_events.c.actor).where(schema.audit_events.c.resource == "repair_ticket")
            )
            .scalars()
            .all()
        )
    assert actors == ["repair:demo/repairs", "repair:demo/repairs"]


def test_another_stores_ticket_is_not_known(fleet: Fleet) -> None:
    issued = _endpoint(fleet, "http://127.0.0.1:9/hook", store="north", name="north-repairs")
    _ticket(fleet, "T-2", store="demo")
    reply = fleet.client.post(
        "/v1/repair-tickets/T-2",
        json={"status": "closed"},
        headers={"Authorization": f"Bearer {issued.callback_token}"},
    )
    assert reply.status_code == 404
    assert reply.json()["code"] == "not_found"


def test_an_operator_token_is_not_a_repair_token(fleet: Fleet) -> None:
    _ticket(fleet, "T-3")
    reply = fleet.client.post(
        "/v1/repair-tickets/T-3", json={"status": "closed"}, headers=fleet.as_role(next(iter(fleet.tokens)))
    )
    assert reply.status_code == 401
