"""An admin change reaches the cabinets through the change feed within one long poll: a poll held
open when the change is made answers with it, and a real cabinet's replica applies it."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from cabinetcloud.app import create_app
from cabinetcloud.operators import Role
from cabinetd.ledger import open_ledger
from testbed import cloudharness
from testbed.syncrig import cabinet_config, client_for, run_until
from tests.cabinetcloud.operators_rig import Fleet, fleet, sqlite_fleet

__all__ = ["fleet", "sqlite_fleet"]

CHANGES = "/v1/cabinets/sim-1/changes"

# Each family's change, and the op a cabinet receives for it.
CHANGES_MADE: list[tuple[str, str, dict[str, Any], str, str, dict[str, Any]]] = [
    ("PATCH", "/v1/admin/staff/demo-anna", {"work_type": "picking"}, "staff", "demo-anna", {"work_type": "picking"}),
    (
        "PATCH",
        "/v1/admin/work-types/picking",
        {"device_limit": 2},
        "work_types",
        "picking",
        {"max_devices_per_staff": 2},
    ),
    (
        "PATCH",
        "/v1/admin/device-models/pda-r1",
        {"slot_type": "pda-standard"},
        "device_models",
        "pda-r1",
        {"slot_types": ["pda-standard"]},
    ),
    ("DELETE", "/v1/admin/devices/S1-0001", {}, "devices", "S1-0001", {"active": False}),
]


def head_cursor(client: TestClient, cabinet: dict[str, str]) -> str:
    cursor = ""
    while True:  # catch up with the roster, so that the next poll has nothing to say and waits
        page = client.get(CHANGES, params={"cursor": cursor}, headers=cabinet).json()
        cursor = page["cursor"]
        if page["complete"]:
            return str(cursor)


def held_poll(client: TestClient, cabinet: dict[str, str], change: Callable[[], None]) -> list[dict[str, Any]]:
    """The ops of one long poll held open from the head of the feed while `change` is made."""
    cursor = head_cursor(client, cabinet)
    answered: list[Any] = []
    poll = threading.Thread(
        target=lambda: answered.append(
            client.get(CHANGES, params={"cursor": cursor, "wait": 30}, headers=cabinet).json()
        )
    )
    poll.start()
    time.sleep(0.2)  # the poll is held: nothing has changed yet
    assert not answered
    change()
    poll.join(timeout=60)
    # A poll that ran to its deadline would answer the page it started with: no ops.
    ops: list[dict[str, Any]] = answered[0]["ops"]
    return ops


def test_ok__a_held_long_poll_answers_with_the_admin_change(fleet: Fleet) -> None:
    cabinet = {"Authorization": f"Bearer {fleet.cabinet_token}"}
    with TestClient(create_app(fleet.storage, max_wait_s=30, poll_s=0.02)) as client:
        for method, path, body, entity, entity_id, data in CHANGES_MADE:

            def change(method: str = method, path: str = path, body: dict[str, Any] = body) -> None:
                reply = client.request(method, path, json=body or None, headers=fleet.as_role(Role.OPERATOR))
                assert reply.status_code == 200, reply.text

            ops = held_poll(client, cabinet, change)
            assert [(op["entity"], op["id"], op["op"]) for op in ops] == [(entity, entity_id, "upsert")]
            assert data.items() <= ops[0]["data"].items()


def test_ok__a_notify_address_is_no_change_for_the_cabinets(sqlite_fleet: Fleet) -> None:
    cabinet = {"Authorization": f"Bearer {sqlite_fleet.cabinet_token}"}
    client = sqlite_fleet.client
    cursor = head_cursor(client, cabinet)
    reply = client.patch(
        "/v1/admin/staff/demo-anna", json={"notify": "+8613800138000"}, headers=sqlite_fleet.as_role(Role.OPERATOR)
    )
    assert reply.json()["notify"] == "+8613800138000"
    assert client.get(CHANGES, params={"cursor": cursor}, headers=cabinet).json()["ops"] == []


async def test_ok__a_cabinet_replica_applies_a_change_made_in_the_admin_api(
    sqlite_fleet: Fleet, tmp_path: Path
) -> None:
    state_dir = tmp_path / "cabinet"
    state_dir.mkdir()
    cloudharness.write_token(state_dir / "cloud.token", sqlite_fleet.cabinet_token)
    ledger = open_ledger(state_dir, "sim-1")
    app = create_app(sqlite_fleet.storage, max_wait_s=5, poll_s=0.02)
    config = cabinet_config(state_dir, "http://cloud.test")
    try:
        transport = httpx.ASGITransport(app=app)
        await run_until(
            client_for(config, ledger, transport=transport),
            lambda: ledger.staff_by_badge("0001715004", "decimal") is not None,
        )

        async def change() -> None:
            await asyncio.sleep(0.1)
            async with httpx.AsyncClient(transport=transport, base_url="http://cloud.test") as admin:
                body = {"name": "Anna Li-Wang", "work_type": "stock-taking"}
                reply = await admin.patch(
                    "/v1/admin/staff/demo-anna", json=body, headers=sqlite_fleet.as_role(Role.ADMIN)
                )
                assert reply.status_code == 200, reply.text

        def applied() -> bool:
            anna = ledger.staff_by_badge("0001715004", "decimal")
            return anna is not None and (anna.name, anna.work_type) == ("Anna Li-Wang", "stock-taking")

        changing = asyncio.create_task(change())
        await run_until(client_for(config, ledger, transport=transport), applied)
        await changing
    finally:
        ledger.close()
