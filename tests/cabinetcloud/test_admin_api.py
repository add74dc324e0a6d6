"""The admin API's resources: stores, cabinets (enrol, rotate, revoke, sync health), operators and
their tokens, and the audit log each change writes in its own transaction."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from cabinetcloud import schema
from cabinetcloud.operators import Role, digest
from cabinetd.ledger import Ledger
from testbed import cloudharness
from tests.cabinetcloud.operators_rig import PASSWORD, Fleet, fleet, sqlite_fleet

__all__ = ["fleet", "sqlite_fleet"]


def audit_of(fleet: Fleet, **query: Any) -> list[dict[str, Any]]:
    reply = fleet.client.get("/v1/admin/audit", params=query, headers=fleet.as_role(Role.VIEWER))
    assert reply.status_code == 200, reply.text
    events: list[dict[str, Any]] = reply.json()["events"]
    return events


def test_ok__a_store_is_created_renamed_and_each_change_audited_before_and_after(fleet: Fleet) -> None:
    client, operator = fleet.client, fleet.as_role(Role.OPERATOR)
    made = client.post("/v1/admin/stores", json={"id": "east", "name": "East"}, headers=operator)
    assert (made.status_code, made.json()) == (201, {"id": "east", "name": "East", "cabinets": 0})
    renamed = client.patch("/v1/admin/stores/east", json={"name": "East side"}, headers=operator)
    assert renamed.json() == {"id": "east", "name": "East side", "cabinets": 0}
    again = client.post("/v1/admin/stores", json={"id": "east", "name": "East"}, headers=operator)
    assert (again.status_code, again.json()) == (409, {"code": "conflict", "detail": "store 'east' already exists"})
    events = audit_of(fleet, resource="store", resource_id="east")
    assert [(e["actor"], e["via"], e["action"]) for e in events] == [
        ("otto", "token", "update"),
        ("otto", "token", "create"),
    ]
    assert (events[0]["before"]["name"], events[0]["after"]["name"]) == ("East", "East side")
    assert (events[1]["before"], events[1]["after"]["name"]) == (None, "East")


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "detail"),
    [
        ("PATCH", "/v1/admin/stores/ghost", {"name": "x"}, 404, "store 'ghost' is not known"),
        (
            "POST",
            "/v1/admin/stores",
            {"id": "x", "name": "X", "city": "Y"},
            422,
            "body.city: Extra inputs are not permitted",
        ),
        (
            "POST",
            "/v1/admin/stores",
            {"id": "-x", "name": "X"},
            422,
            "body.id: String should match pattern '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'",
        ),
        ("POST", "/v1/admin/cabinets", {"id": "c-2", "store": "ghost"}, 404, "store 'ghost' is not known"),
        (
            "POST",
            "/v1/admin/cabinets",
            {"id": "sim-1", "store": "north"},
            409,
            "cabinet 'sim-1' belongs to store 'demo', not 'north'",
        ),
        (
            "POST",
            "/v1/admin/cabinets",
            {"id": "sim-1", "store": "demo"},
            409,
            "cabinet 'sim-1' is already enrolled: rotate its token instead",
        ),
        ("POST", "/v1/admin/cabinets/ghost/token", None, 404, "cabinet 'ghost' is not known"),
        ("GET", "/v1/admin/cabinets?store=ghost", None, 404, "store 'ghost' is not known"),
        (
            "POST",
            "/v1/admin/operators",
            {"name": "sm", "role": "store-manager"},
            422,
            "operator 'sm': a store-manager needs at least one store",
        ),
        (
            "POST",
            "/v1/admin/operators",
            {"name": "sm", "role": "store-manager", "stores": ["ghost"]},
            404,
            "operator 'sm': store 'ghost' is not known",
        ),
        (
            "POST",
            "/v1/admin/operators",
            {"name": "x", "role": "root"},
            422,
            "body.role: Input should be 'admin', 'operator', 'viewer' or 'store-manager'",
        ),
        (
            "POST",
            "/v1/admin/operators",
            {"name": "x", "role": "viewer", "password": "short"},
            422,
            "operator 'x': a password needs at least 10 characters",
        ),
        (
            "PATCH",
            "/v1/admin/operators/ada",
            {"active": False},
            409,
            "operator 'ada' is the last active admin: make another admin first",
        ),
        (
            "PATCH",
            "/v1/admin/operators/ada",
            {"role": "viewer"},
            409,
            "operator 'ada' is the last active admin: make another admin first",
        ),
        ("DELETE", "/v1/admin/operators/ada/tokens/999", None, 404, "operator 'ada' has no token 999"),
        ("GET", "/v1/admin/nothing", None, 404, "Not Found"),
    ],
)
def test_fail__bad_requests_get_a_clear_refusal_and_change_nothing(
    sqlite_fleet: Fleet, method: str, path: str, body: Any, status: int, detail: str
) -> None:
    seeded = audit_of(sqlite_fleet)  # the demo fleet's seed, audited as `cli:seed`
    reply = sqlite_fleet.client.request(method, path, json=body, headers=sqlite_fleet.as_role(Role.ADMIN))
    assert (reply.status_code, reply.json()["detail"]) == (status, detail)
    assert set(reply.json()) == {"code", "detail"}
    assert audit_of(sqlite_fleet) == seeded


def test_ok__enrol_rotate_revoke_a_cabinet_whose_token_works_on_the_sync_api(fleet: Fleet) -> None:
    client, operator = fleet.client, fleet.as_role(Role.OPERATOR)
    enrolled = client.post("/v1/admin/cabinets", json={"id": "n-1", "store": "north"}, headers=operator)
    assert enrolled.status_code == 201, enrolled.text
    token = enrolled.json()["token"]
    assert token.startswith("cab1_")
    assert enrolled.json()["cabinet"]["enrolled"] is True
    sync = {"Authorization": f"Bearer {token}"}
    assert client.get("/v1/cabinets/n-1/snapshot", headers=sync).status_code == 200
    rotated = client.post("/v1/admin/cabinets/n-1/token", headers=operator)
    assert client.get("/v1/cabinets/n-1/snapshot", headers=sync).status_code == 401
    fresh = {"Authorization": f"Bearer {rotated.json()['token']}"}
    assert client.get("/v1/cabinets/n-1/snapshot", headers=fresh).status_code == 200
    revoked = client.delete("/v1/admin/cabinets/n-1/token", headers=operator)
    assert (revoked.json()["enrolled"], revoked.json()["revoked_at"] is not None) == (False, True)
    assert client.get("/v1/cabinets/n-1/snapshot", headers=fresh).status_code == 401
    twice = client.delete("/v1/admin/cabinets/n-1/token", headers=operator)
    assert (twice.status_code, twice.json()["detail"]) == (409, "cabinet 'n-1' has no token to revoke")
    with fleet.storage.reading() as conn:
        dump = repr([tuple(row) for row in conn.execute(sa.select(schema.cabinets))])
        dump += repr([tuple(row) for row in conn.execute(sa.select(schema.audit_events))])
    assert token not in dump
    assert rotated.json()["token"] not in dump
    events = audit_of(fleet, resource="cabinet", resource_id="n-1")
    assert [e["action"] for e in events] == ["revoke", "rotate", "enroll"]
    assert (events[0]["before"]["enrolled"], events[0]["after"]["enrolled"]) == (True, False)


def test_ok__a_cabinets_sync_health_shows_what_its_session_told(fleet: Fleet) -> None:
    session = {"epoch": "e1", "last_seq": 0, "last_hash": "0" * 64, "software_version": "1.2.3", "schema_version": 4}
    sync = {"Authorization": f"Bearer {fleet.cabinet_token}"}
    assert fleet.client.post("/v1/cabinets/sim-1/session", json=session, headers=sync).status_code == 200
    health = fleet.client.get("/v1/admin/cabinets/sim-1", headers=fleet.as_role(Role.STORE_MANAGER)).json()["sync"]
    assert health["software_version"] == "1.2.3"
    assert health["schema_version"] == 4
    assert health["last_session_at"] is not None
    assert (health["events_held"], health["epochs"], health["fork_detected_at"]) == (0, 0, None)


def test_ok__sync_health_counts_the_events_a_cabinet_still_held_at_its_session(fleet: Fleet, ledger: Ledger) -> None:
    cloudharness.fill_ledger(ledger, 10)
    state = ledger.sync_state()
    sync = {"Authorization": f"Bearer {fleet.cabinet_token}"}
    session = {
        "epoch": state.epoch,
        "last_seq": state.last_seq,
        "last_hash": state.last_hash,
        "software_version": "1.2.3",
        "schema_version": 5,
    }
    assert fleet.client.post("/v1/cabinets/sim-1/session", json=session, headers=sync).status_code == 200
    health = fleet.client.get("/v1/admin/cabinets/sim-1", headers=fleet.as_role(Role.VIEWER)).json()["sync"]
    assert health["pending_events"] == 10
    batch = {"epoch": state.epoch, "from_seq": 1, "events": cloudharness.wire_events(ledger, 0, 4)}
    assert fleet.client.post("/v1/cabinets/sim-1/events", json=batch, headers=sync).status_code == 200
    health = fleet.client.get("/v1/admin/cabinets/sim-1", headers=fleet.as_role(Role.VIEWER)).json()["sync"]
    assert health["pending_events"] == 6
    assert health["events_held"] == 4


def test_ok__operators_accounts_and_tokens_through_the_api_audited_and_hashed(fleet: Fleet) -> None:
    client, admin = fleet.client, fleet.as_role(Role.ADMIN)
    made = client.post(
        "/v1/admin/operators", json={"name": "sam", "role": "store-manager", "stores": ["north"]}, headers=admin
    )
    assert made.json() == {
        "name": "sam",
        "role": "store-manager",
        "stores": ["north"],
        "active": True,
        "has_password": False,
    }
    issued = client.post("/v1/admin/operators/sam/tokens", json={"name": "script"}, headers=admin)
    assert issued.status_code == 201
    secret = issued.json()["secret"]
    sam = {"Authorization": f"Bearer {secret}"}
    assert [store["id"] for store in client.get("/v1/admin/stores", headers=sam).json()] == ["north"]
    listed = client.get("/v1/admin/operators/sam/tokens", headers=admin).json()
    assert [(t["name"], t["last_used_at"] is not None, t["revoked_at"]) for t in listed] == [("script", True, None)]
    assert "secret" not in listed[0]
    moved = client.patch("/v1/admin/operators/sam", json={"role": "viewer"}, headers=admin)
    assert (moved.json()["role"], moved.json()["stores"]) == ("viewer", [])
    assert client.put("/v1/admin/operators/sam/password", json={"password": PASSWORD}, headers=admin).status_code == 204
    token_id = issued.json()["token"]["id"]
    assert client.delete(f"/v1/admin/operators/sam/tokens/{token_id}", headers=admin).json()["revoked_at"] is not None
    assert client.get("/v1/admin/stores", headers=sam).status_code == 401
    with fleet.storage.reading() as conn:
        dump = repr([tuple(row) for table in schema.OPERATOR_TABLES for row in conn.execute(sa.select(table))])
    assert secret not in dump
    assert digest(secret) in dump
    assert PASSWORD not in dump
    events = audit_of(fleet, resource="operator", resource_id="sam")
    assert [e["action"] for e in events] == ["revoke_token", "set_password", "update", "issue_token", "create"]
    assert all(e["actor"] == "ada" for e in events)
    assert (events[2]["before"]["role"], events[2]["after"]["role"]) == ("store-manager", "viewer")
    assert "password_hash" not in repr(events)


def test_ok__the_audit_log_pages_newest_first(sqlite_fleet: Fleet) -> None:
    operator = sqlite_fleet.as_role(Role.OPERATOR)
    for number in range(5):
        sqlite_fleet.client.post("/v1/admin/stores", json={"id": f"s{number}", "name": "S"}, headers=operator)
    seen: list[str] = []
    query: dict[str, Any] = {"limit": 2, "resource": "store"}
    for _ in range(5):
        page = sqlite_fleet.client.get("/v1/admin/audit", params=query, headers=operator).json()
        seen += [event["resource_id"] for event in page["events"]]
        if page["next_before"] is None:
            break
        query["before"] = page["next_before"]
    assert seen == ["s4", "s3", "s2", "s1", "s0", "north", "demo"]  # then the stores the demo seed made
    assert {(e["actor"], e["via"]) for e in audit_of(sqlite_fleet, resource="cabinet")} == {("cli:seed", "seed")}
