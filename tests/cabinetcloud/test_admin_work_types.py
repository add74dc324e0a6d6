"""`/v1/admin/work-types`, `/v1/admin/device-models` and `/v1/admin/slot-types`: fleet-wide entries,
changed by admins and operators, deleted only when nothing refers to them."""

from __future__ import annotations

from typing import Any

from cabinetcloud.operators import Role
from tests.cabinetcloud.operators_rig import Fleet, fleet, sqlite_fleet

__all__ = ["fleet", "sqlite_fleet"]

INVENTORY: dict[str, Any] = {
    "id": "inventory",
    "name": {"en": "Inventory", "zh-CN": "库存"},
    "apps": [{"package": "com.example.store.inventory", "version": "2.0.0"}],
    "battery_threshold": 50,
    "rental_limit_minutes": 120,
    "device_models": ["pda-r1"],
}


def test_ok__a_work_type_is_created_changed_and_deleted_each_audited(fleet: Fleet) -> None:
    client, operator = fleet.client, fleet.as_role(Role.OPERATOR)
    made = client.post("/v1/admin/work-types", json=INVENTORY, headers=operator)
    assert made.status_code == 201, made.text
    assert made.json() == {**INVENTORY, "name": "Inventory", "names": INVENTORY["name"], "device_limit": 1}
    changed = client.patch(
        "/v1/admin/work-types/inventory",
        json={"device_models": ["pda-r1", "pda-s1"], "name": "Stock"},
        headers=operator,
    )
    assert (changed.json()["device_models"], changed.json()["name"], changed.json()["names"]) == (
        ["pda-r1", "pda-s1"],
        "Stock",
        {},
    )
    in_use = client.delete("/v1/admin/work-types/picking", headers=operator)
    assert (in_use.status_code, in_use.json()) == (
        409,
        {
            "code": "conflict",
            "detail": "work type 'picking' is the work type of staff 'demo-bo', 'demo-tech', 'north-erik'",
        },
    )
    assert client.delete("/v1/admin/work-types/inventory", headers=operator).status_code == 204
    assert client.get("/v1/admin/work-types/inventory", headers=operator).status_code == 404
    audit = client.get(
        "/v1/admin/audit", params={"resource": "work_type", "resource_id": "inventory"}, headers=operator
    ).json()["events"]
    assert [(e["action"], e["before"] is None, e["after"] is None) for e in audit] == [
        ("delete", False, True),
        ("update", False, False),
        ("create", True, False),
    ]
    assert (audit[1]["before"]["name"], audit[1]["after"]["name"]) == ("Inventory", "Stock")


def test_fail__a_work_type_refers_to_known_models_only(sqlite_fleet: Fleet) -> None:
    client, admin = sqlite_fleet.client, sqlite_fleet.as_role(Role.ADMIN)
    reply = client.post("/v1/admin/work-types", json={**INVENTORY, "device_models": ["pda-x"]}, headers=admin)
    assert (reply.status_code, reply.json()["detail"]) == (
        404,
        "body.device_models[0]: no device model 'pda-x' (defined: pda-a1, pda-r1, pda-s1)",
    )
    reply = client.post("/v1/admin/work-types", json={**INVENTORY, "name": {"zh_CN": "库存"}}, headers=admin)
    assert (reply.status_code, reply.json()["detail"]) == (
        422,
        "body.name: language tag 'zh_CN' is not of the form 'en', 'zh-CN' or 'zh-Hans'",
    )
    twice = client.post("/v1/admin/work-types", json={**INVENTORY, "id": "picking"}, headers=admin)
    assert (twice.status_code, twice.json()["detail"]) == (409, "work type 'picking' already exists")
    viewer = client.patch(
        "/v1/admin/work-types/picking", json={"device_limit": 2}, headers=sqlite_fleet.as_role(Role.VIEWER)
    )
    assert (viewer.status_code, viewer.json()["detail"]) == (403, "role viewer may not change the fleet")


def test_ok__device_models_and_the_slot_types_in_use(sqlite_fleet: Fleet) -> None:
    client, operator = sqlite_fleet.client, sqlite_fleet.as_role(Role.OPERATOR)
    made = client.post(
        "/v1/admin/device-models", json={"id": "pda-t1", "name": "Tablet T1", "slot_type": "tablet"}, headers=operator
    )
    assert made.json() == {"id": "pda-t1", "name": "Tablet T1", "names": {}, "slot_type": "tablet", "link": "aoa-agent"}
    slot_types = client.get("/v1/admin/slot-types", headers=sqlite_fleet.as_role(Role.STORE_MANAGER)).json()
    assert slot_types == [
        {"slot_type": "pda-rugged", "device_models": ["pda-a1", "pda-r1"]},
        {"slot_type": "pda-standard", "device_models": ["pda-s1"]},
        {"slot_type": "tablet", "device_models": ["pda-t1"]},
    ]
    moved = client.patch("/v1/admin/device-models/pda-t1", json={"slot_type": "pda-rugged"}, headers=operator)
    assert moved.json()["slot_type"] == "pda-rugged"
    in_use = client.delete("/v1/admin/device-models/pda-s1", headers=operator)
    assert (in_use.status_code, in_use.json()["detail"]) == (
        409,
        "device model 'pda-s1' is still used by work types 'picking', 'price-tags' and devices 'S1-0001', "
        "'S1-0002', 'S1-0003', 'S1-0101'",
    )
    assert client.delete("/v1/admin/device-models/pda-t1", headers=operator).status_code == 204
    models = client.get("/v1/admin/device-models", headers=operator).json()
    assert [m["id"] for m in models] == ["pda-a1", "pda-r1", "pda-s1"]
