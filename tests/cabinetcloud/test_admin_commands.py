"""`/v1/admin/cabinets/{id}/commands` and `/slots`: commands checked against the cabinet's slots by
the CLI's own check, delivered to the cabinet, closed by its command_result, each queue audited."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cabinetcloud import auth
from cabinetcloud.__main__ import main
from cabinetcloud.operators import Role
from cabinetd.ledger import Ledger
from testbed import cloudharness
from tests.cabinetcloud.operators_rig import Fleet, fleet, serving
from tests.cabinetcloud.test_ingest import session, upload

__all__ = ["fleet"]

COMMANDS = "/v1/admin/cabinets/sim-1/commands"


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """One fleet for the refusals, which change nothing."""
    storage = cloudharness.migrated(f"sqlite:///{tmp_path_factory.mktemp('commands') / 'cloud.db'}")
    yield from serving(storage)
    storage.dispose()


def test_ok__a_command_is_queued_delivered_and_its_result_visible(fleet: Fleet, ledger: Ledger) -> None:
    client, manager = fleet.client, fleet.as_role(Role.STORE_MANAGER)
    body = {"kind": "disable_slot", "args": {"slot": 7, "reason": "door hinge"}, "expires_in_minutes": 30}
    queued = client.post(COMMANDS, json=body, headers=manager)
    assert queued.status_code == 201, queued.text
    command = queued.json()
    assert (command["status"], command["cabinet"], command["args"]) == ("pending", "sim-1", body["args"])
    cabinet = {"Authorization": f"Bearer {fleet.cabinet_token}"}
    fetched = client.get("/v1/cabinets/sim-1/commands", headers=cabinet).json()
    assert [c["command_id"] for c in fetched] == [command["command_id"]]
    one = f"{COMMANDS}/{command['command_id']}"
    assert client.get(one, headers=manager).json()["status"] == "delivered"
    ledger.append(
        "command_result",
        {"command_id": command["command_id"], "kind": "disable_slot", "ok": False, "detail": "slot 7 is dispensing"},
    )
    cloud = fleet.client
    cloud.headers["Authorization"] = cabinet["Authorization"]
    try:
        session(cloud, ledger)
        upload(cloud, cloudharness.wire_events(ledger))
    finally:
        del cloud.headers["Authorization"]
    done = client.get(one, headers=manager).json()
    assert (done["status"], done["result_detail"], done["result_at"] is not None) == (
        "failed",
        "slot 7 is dispensing",
        True,
    )
    assert [c["command_id"] for c in client.get(COMMANDS, headers=fleet.as_role(Role.VIEWER)).json()] == [
        command["command_id"]
    ]
    audit = client.get("/v1/admin/audit", params={"resource": "command"}, headers=fleet.as_role(Role.ADMIN)).json()
    assert [(e["actor"], e["action"], e["resource_id"]) for e in audit["events"]] == [
        ("mia", "queue", command["command_id"])
    ]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (
            {"kind": "reboot"},
            "body.kind: unknown command kind 'reboot' (known: unlock_slot, disable_slot, enable_slot, "
            "power_cycle_port, reprovision, offer_update)",
        ),
        ({"kind": "unlock_slot"}, "body.args.slot: command unlock_slot: missing slot"),
        (
            {"kind": "unlock_slot", "args": {"slot": 9}},
            "body.args.slot: command unlock_slot: cabinet 'sim-1' has no slot 9 (its slots: 1-8)",
        ),
        (
            {"kind": "unlock_slot", "args": {"slot": "3"}},
            "body.args.slot: command unlock_slot: slot must be a whole number, got '3'",
        ),
        (
            {"kind": "enable_slot", "args": {"slot": 3, "reason": "x"}},
            "body.args.reason: command enable_slot: takes slot, not 'reason'",
        ),
        (
            {"kind": "disable_slot", "args": {"slot": 3, "reason": 5}},
            "body.args.reason: command disable_slot: reason must be text, got 5",
        ),
    ],
)
def test_fail__a_bad_command_is_refused_naming_the_argument(shared: Fleet, body: dict[str, Any], detail: str) -> None:
    reply = shared.client.post(COMMANDS, json=body, headers=shared.as_role(Role.OPERATOR))
    assert (reply.status_code, reply.json()) == (422, {"code": "invalid", "detail": detail})
    assert shared.client.get(COMMANDS, headers=shared.as_role(Role.OPERATOR)).json() == []


def test_ok__who_may_command_and_set_slots(shared: Fleet) -> None:
    client = shared.client
    body = {"kind": "unlock_slot", "args": {"slot": 1}}
    viewer = client.post(COMMANDS, json=body, headers=shared.as_role(Role.VIEWER))
    assert (viewer.status_code, viewer.json()["detail"]) == (403, "role viewer may not queue remote commands")
    manager_slots = client.put(
        "/v1/admin/cabinets/sim-1/slots", json={"slots": 4}, headers=shared.as_role(Role.STORE_MANAGER)
    )
    assert manager_slots.status_code == 403
    with shared.storage.writing() as conn:
        auth.enroll(conn, "n-1", "north")
    other = client.post("/v1/admin/cabinets/n-1/commands", json=body, headers=shared.as_role(Role.STORE_MANAGER))
    assert (other.status_code, other.json()["detail"]) == (404, "cabinet 'n-1' is not known")
    unset = client.post("/v1/admin/cabinets/n-1/commands", json=body, headers=shared.as_role(Role.OPERATOR))
    assert (unset.status_code, unset.json()["detail"]) == (
        422,
        "body.args.slot: cabinet 'n-1' has no slots set: set them first "
        "(PUT /v1/admin/cabinets/n-1/slots, or slots in the seed file)",
    )
    slots = client.put(
        "/v1/admin/cabinets/n-1/slots", json={"slots": [1, 2, 11]}, headers=shared.as_role(Role.OPERATOR)
    )
    assert slots.json() == {"cabinet": "n-1", "slots": [1, 2, 11]}
    far = client.post(
        "/v1/admin/cabinets/n-1/commands", json={**body, "args": {"slot": 5}}, headers=shared.as_role(Role.OPERATOR)
    )
    assert (
        far.json()["detail"] == "body.args.slot: command unlock_slot: cabinet 'n-1' has no slot 5 (its slots: 1-2, 11)"
    )
    assert (
        client.post("/v1/admin/cabinets/n-1/commands", json=body, headers=shared.as_role(Role.OPERATOR)).status_code
        == 201
    )


def test_fail__the_cli_goes_through_the_same_check(shared: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["command", "--db", shared.storage.url, "--cabinet", "sim-1", "unlock_slot", "slot=9"]) == 1
    assert (
        capsys.readouterr().err
        == "cabinet-cloud: command unlock_slot: cabinet 'sim-1' has no slot 9 (its slots: 1-8)\n"
    )
