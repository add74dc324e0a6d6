"""The releases page lists each release with its rollouts; a rollout's page shows where each of its
cabinets is (the version it reports, its last update step and why), with counts, in both languages;
a store-manager sees of a rollout only their store's cabinets."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from cabinetcloud import schema
from cabinetcloud.operators import Role
from cabinetcloud.projections import tables
from tests.cabinetcloud.dashboard.rig import Fleet, sign_in
from tests.cabinetcloud.dashboard.test_fleet_pages import cells
from tests.cabinetcloud.releases_rig import put_release

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def _rolled_out(fleet: Fleet, tmp_path: Path) -> tuple[int, int]:
    release_id, rollout_id = put_release(fleet.storage, tmp_path, ["north-1", "sim-1"], NOW)
    with fleet.storage.writing() as conn:
        conn.execute(
            sa.update(schema.cabinets).where(schema.cabinets.c.id == "sim-1").values(software_version="0.1.0-1")
        )
        # What the projector keeps of sim-1's update_refused event.
        conn.execute(
            sa.insert(tables.updates).values(
                cabinet_id="sim-1",
                event_id="0190a000-0000-7000-8000-000000000001",
                release=str(release_id),
                type="update_refused",
                version="0.2.0-1",
                reason="sha256: the download is not the offered package",
                at=NOW,
                ordinal=1,
                seq=7,
            )
        )
    return release_id, rollout_id


def test_ok__releases_and_a_rollouts_progress(sqlite_fleet: Fleet, tmp_path: Path) -> None:
    release_id, rollout_id = _rolled_out(sqlite_fleet, tmp_path)
    client = sqlite_fleet.client()
    sign_in(client, Role.OPERATOR)
    page = client.get("/dashboard/releases")
    assert page.status_code == 200, page.text
    [row] = cells(page.text, "releases")
    assert row[:3] == [str(release_id), "cabinetd 0.2.0-1", "amd64"]
    assert row[-1] == f"Rollout {rollout_id}: listed cabinets"
    rollout = client.get(f"/dashboard/rollouts/{rollout_id}")
    assert cells(rollout.text, "rollout-cabinets") == [
        ["north-1", "north", "–", "waiting for the cabinet", "–", "–"],
        [
            "sim-1",
            "demo",
            "0.1.0-1",
            "refused",
            "sha256: the download is not the offered package",
            "2026-12-03 09:00 UTC",
        ],
    ]
    assert 'data-state="refused">refused: <strong>1</strong>' in rollout.text


def test_ok__in_chinese(sqlite_fleet: Fleet, tmp_path: Path) -> None:
    _, rollout_id = _rolled_out(sqlite_fleet, tmp_path)
    client = sqlite_fleet.client("zh-CN")
    sign_in(client, Role.VIEWER)
    page = client.get(f"/dashboard/rollouts/{rollout_id}")
    assert [row[3] for row in cells(page.text, "rollout-cabinets")] == ["等待设备柜获取", "已拒绝"]
    assert f"<h1>发布 {rollout_id}</h1>" in page.text


def test_ok__a_store_manager_sees_their_stores_cabinets_only(sqlite_fleet: Fleet, tmp_path: Path) -> None:
    _, rollout_id = _rolled_out(sqlite_fleet, tmp_path)
    client = sqlite_fleet.client()
    sign_in(client, Role.STORE_MANAGER)
    page = client.get(f"/dashboard/rollouts/{rollout_id}")
    assert [row[0] for row in cells(page.text, "rollout-cabinets")] == ["north-1"]
    missing = client.get("/dashboard/rollouts/999")
    assert missing.status_code == 404
    assert "rollout 999 is not known" in missing.text


def test_ok__an_operator_rolls_out_from_the_releases_page(sqlite_fleet: Fleet, tmp_path: Path) -> None:
    release_id, _ = _rolled_out(sqlite_fleet, tmp_path)
    client = sqlite_fleet.client()
    csrf = sign_in(client, Role.OPERATOR)
    page = client.get("/dashboard/releases")
    assert f'id="roll-out-{release_id}"' in page.text
    form = {"csrf_token": csrf, "store": "north", "percent": "", "cabinets": ""}
    started = client.post(f"/dashboard/releases/{release_id}/rollouts", data=form, follow_redirects=False)
    assert started.status_code == 303, started.text
    rollout = client.get(started.headers["location"])
    # north-1 holds the offer of the first rollout already: listed with it, no second command.
    assert [(row[0], row[3]) for row in cells(rollout.text, "rollout-cabinets")] == [
        ("north-1", "waiting for the cabinet")
    ]
    with sqlite_fleet.storage.reading() as conn:
        offers = conn.execute(
            sa.select(schema.commands.c.cabinet_id).where(schema.commands.c.kind == "offer_update")
        ).scalars()
        assert sorted(offers) == ["north-1", "sim-1"]


def test_fail__a_rollout_form_that_does_not_hold(sqlite_fleet: Fleet, tmp_path: Path) -> None:
    release_id, _ = _rolled_out(sqlite_fleet, tmp_path)
    client = sqlite_fleet.client()
    csrf = sign_in(client, Role.OPERATOR)
    path = f"/dashboard/releases/{release_id}/rollouts"
    nothing = client.post(path, data={"csrf_token": csrf, "store": "north", "percent": "0"})
    assert (nothing.status_code, "The rollout was not started: check percent." in nothing.text) == (422, True)
    unknown = client.post(path, data={"csrf_token": csrf, "cabinets": "ghost-9"})
    assert (unknown.status_code, "body.cabinets: cabinet &#39;ghost-9&#39; not known" in unknown.text) == (422, True)
    viewer = sqlite_fleet.client()
    viewer_csrf = sign_in(viewer, Role.VIEWER)
    assert 'id="roll-out-' not in viewer.get("/dashboard/releases").text
    refused = viewer.post(path, data={"csrf_token": viewer_csrf, "store": "demo"})
    assert refused.status_code == 403
    forged = client.post(path, data={"csrf_token": "not the token", "store": "demo"})
    assert forged.status_code == 403
