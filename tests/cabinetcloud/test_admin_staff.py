"""`/v1/admin/staff` and `/v1/admin/devices`: create, read, change, deactivate, each audited with
before and after; store-managers keep their own stores; one validation with the seed file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cabinetcloud import fleet as cloud_fleet
from cabinetcloud import operators
from cabinetcloud.app import create_app
from cabinetcloud.operators import Role
from cabinetcloud.projections import catch_up
from cabinetcloud.seed import SeedError, seed_file
from cabinetcloud.storage import Storage
from cabinetproto.pins import verify_pin
from cabinetproto.wire import Entity
from testbed import cloudharness
from tests.cabinetcloud.fleet_history import Clock
from tests.cabinetcloud.fleet_history import Fleet as History
from tests.cabinetcloud.operators_rig import Fleet, fleet, serving, sqlite_fleet

__all__ = ["fleet", "sqlite_fleet"]

ERIN: dict[str, Any] = {
    "id": "demo-erin",
    "name": "Erin Wu",
    "badge": "00B47B4F",
    "store": "demo",
    "work_type": "picking",
    "notify": "mailto:erin@example.com",
}


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """One fleet for the cases that change nothing, or nothing another case reads (a fleet costs 2 s)."""
    storage = cloudharness.migrated(f"sqlite:///{tmp_path_factory.mktemp('shared') / 'cloud.db'}")
    yield from serving(storage)
    storage.dispose()


def audit_of(fleet: Fleet, resource: str, resource_id: str) -> list[dict[str, Any]]:
    reply = fleet.client.get(
        "/v1/admin/audit", params={"resource": resource, "resource_id": resource_id}, headers=fleet.as_role(Role.ADMIN)
    )
    events: list[dict[str, Any]] = reply.json()["events"]
    return [event for event in events if event["via"] != "seed"]


def test_ok__a_staff_member_is_created_changed_and_deactivated_each_audited(fleet: Fleet) -> None:
    client, operator = fleet.client, fleet.as_role(Role.OPERATOR)
    made = client.post("/v1/admin/staff", json=ERIN, headers=operator)
    assert made.status_code == 201, made.text
    assert made.json() == {
        **ERIN,
        "badge": "0011828047",  # the roster form of the card, whatever form it was typed in
        "role": "staff",
        "active": True,
        "has_pin": False,
    }
    promoted = client.patch("/v1/admin/staff/demo-erin", json={"role": "technician", "pin": "975310"}, headers=operator)
    assert (promoted.status_code, promoted.json()["has_pin"]) == (200, True), promoted.text
    assert "pin" not in promoted.json()
    with fleet.storage.reading() as conn:
        row = cloud_fleet.current(conn, Entity.STAFF, "demo-erin")
    assert row is not None
    assert verify_pin("975310", row["pin_hash"])
    renamed = client.patch("/v1/admin/staff/demo-erin", json={"name": "Erin Wu-Li", "notify": None}, headers=operator)
    assert (renamed.json()["name"], renamed.json()["notify"], renamed.json()["has_pin"]) == ("Erin Wu-Li", None, True)
    gone = client.delete("/v1/admin/staff/demo-erin", headers=operator)
    assert (gone.status_code, gone.json()["active"]) == (200, False)
    assert client.get("/v1/admin/staff/demo-erin", headers=operator).json()["active"] is False
    events = audit_of(fleet, "staff", "demo-erin")
    assert [(e["actor"], e["action"]) for e in events] == [
        ("otto", "disable"),
        ("otto", "update"),
        ("otto", "update"),
        ("otto", "create"),
    ]
    assert (events[0]["before"]["active"], events[0]["after"]["active"]) == (True, False)
    assert (events[1]["before"]["notify"], events[1]["after"]["notify"]) == ("mailto:erin@example.com", None)
    assert (events[2]["before"]["has_pin"], events[2]["after"]["has_pin"]) == (False, True)
    assert events[3]["before"] is None
    assert "pin_hash" not in repr(events)
    assert "975310" not in repr(events)


def test_ok__the_list_filters_and_a_store_manager_sees_only_their_stores(sqlite_fleet: Fleet) -> None:
    client = sqlite_fleet.client

    def ids(role: Role, **query: Any) -> list[str]:
        reply = client.get("/v1/admin/staff", params=query, headers=sqlite_fleet.as_role(role))
        assert reply.status_code == 200, reply.text
        return [member["id"] for member in reply.json()]

    assert "north-erik" in ids(Role.VIEWER)
    assert ids(Role.VIEWER, store="north") == ["north-erik"]
    assert ids(Role.VIEWER, store="demo", work_type="price-tags", active=False) == ["demo-dina"]
    assert "north-erik" not in ids(Role.STORE_MANAGER)
    north = client.get("/v1/admin/staff", params={"store": "north"}, headers=sqlite_fleet.as_role(Role.STORE_MANAGER))
    assert (north.status_code, north.json()["detail"]) == (404, "store 'north' is not known")
    erik = client.get("/v1/admin/staff/north-erik", headers=sqlite_fleet.as_role(Role.STORE_MANAGER))
    assert (erik.status_code, erik.json()) == (
        404,
        {"code": "not_found", "detail": "staff member 'north-erik' is not known"},
    )


FAY = {**ERIN, "id": "demo-fay", "badge": "0000000077"}
# Who may change what (in this order, on one fleet: no case reads what another one changed).
ROLE_CASES: list[tuple[Role, str, str, Any, int]] = [
    (Role.VIEWER, "POST", "/v1/admin/staff", FAY, 403),
    (Role.VIEWER, "PATCH", "/v1/admin/staff/demo-anna", {"name": "A"}, 403),
    (Role.VIEWER, "DELETE", "/v1/admin/devices/S1-0001", None, 403),
    (Role.STORE_MANAGER, "POST", "/v1/admin/staff", FAY, 201),
    (Role.STORE_MANAGER, "PATCH", "/v1/admin/staff/north-erik", {"name": "E"}, 404),
    (Role.STORE_MANAGER, "PATCH", "/v1/admin/staff/demo-anna", {"store": "north"}, 404),
    (Role.STORE_MANAGER, "DELETE", "/v1/admin/devices/S1-0101", None, 404),
    (Role.STORE_MANAGER, "DELETE", "/v1/admin/devices/S1-0001", None, 200),
    (Role.STORE_MANAGER, "POST", "/v1/admin/work-types", {"id": "w"}, 403),
    (Role.STORE_MANAGER, "DELETE", "/v1/admin/device-models/pda-s1", None, 403),
    (Role.OPERATOR, "PATCH", "/v1/admin/staff/north-erik", {"store": "demo"}, 200),
    (Role.ADMIN, "PATCH", "/v1/admin/devices/S1-0101", {"store": "demo"}, 200),
]


def test_ok__each_role_may_change_what_it_keeps(shared: Fleet) -> None:
    for role, method, path, body, status in ROLE_CASES:
        reply = shared.client.request(method, path, json=body, headers=shared.as_role(role))
        assert reply.status_code == status, (role, method, path, reply.text)
        if status == 403:
            assert reply.json()["detail"] == f"role {role.value} may not change the fleet"


@pytest.mark.parametrize(
    ("change", "status", "detail"),
    [
        (
            {"badge": "026,11068"},  # Anna's card as facility,card
            409,
            "body.badge: '026,11068' is already the badge of staff 'demo-anna'",
        ),
        (
            {"work_type": "pickng"},
            404,
            "body.work_type: no work type 'pickng' (defined: picking, price-tags, stock-taking)",
        ),
        ({"role": "manager"}, 422, "body.pin: required for role 'manager'"),
        ({"pin": "135790"}, 422, "body.pin: only technicians and managers have a PIN"),
        ({"role": "technician", "pin": "1234"}, 422, "body.pin: must be 6 to 8 digits"),
        (
            {"notify": "erin at example"},
            422,
            "body.notify: 'erin at example' is not a notification address: write "
            "mailto:name@example.com, a service URL (dingtalk://..., wecombot://..., mailtos://...) or a mobile number "
            "(+8613800138000)",
        ),
        (
            {"notify": "mailto:erin"},
            422,
            "body.notify: 'mailto:erin' is not an e-mail address (mailto:name@example.com)",
        ),
        ({"colour": "red"}, 422, "body.colour: Extra inputs are not permitted"),
    ],
)
def test_fail__a_bad_staff_entry_is_refused_naming_the_field(
    shared: Fleet, change: dict[str, Any], status: int, detail: str
) -> None:
    reply = shared.client.post("/v1/admin/staff", json={**ERIN, **change}, headers=shared.as_role(Role.ADMIN))
    assert (reply.status_code, reply.json()["detail"]) == (status, detail)
    assert shared.client.get("/v1/admin/staff/demo-erin", headers=shared.as_role(Role.ADMIN)).status_code == 404


def test_fail__the_seed_file_and_the_api_refuse_one_entry_with_the_same_words(shared: Fleet, tmp_path: Path) -> None:
    entry = {**ERIN, "badge": "xyz"}
    reply = shared.client.post("/v1/admin/staff", json=entry, headers=shared.as_role(Role.ADMIN))
    path = tmp_path / "fleet.toml"
    path.write_text("[[staff]]\n" + "".join(f"{key} = {value!r}\n".replace("'", '"') for key, value in entry.items()))
    with pytest.raises(SeedError) as caught:
        seed_file(path, shared.storage.writing)
    words = (
        "'xyz' is not a badge id: write the number printed on the card (10 digits, 0011828047), 8 or 10 hex "
        "digits (00B47B4F, 5900B47B4F), facility,card (180,31567) or 0x and hex"
    )
    assert (reply.status_code, reply.json()["detail"]) == (422, f"body.badge: {words}")
    assert caught.value.lines == [f"{path}: staff[0] (id 'demo-erin'): badge: {words}"]


def test_ok__a_device_is_added_moved_and_retired(fleet: Fleet) -> None:
    client, operator = fleet.client, fleet.as_role(Role.OPERATOR)
    made = client.post(
        "/v1/admin/devices", json={"serial": "S1-0009", "model": "pda-s1", "store": "demo"}, headers=operator
    )
    assert (made.status_code, made.json()) == (
        201,
        {"serial": "S1-0009", "model": "pda-s1", "store": "demo", "active": True, "status": "unknown"},
    )
    twice = client.post(
        "/v1/admin/devices", json={"serial": "S1-0009", "model": "pda-s1", "store": "demo"}, headers=operator
    )
    assert (twice.status_code, twice.json()["detail"]) == (409, "device 'S1-0009' is already in the fleet")
    moved = client.patch("/v1/admin/devices/S1-0009", json={"store": "north"}, headers=operator)
    assert moved.json()["store"] == "north"
    bad = client.patch("/v1/admin/devices/S1-0009", json={"model": "pda-x"}, headers=operator)
    assert (bad.status_code, bad.json()["detail"]) == (
        404,
        "body.model: no device model 'pda-x' (defined: pda-a1, pda-r1, pda-s1)",
    )
    retired = client.delete("/v1/admin/devices/S1-0009", headers=operator)
    assert retired.json()["active"] is False
    listed = client.get("/v1/admin/devices", params={"store": "north", "model": "pda-s1"}, headers=operator).json()
    assert [(d["serial"], d["active"]) for d in listed] == [("S1-0009", False), ("S1-0101", True)]
    events = audit_of(fleet, "device", "S1-0009")
    assert [e["action"] for e in events] == ["disable", "update", "create"]
    assert (events[1]["before"]["store"], events[1]["after"]["store"]) == ("demo", "north")


def test_ok__a_device_shows_where_it_stands_by_its_cabinets_events(sqlite_storage: Storage, tmp_path: Path) -> None:
    cloudharness.seeded(sqlite_storage)
    with sqlite_storage.writing() as conn:
        operators.add(conn, "vic", Role.VIEWER)
        token = operators.issue_token(conn, "vic", "tests")[1]
    clock = Clock()
    history = History(sqlite_storage, clock, tmp_path)
    cabinet = history.cabinet("sim-1", "demo")
    cabinet.status(1, "S1-0001", 90)
    cabinet.status(2, "S1-0002", 90)
    clock.advance(minutes=5)
    cabinet.rent(2, "S1-0002", "demo-anna", "R-1", "price-tags")
    history.contact(cabinet)
    history.sync(cabinet)
    catch_up(sqlite_storage, clock.now)
    history.close()
    viewer = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(sqlite_storage, clock=clock)) as client:
        listed = client.get("/v1/admin/devices", params={"store": "demo", "model": "pda-s1"}, headers=viewer).json()
        rented = client.get("/v1/admin/devices", params={"status": "rented"}, headers=viewer).json()
    assert [(d["serial"], d["status"]) for d in listed] == [
        ("S1-0001", "in_slot"),
        ("S1-0002", "rented"),
        ("S1-0003", "unknown"),  # no cabinet has named it yet
    ]
    assert [d["serial"] for d in rented] == ["S1-0002"]
