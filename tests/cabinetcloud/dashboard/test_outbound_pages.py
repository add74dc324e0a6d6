"""The endpoints and deliveries pages: an operator adds a store's webhook through the form and sees its
secrets once, sends it a test event that a real receiver on loopback verifies, turns it off and on,
rotates its secret; every delivery is listed with its attempts, next try and last answer, one
delivery shows its attempt log and payload, and a failed one is retried from its page. A viewer sees
the same lists without a single control, and the store-manager only their store's."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from standardwebhooks import Webhook

from cabinetcloud.operators import Role
from testbed.receivers import Reply, webhook_receiver
from tests.cabinetcloud.dashboard.rig import Fleet, hidden, sign_in
from tests.cabinetcloud.dashboard.test_fleet_pages import cells


def _add(client: TestClient, csrf: str, url: str, store: str = "demo") -> tuple[int, str, str]:
    """Add a webhook through the form: its id, signing secret and repair callback token, from the page."""
    form = {
        "csrf_token": csrf,
        "store": store,
        "name": "repairs",
        "kind": "webhook",
        "url": url,
        "purpose": "events",
        "allow_private": "1",
        "event_types": ["repair_ticket.opened", "repair_ticket.updated"],
    }
    page = client.post("/dashboard/endpoints/new", data=form)
    assert page.status_code == 200, page.text
    secret = re.search(r'id="secret" class="secret">(whsec_[^<]+)<', page.text)
    token = re.search(r'id="callback-token" class="secret">(rcb1_[^<]+)<', page.text)
    back = re.search(r'href="/dashboard/endpoints#endpoint-(\d+)"', page.text)
    assert secret, page.text
    assert token, page.text
    assert back, page.text
    return int(back.group(1)), secret.group(1), token.group(1)


def test_ok__an_operator_adds_an_endpoint_and_sends_it_a_test_event(fleet: Fleet) -> None:
    client = fleet.client()
    csrf = sign_in(client, Role.OPERATOR)
    with webhook_receiver() as receiver:
        endpoint_id, secret, _ = _add(client, csrf, receiver.url)
        receiver.secret = secret
        listed = client.get("/dashboard/endpoints").text
        assert secret not in listed
        row = cells(listed, "endpoints")[0]
        assert row[:3] == ["repairs", "demo", "Webhook (signed)"]
        assert "repair_ticket.opened" in row[4]
        tested = client.post(f"/dashboard/endpoints/{endpoint_id}/test", data={"csrf_token": csrf})
    assert tested.status_code == 200
    assert re.search(r'id="test-status"[^>]*>delivered<', tested.text)
    assert re.search(r'id="test-http">204<', tested.text)
    came = receiver.received[0]
    assert came.verified
    assert Webhook(secret).verify(came.body, came.headers)["type"] == "endpoint.test"


def test_ok__an_endpoint_is_turned_off_and_on_and_its_secret_rotated(fleet: Fleet) -> None:
    client = fleet.client("zh-CN")
    csrf = sign_in(client, Role.ADMIN)
    endpoint_id, secret, _ = _add(client, csrf, "https://repairs.example.com/hook")
    off = client.post(f"/dashboard/endpoints/{endpoint_id}/active", data={"csrf_token": csrf, "active": "0"})
    assert off.status_code == 200
    assert cells(off.text, "endpoints")[0][6] == "已停用 disabled by an operator"
    on = client.post(f"/dashboard/endpoints/{endpoint_id}/active", data={"csrf_token": csrf, "active": "1"})
    assert cells(on.text, "endpoints")[0][6] == "启用"
    rotated = client.post(f"/dashboard/endpoints/{endpoint_id}/rotate", data={"csrf_token": csrf})
    new = re.search(r'id="secret" class="secret">(whsec_[^<]+)<', rotated.text)
    assert new is not None
    assert new.group(1) != secret
    assert "新旧密钥都接受" in rotated.text
    assert 'id="callback-token"' not in rotated.text


def test_fail__a_private_address_without_the_box_ticked_is_refused_naming_it(fleet: Fleet) -> None:
    client = fleet.client()
    csrf = sign_in(client, Role.OPERATOR)
    form = {"csrf_token": csrf, "store": "demo", "name": "inside", "kind": "webhook", "url": "http://127.0.0.1:9/x"}
    refused = client.post("/dashboard/endpoints/new", data=form)
    assert refused.status_code == 422
    assert "127.0.0.1" in refused.text
    assert cells(client.get("/dashboard/endpoints").text, "endpoints") == [["No endpoint is configured."]]
    wrong = client.post("/dashboard/endpoints/new", data={**form, "kind": "carrier-pigeon"})
    assert wrong.status_code == 422
    assert "check kind" in wrong.text


def test_ok__deliveries_are_listed_with_their_attempts_and_a_failed_one_is_retried(fleet: Fleet) -> None:
    client = fleet.client()
    csrf = sign_in(client, Role.OPERATOR)
    with webhook_receiver(default=Reply(503, body=b"maintenance")) as receiver:
        endpoint_id, secret, _ = _add(client, csrf, receiver.url)
        receiver.secret = secret
        client.post(f"/dashboard/endpoints/{endpoint_id}/test", data={"csrf_token": csrf})
        listed = cells(client.get("/dashboard/deliveries").text, "deliveries")
        assert [(row[2], row[3], row[4]) for row in listed] == [("endpoint.test", "failed", "1")]
        assert listed[0][6].startswith("503")
        delivery_id = int(listed[0][0])
        page = client.get(f"/dashboard/deliveries/{delivery_id}").text
        assert [row[3] for row in cells(page, "attempts")] == ["503"]
        assert "&#34;type&#34;: &#34;endpoint.test&#34;" in page or '"type": "endpoint.test"' in page
        receiver.default = Reply(200)
        retried = client.post(f"/dashboard/deliveries/{delivery_id}/retry", data={"csrf_token": csrf})
    assert retried.status_code == 200
    assert re.search(r'id="delivery-status"><span class="flag">pending<', retried.text)
    only_failed = cells(client.get("/dashboard/deliveries?status=failed").text, "deliveries")
    assert only_failed == [["No delivery yet."]]
    assert client.get("/dashboard/deliveries?status=lost").status_code == 400
    assert client.get("/dashboard/deliveries/999999").status_code == 404


def test_ok__a_viewer_sees_no_control_and_the_store_manager_only_their_store(fleet: Fleet) -> None:
    operator = fleet.client()
    _add(operator, sign_in(operator, Role.OPERATOR), "https://repairs.example.com/hook")
    viewer = fleet.client()
    csrf = sign_in(viewer, Role.VIEWER)
    page = viewer.get("/dashboard/endpoints").text
    assert len(cells(page, "endpoints")) == 1
    assert 'method="post"' not in page.split("<main")[1]
    refused = viewer.post("/dashboard/endpoints/1/rotate", data={"csrf_token": csrf})
    assert refused.status_code == 403
    manager = fleet.client()
    sign_in(manager, Role.STORE_MANAGER)
    assert cells(manager.get("/dashboard/endpoints").text, "endpoints") == [["No endpoint is configured."]]
    assert manager.get("/dashboard/deliveries/1").status_code == 404
    assert hidden(page, "csrf_token") == csrf
