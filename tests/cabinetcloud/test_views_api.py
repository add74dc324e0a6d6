"""The views' admin routes over the story of fleet_story.py: what each role sees, 404 for a store a
store-manager does not run, the refusals' one shape, paging of the histories."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cabinetcloud.operators import Role
from cabinetcloud.projections import catch_up
from testbed import cloudharness
from tests.cabinetcloud.fleet_history import Clock, Fleet
from tests.cabinetcloud.fleet_story import DAY_END, story
from tests.cabinetcloud.operators_rig import Fleet as Operators
from tests.cabinetcloud.operators_rig import serving

VIEWS = (
    "/v1/admin/views/rentals",
    "/v1/admin/views/overdue",
    "/v1/admin/views/lost",
    "/v1/admin/views/faults",
    "/v1/admin/views/usage",
    "/v1/admin/views/conflicts",
    "/v1/admin/views/away-returns",
    "/v1/admin/views/devices?serial=S1-0001",
    "/v1/admin/views/cabinets/sim-1/slots",
    "/v1/admin/devices/S1-0001/history",
    "/v1/admin/devices/S1-0001/rentals",
    "/v1/admin/views/summary",
    "/v1/admin/cabinets/sim-1/log",
)


@pytest.fixture(scope="module")
def ops(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operators]:
    """The operators' rig (on SQLite: this is about HTTP) with the story told and projected, once:
    the tests only read."""
    root = tmp_path_factory.mktemp("views-api")
    storage = cloudharness.migrated(f"sqlite:///{root / 'cloud.db'}")
    for rig in serving(storage):
        told = Fleet(storage, Clock(), root)
        story(told, root)
        catch_up(storage, DAY_END)
        rig.client.app.state.clock = lambda: DAY_END  # type: ignore[attr-defined]
        yield rig
        told.close()
    storage.dispose()


def get(ops: Operators, role: Role, path: str) -> Any:
    reply = ops.client.get(path, headers=ops.as_role(role))
    assert reply.status_code == 200, reply.text
    return reply.json()


@pytest.mark.parametrize("role", list(Role))
def test_ok__every_role_reads_every_view(ops: Operators, role: Role) -> None:
    for path in VIEWS:
        get(ops, role, path)


def test_ok__open_rentals_by_store_and_staff(ops: Operators) -> None:
    everything = get(ops, Role.VIEWER, "/v1/admin/views/rentals")
    assert [r["rental_id"] for r in everything] == ["R-N1", "R-A4", "R-B1"]
    assert [r["rental_id"] for r in get(ops, Role.VIEWER, "/v1/admin/views/rentals?store=north")] == ["R-N1"]
    chen = get(ops, Role.OPERATOR, "/v1/admin/views/rentals?staff=demo-chen")
    assert {(r["staff_name"], r["conflict"]) for r in chen} == {("Chen Zhao", True)}
    overdue = get(ops, Role.ADMIN, "/v1/admin/views/overdue")
    assert [(r["device"], r["due_at"], r["overdue"]) for r in overdue] == [("S1-0101", "2026-03-02T11:00:00Z", True)]


def test_ok__a_store_manager_sees_only_their_stores(ops: Operators) -> None:
    mine = get(ops, Role.STORE_MANAGER, "/v1/admin/views/rentals")
    assert {r["store"] for r in mine} == {"demo"}
    assert get(ops, Role.STORE_MANAGER, "/v1/admin/views/overdue") == []
    away = get(ops, Role.STORE_MANAGER, "/v1/admin/views/away-returns")
    assert [(r["rental_id"], r["returned_store"]) for r in away] == [("R-A2", "north")]  # their device, away
    headers = ops.as_role(Role.STORE_MANAGER)
    for path in (
        "/v1/admin/views/rentals?store=north",
        "/v1/admin/views/usage?store=north",
        "/v1/admin/views/cabinets/north-1/slots",
        "/v1/admin/devices/S1-0101/history",
        "/v1/admin/cabinets/north-1/log",
    ):
        reply = ops.client.get(path, headers=headers)
        assert reply.status_code == 404, path
        assert reply.json()["code"] == "not_found"
    assert ops.client.get("/v1/admin/devices/S1-0101/history", headers=ops.as_role(Role.VIEWER)).status_code == 200


def test_ok__lost_faults_usage_conflicts_slots_and_status(ops: Operators) -> None:
    assert get(ops, Role.VIEWER, "/v1/admin/views/lost") == []
    faults = get(ops, Role.VIEWER, "/v1/admin/views/faults?open=true")
    assert [(f["kind"], f["ticket_id"], f["rental"]["rental_id"]) for f in faults] == [("ticket", "T-1", "R-A3")]
    assert len(get(ops, Role.VIEWER, "/v1/admin/views/faults?device=S1-0003")) == 2
    assert get(ops, Role.VIEWER, "/v1/admin/views/faults?device=S1-0001") == []
    usage = get(ops, Role.VIEWER, "/v1/admin/views/usage?store=north&days=1")
    assert [(u["work_type"], u["rentals"]) for u in usage] == [
        (None, 1),
        ("picking", 1),
        ("price-tags", 0),
        ("stock-taking", 0),
    ]
    conflicts = get(ops, Role.VIEWER, "/v1/admin/views/conflicts")
    assert [(c["device"], len(c["rentals"]), c["open"]) for c in conflicts] == [("R1-0001", 2, True)]
    slots = get(ops, Role.VIEWER, "/v1/admin/views/cabinets/sim-1/slots")
    assert [(s["slot"], s["state"]) for s in slots] == [(1, "empty"), (2, "empty"), (3, "faulty"), (5, "empty")]
    states = get(ops, Role.VIEWER, "/v1/admin/views/devices?serial=S1-0003&serial=R1-0002&serial=S1-0101")
    assert states == [
        {"serial": "S1-0003", "state": "in_repair"},
        {"serial": "R1-0002", "state": "unknown"},
        {"serial": "S1-0101", "state": "rented"},
    ]


def test_ok__the_summary_and_a_device_s_rentals(ops: Operators) -> None:
    summaries = get(ops, Role.STORE_MANAGER, "/v1/admin/views/summary")
    assert [(s["store"], s["cabinets"], s["open_rentals"], s["overdue"], s["open_faults"]) for s in summaries] == [
        ("demo", 2, 2, 0, 1)
    ]
    # Unknown: devices the demo fleet lists and no event has named, A1-0001 (an adb handheld) among them.
    assert summaries[0]["devices"] == {"in_slot": 2, "rented": 1, "in_repair": 1, "lost": 0, "unknown": 3}
    rentals = get(ops, Role.VIEWER, "/v1/admin/devices/R1-0001/rentals")
    assert [(r["rental_id"], r["conflict"]) for r in rentals] == [("R-B1", True), ("R-A4", True)]
    refused = ops.client.get("/v1/admin/devices/S1-0101/rentals", headers=ops.as_role(Role.STORE_MANAGER))
    assert refused.status_code == 404


def test_ok__histories_page(ops: Operators) -> None:
    first = get(ops, Role.VIEWER, "/v1/admin/devices/S1-0001/history?limit=2")
    assert [e["type"] for e in first["events"]] == ["device_returned", "device_status"]
    rest = get(ops, Role.VIEWER, f"/v1/admin/devices/S1-0001/history?offset={first['next_offset']}")
    assert len(rest["events"]) == 3
    assert rest["next_offset"] is None
    log = get(ops, Role.VIEWER, "/v1/admin/cabinets/sim-1/log?limit=1")
    assert [e["seq"] for e in log["events"]] == [1]
    old = log["epochs"][0]
    page = get(ops, Role.VIEWER, f"/v1/admin/cabinets/sim-1/log?epoch={old}&after=3&limit=2")
    assert [e["seq"] for e in page["events"]] == [4, 5]
    assert page["next_after"] == 5


@pytest.mark.parametrize(
    ("path", "status", "detail"),
    [
        ("/v1/admin/views/lost?days=0", 422, "query.days: Input should be greater than or equal to 1"),
        ("/v1/admin/views/rentals?store=nowhere", 404, "store 'nowhere' is not known"),
        ("/v1/admin/views/cabinets/nowhere/slots", 404, "cabinet 'nowhere' is not known"),
        ("/v1/admin/devices/NOPE-1/history", 404, "device 'NOPE-1' is not known"),
        ("/v1/admin/cabinets/sim-1/log?epoch=e9", 404, "cabinet 'sim-1' has no epoch 'e9' in the cloud"),
        ("/v1/admin/views/devices", 422, "query.serial: Field required"),
    ],
)
def test_fail__bad_questions_get_the_one_refusal_shape(ops: Operators, path: str, status: int, detail: str) -> None:
    reply = ops.client.get(path, headers=ops.as_role(Role.ADMIN))
    assert (reply.status_code, reply.json()["detail"]) == (status, detail)


def test_fail__no_token_is_401_and_a_cabinet_s_token_403(ops: Operators) -> None:
    for path in VIEWS:
        assert ops.client.get(path).status_code == 401
        cabinet = ops.client.get(path, headers={"Authorization": f"Bearer {ops.cabinet_token}"})
        assert cabinet.status_code == 403
        assert cabinet.json()["detail"] == "a cabinet's token is not accepted on operator routes"
