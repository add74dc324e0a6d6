"""Rollouts: to a store, to listed cabinets, to a share of the fleet (the same first cabinets when the
share grows), each chosen cabinet holding exactly one offer_update; a downgrade refused unless allowed;
the progress of each cabinet from the update_* events it sends."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from cabinetcloud import audit, schema
from cabinetcloud.operators import Role
from cabinetcloud.projections.projector import catch_up
from cabinetcloud.releases.rollouts import share_key
from cabinetd.ledger import Ledger
from testbed import cloudharness
from tests.cabinetcloud.releases_rig import MORE_CABINETS, Releases, releases, sqlite_releases
from tests.cabinetcloud.test_ingest import session, upload

__all__ = ["releases", "sqlite_releases"]


def _roll(releases: Releases, release_id: int, body: dict[str, Any], role: Role = Role.OPERATOR) -> Any:
    return releases.fleet.client.post(
        f"/v1/admin/releases/{release_id}/rollouts", json=body, headers=releases.fleet.as_role(role)
    )


def _offers(releases: Releases) -> dict[str, list[dict[str, Any]]]:
    with releases.fleet.storage.reading() as conn:
        rows = conn.execute(sa.select(schema.commands).where(schema.commands.c.kind == "offer_update")).all()
    found: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        found.setdefault(row.cabinet_id, []).append(json.loads(row.args))
    return found


def test_ok__a_store_gets_one_offer_per_cabinet(releases: Releases) -> None:
    release = releases.released()
    reply = _roll(releases, release["id"], {"store": "demo"})
    assert reply.status_code == 201, reply.text
    rollout = reply.json()
    demo = ["demo-2", "demo-3", "demo-4", "sim-1"]
    assert [cabinet["cabinet"] for cabinet in rollout["cabinets"]] == demo
    assert {cabinet["state"] for cabinet in rollout["cabinets"]} == {"queued"}
    assert rollout["counts"]["queued"] == 4
    offer = {
        "release": str(release["id"]),
        "version": "0.2.0-1",
        "sha256": release["sha256"],
        "size": release["size"],
        "signature": release["signature"],
        "allow_downgrade": False,
    }
    assert _offers(releases) == {cabinet: [offer] for cabinet in demo}
    fetched = releases.fleet.client.get("/v1/cabinets/demo-2/commands", headers=releases.cabinet("demo-2")).json()
    assert [(command["kind"], command["args"]) for command in fetched] == [("offer_update", offer)]
    with releases.fleet.storage.reading() as conn:
        events, _ = audit.page(conn, resource="rollout")
    assert [(event["action"], event["actor"], event["resource_id"]) for event in events] == [
        ("start", "otto", str(rollout["id"]))
    ]
    assert (events[0]["after"]["cabinets"], events[0]["after"]["commands_queued"]) == (demo, 4)


def test_ok__listed_cabinets_only(releases: Releases) -> None:
    release = releases.released()
    reply = _roll(releases, release["id"], {"cabinets": ["north-2", "sim-1", "north-2"]})
    assert reply.status_code == 201, reply.text
    assert sorted(_offers(releases)) == ["north-2", "sim-1"]
    assert [len(offers) for offers in _offers(releases).values()] == [1, 1]


def test_ok__a_share_is_the_first_cabinets_by_hash_and_grows_from_them(releases: Releases) -> None:
    release = releases.released()
    fleet = sorted(["sim-1", *MORE_CABINETS], key=lambda cabinet: share_key(release["id"], cabinet))
    small = _roll(releases, release["id"], {"percent": 20}).json()
    assert [cabinet["cabinet"] for cabinet in small["cabinets"]] == sorted(fleet[:2])
    large = _roll(releases, release["id"], {"percent": 50}).json()
    assert [cabinet["cabinet"] for cabinet in large["cabinets"]] == sorted(fleet[:5])
    offers = _offers(releases)
    # The first two kept the offer of the first rollout: no cabinet holds two.
    assert (sorted(offers), {len(held) for held in offers.values()}) == (sorted(fleet[:5]), {1})


def test_ok__a_share_of_one_store(releases: Releases) -> None:
    release = releases.released()
    north = sorted(MORE_CABINETS.keys() - {"demo-2", "demo-3", "demo-4"}, key=lambda c: share_key(release["id"], c))
    reply = _roll(releases, release["id"], {"store": "north", "percent": 50})
    assert [cabinet["cabinet"] for cabinet in reply.json()["cabinets"]] == sorted(north[:3])


def _report_version(releases: Releases, cabinet_id: str, version: str) -> None:
    with releases.fleet.storage.writing() as conn:
        conn.execute(
            sa.update(schema.cabinets).where(schema.cabinets.c.id == cabinet_id).values(software_version=version)
        )


def test_fail__a_downgrade_unless_allowed(releases: Releases) -> None:
    release = releases.released(version="0.2.0-1")
    _report_version(releases, "demo-3", "0.10.0-1")
    _report_version(releases, "demo-4", "0.2.0-1")
    _report_version(releases, "demo-2", "test")  # no Debian version: orders against nothing
    refused = _roll(releases, release["id"], {"store": "demo"})
    assert (refused.status_code, refused.json()) == (
        422,
        {
            "code": "downgrade",
            "detail": f"release {release['id']} (0.2.0-1) is older than what cabinet 'demo-3 (0.10.0-1)' runs: "
            "set allow_downgrade to roll it back",
        },
    )
    assert _offers(releases) == {}
    allowed = _roll(releases, release["id"], {"store": "demo", "allow_downgrade": True}).json()
    states = {cabinet["cabinet"]: cabinet["state"] for cabinet in allowed["cabinets"]}
    # demo-4 runs the release already: it is not offered it again.
    assert states == {"demo-2": "queued", "demo-3": "queued", "demo-4": "current", "sim-1": "queued"}
    assert {offer[0]["allow_downgrade"] for offer in _offers(releases).values()} == {True}
    assert sorted(_offers(releases)) == ["demo-2", "demo-3", "sim-1"]


def test_ok__progress_follows_the_cabinets_update_events(releases: Releases, ledger: Ledger) -> None:
    release = releases.released()
    rollout = _roll(releases, release["id"], {"cabinets": ["sim-1", "demo-2"]}).json()
    one = {"release": str(release["id"]), "version": "0.2.0-1"}
    ledger.append("update_offered", {**one, "allow_downgrade": False})
    ledger.append("update_downloaded", {**one, "sha256": release["sha256"], "size": release["size"]})
    ledger.append("update_installing", {**one, "from_version": "0.1.0-1"})
    ledger.append("update_rolled_back", {**one, "to_version": "0.1.0-1", "reason": "not healthy within 120 s"})
    ledger.append("update_offered", {"release": "999", "version": "9.0-1", "allow_downgrade": False})
    cloud = releases.fleet.client
    cloud.headers["Authorization"] = releases.cabinet("sim-1")["Authorization"]
    try:
        session(cloud, ledger, software_version="0.1.0-1")
        upload(cloud, cloudharness.wire_events(ledger))
    finally:
        del cloud.headers["Authorization"]
    catch_up(releases.fleet.storage, datetime.now(UTC))
    progress = cloud.get(f"/v1/admin/rollouts/{rollout['id']}", headers=releases.fleet.as_role(Role.VIEWER)).json()
    seen = {
        cabinet["cabinet"]: (cabinet["state"], cabinet["reason"], cabinet["software_version"])
        for cabinet in progress["cabinets"]
    }
    assert seen == {"demo-2": ("queued", None, None), "sim-1": ("rolled_back", "not healthy within 120 s", "0.1.0-1")}
    assert {state: count for state, count in progress["counts"].items() if count} == {"queued": 1, "rolled_back": 1}


def test_fail__targets_that_do_not_hold(sqlite_releases: Releases) -> None:
    release = sqlite_releases.released()
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"cabinets": ["sim-1", "nowhere-1"]}, 422, "body.cabinets: cabinet 'nowhere-1' not known"),
        ({"store": "south"}, 404, "store 'south' is not known"),
        (
            {"cabinets": ["sim-1"], "percent": 10},
            422,
            "body: cabinets is a target of its own: give it without store or percent",
        ),
        ({}, 422, "body: give a target: store, cabinets, or percent (of the fleet, or of store)"),
        ({"percent": 0}, 422, "body.percent: Input should be greater than or equal to 1"),
    ]
    for body, status, detail in cases:
        reply = _roll(sqlite_releases, release["id"], body)
        assert (reply.status_code, reply.json()["detail"]) == (status, detail), body
    unknown = _roll(sqlite_releases, 4242, {"store": "demo"})
    assert (unknown.status_code, unknown.json()["detail"]) == (404, "release 4242 is not known")
    assert _offers(sqlite_releases) == {}


def test_ok__a_store_manager_rolls_out_to_their_own_store_only(sqlite_releases: Releases) -> None:
    release = sqlite_releases.released()
    manager = Role.STORE_MANAGER
    fleetwide = _roll(sqlite_releases, release["id"], {"percent": 100}, manager)
    assert (fleetwide.status_code, fleetwide.json()["detail"]) == (
        403,
        "role store-manager may roll out to their own stores only: name a store",
    )
    elsewhere = _roll(sqlite_releases, release["id"], {"cabinets": ["north-1"]}, manager)
    assert (elsewhere.status_code, elsewhere.json()["detail"]) == (404, "cabinet 'north-1' not known")
    other_store = _roll(sqlite_releases, release["id"], {"store": "north"}, manager)
    assert (other_store.status_code, other_store.json()["detail"]) == (404, "store 'north' is not known")
    own = _roll(sqlite_releases, release["id"], {"store": "demo"}, manager)
    assert own.status_code == 201, own.text
    viewer = _roll(sqlite_releases, release["id"], {"store": "demo"}, Role.VIEWER)
    assert (viewer.status_code, viewer.json()["detail"]) == (403, "role viewer may not roll out releases")
    # An operator's rollout to both stores: the store-manager sees their store's cabinets of it only.
    both = _roll(sqlite_releases, release["id"], {"cabinets": ["sim-1", "north-1"]}).json()
    seen = sqlite_releases.fleet.client.get(
        f"/v1/admin/rollouts/{both['id']}", headers=sqlite_releases.fleet.as_role(manager)
    )
    assert [cabinet["cabinet"] for cabinet in seen.json()["cabinets"]] == ["sim-1"]


def test_ok__an_expired_offer_is_replaced_by_the_next_rollout(sqlite_releases: Releases) -> None:
    release = sqlite_releases.released()
    first = _roll(sqlite_releases, release["id"], {"cabinets": ["sim-1", "demo-2"]}).json()
    with sqlite_releases.fleet.storage.writing() as conn:
        # A week on: sim-1's offer expired unanswered; demo-2's still stands.
        past = datetime.now(UTC) - timedelta(minutes=1)
        sim_1 = next(cabinet["command_id"] for cabinet in first["cabinets"] if cabinet["cabinet"] == "sim-1")
        conn.execute(sa.update(schema.commands).where(schema.commands.c.command_id == sim_1).values(expires_at=past))
    expired = sqlite_releases.fleet.client.get(
        f"/v1/admin/rollouts/{first['id']}", headers=sqlite_releases.fleet.as_role(Role.VIEWER)
    ).json()
    assert [(cabinet["cabinet"], cabinet["state"]) for cabinet in expired["cabinets"]] == [
        ("demo-2", "queued"),
        ("sim-1", "expired"),
    ]
    again = _roll(sqlite_releases, release["id"], {"cabinets": ["sim-1", "demo-2"]}).json()
    assert [(cabinet["cabinet"], cabinet["state"]) for cabinet in again["cabinets"]] == [
        ("demo-2", "queued"),
        ("sim-1", "queued"),
    ]
    assert {cabinet: len(offers) for cabinet, offers in _offers(sqlite_releases).items()} == {"demo-2": 1, "sim-1": 2}
