"""Endpoints and deliveries in the operators' API: made by admins and operators, read by store, secrets
shown once, a test message sent at once, every delivery listed with its attempts, retried by an operator."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from standardwebhooks import Webhook

from cabinetcloud import schema
from cabinetcloud.operators import Role
from testbed.receivers import Reply, webhook_receiver
from tests.cabinetcloud.operators_rig import Fleet, fleet, sqlite_fleet

__all__ = ["fleet", "sqlite_fleet"]  # fixtures


def _create(fleet: Fleet, url: str, role: Role = Role.OPERATOR, **extra: object) -> dict:  # type: ignore[type-arg]
    body = {"store": "demo", "name": "repairs", "kind": "webhook", "url": url, "allow_private": True, **extra}
    reply = fleet.client.post("/v1/admin/endpoints", json=body, headers=fleet.as_role(role))
    assert reply.status_code == 201, reply.text
    return reply.json()  # type: ignore[no-any-return]


def test_an_operator_makes_an_endpoint_and_its_secret_is_shown_once(fleet: Fleet) -> None:
    with webhook_receiver() as receiver:
        made = _create(fleet, receiver.url)
        assert made["secret"].startswith("whsec_")
        assert made["callback_token"].startswith("rcb1_")
        endpoint_id = made["endpoint"]["id"]
        shown = fleet.client.get(f"/v1/admin/endpoints/{endpoint_id}", headers=fleet.as_role(Role.VIEWER)).json()
        assert "secret" not in shown
        assert shown["signing_secrets"] == 1
        receiver.secret = made["secret"]
        tested = fleet.client.post(f"/v1/admin/endpoints/{endpoint_id}/test", headers=fleet.as_role(Role.ADMIN))
    assert tested.status_code == 200, tested.text
    assert tested.json()["status"] == "delivered"
    came = receiver.received[0]
    assert came.verified
    assert Webhook(made["secret"]).verify(came.body, came.headers)["type"] == "endpoint.test"
    with fleet.storage.reading() as conn:
        actions = [
            row.action
            for row in conn.execute(sa.select(schema.audit_events).where(schema.audit_events.c.resource == "endpoint"))
        ]
    assert actions == ["create", "test"]


def test_a_failed_test_message_says_why_and_is_not_retried(fleet: Fleet) -> None:
    with webhook_receiver(default=Reply(503, body=b"maintenance")) as receiver:
        endpoint_id = _create(fleet, receiver.url)["endpoint"]["id"]
        tested = fleet.client.post(
            f"/v1/admin/endpoints/{endpoint_id}/test", headers=fleet.as_role(Role.OPERATOR)
        ).json()
    assert tested["status"] == "failed"
    assert tested["last_status"] == 503
    assert "maintenance" in tested["detail"]
    assert "not retried" in tested["detail"]


def test_who_may_set_up_endpoints(fleet: Fleet) -> None:
    body = {"store": "demo", "name": "x", "kind": "webhook", "url": "https://93.184.216.34/hook"}
    for role in (Role.VIEWER, Role.STORE_MANAGER):
        reply = fleet.client.post("/v1/admin/endpoints", json=body, headers=fleet.as_role(role))
        assert reply.status_code == 403, role
    made = _create(fleet, "https://93.184.216.34/hook", allow_private=False, store="north", name="north-hook")
    manager = fleet.client.get("/v1/admin/endpoints", headers=fleet.as_role(Role.STORE_MANAGER)).json()
    assert made["endpoint"]["id"] not in [e["id"] for e in manager]
    hidden = fleet.client.get(
        f"/v1/admin/endpoints/{made['endpoint']['id']}", headers=fleet.as_role(Role.STORE_MANAGER)
    )
    assert hidden.status_code == 404


@pytest.mark.parametrize(
    ("url", "code", "words"),
    [
        ("http://127.0.0.1:9/hook", "unsafe_url", "loopback"),
        ("http://169.254.169.254/latest/meta-data", "unsafe_url", "link-local"),
        ("http://10.0.0.7/hook", "unsafe_url", "private"),
        ("file:///etc/passwd", "unsafe_url", "scheme"),
    ],
)
def test_unsafe_urls_are_refused_when_saved(sqlite_fleet: Fleet, url: str, code: str, words: str) -> None:
    body = {"store": "demo", "name": "bad", "kind": "webhook", "url": url}
    reply = sqlite_fleet.client.post("/v1/admin/endpoints", json=body, headers=sqlite_fleet.as_role(Role.ADMIN))
    assert reply.status_code == 422
    assert reply.json()["code"] == code
    assert words in reply.json()["detail"]


def test_an_unknown_channel_url_is_refused(sqlite_fleet: Fleet) -> None:
    body = {"store": "demo", "name": "chat", "kind": "channel", "url": "nosuchchat://abc"}
    reply = sqlite_fleet.client.post("/v1/admin/endpoints", json=body, headers=sqlite_fleet.as_role(Role.ADMIN))
    assert reply.status_code == 422
    assert "Apprise" in reply.json()["detail"]


def test_deliveries_are_listed_with_attempts_and_retried(fleet: Fleet) -> None:
    with webhook_receiver(default=Reply(410)) as receiver:
        endpoint_id = _create(fleet, receiver.url)["endpoint"]["id"]
        fleet.client.post(f"/v1/admin/endpoints/{endpoint_id}/test", headers=fleet.as_role(Role.OPERATOR))
    listed = fleet.client.get(
        "/v1/admin/deliveries", params={"store": "demo"}, headers=fleet.as_role(Role.VIEWER)
    ).json()
    assert [d["status"] for d in listed["deliveries"]] == ["held"]
    delivery_id = listed["deliveries"][0]["id"]
    detail = fleet.client.get(f"/v1/admin/deliveries/{delivery_id}", headers=fleet.as_role(Role.STORE_MANAGER)).json()
    assert [(a["number"], a["outcome"], a["status_code"]) for a in detail["attempt_log"]] == [(1, "gone", 410)]
    assert detail["payload"]["type"] == "endpoint.test"
    endpoint = fleet.client.get(f"/v1/admin/endpoints/{endpoint_id}", headers=fleet.as_role(Role.VIEWER)).json()
    assert endpoint["active"] is False
    assert "410" in endpoint["disabled_reason"]
    assert (
        fleet.client.post(f"/v1/admin/deliveries/{delivery_id}/retry", headers=fleet.as_role(Role.VIEWER)).status_code
        == 403
    )
    again = fleet.client.post(f"/v1/admin/deliveries/{delivery_id}/retry", headers=fleet.as_role(Role.OPERATOR))
    assert again.status_code == 200
    assert again.json()["status"] == "pending"
    twice = fleet.client.post(f"/v1/admin/deliveries/{delivery_id}/retry", headers=fleet.as_role(Role.OPERATOR))
    assert twice.status_code == 409


def test_a_stores_notice_settings(fleet: Fleet) -> None:
    url = "/v1/admin/stores/demo/notices"
    assert fleet.client.get(url, headers=fleet.as_role(Role.STORE_MANAGER)).json()["timezone"] == "UTC"
    body = {"timezone": "Asia/Shanghai", "languages": ["zh-CN", "en"], "quiet_start": "22:00", "quiet_end": "07:00"}
    assert fleet.client.put(url, json=body, headers=fleet.as_role(Role.VIEWER)).status_code == 403
    put = fleet.client.put(url, json=body, headers=fleet.as_role(Role.OPERATOR))
    assert put.status_code == 200, put.text
    assert put.json()["languages"] == ["zh-CN", "en"]
    assert fleet.client.get(url, headers=fleet.as_role(Role.VIEWER)).json()["quiet_end"] == "07:00"
    bad = fleet.client.put(url, json={"timezone": "Mars/Base"}, headers=fleet.as_role(Role.OPERATOR))
    assert bad.status_code == 422
    assert "IANA" in bad.json()["detail"]
    other = fleet.client.get("/v1/admin/stores/north/notices", headers=fleet.as_role(Role.STORE_MANAGER))
    assert other.status_code == 404
