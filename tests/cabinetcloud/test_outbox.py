"""The outbox against a real HTTP receiver on loopback: signatures verified with the standardwebhooks
library, the retry schedule, Retry-After, 410, redirects, leases, and unsafe addresses."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from cabinetcloud import schema
from cabinetcloud.outbox import endpoints, netguard, publish, queue, worker
from cabinetcloud.storage import Storage
from testbed.receivers import Reply, WebhookReceiver, webhook_receiver

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def make_store(storage: Storage, store: str = "north") -> None:
    with storage.writing() as conn:
        conn.execute(sa.insert(schema.stores).values(id=store, name=store.title()))


def make_webhook(
    storage: Storage, url: str, *, store: str = "north", name: str = "repairs", **extra: Any
) -> endpoints.Issued:
    values = {"store": store, "name": name, "kind": "webhook", "url": url, "allow_private": True, **extra}
    with storage.writing() as conn:
        return endpoints.create(conn, values, T0)


def publish_one(
    storage: Storage, key: str = "e1", store: str = "north", event_type: str = "repair_ticket.opened"
) -> None:
    with storage.writing() as conn:
        publish.publish(storage, conn, store, event_type, {"ticket_id": key}, key, T0)


def deliveries(storage: Storage) -> list[Any]:
    with storage.reading() as conn:
        return conn.execute(sa.select(schema.deliveries).order_by(schema.deliveries.c.id)).all()


def attempts(storage: Storage) -> list[Any]:
    with storage.reading() as conn:
        table = schema.delivery_attempts
        return conn.execute(sa.select(table).order_by(table.c.delivery_id, table.c.number)).all()


def run(storage: Storage, at: datetime, **kw: Any) -> int:
    return worker.run_once(storage, at, timeout_s=kw.pop("timeout_s", 1.0), **kw)


@pytest.fixture
def store(storage: Storage) -> Storage:
    make_store(storage)
    return storage


def test_a_receiver_that_fails_times_out_and_comes_back_gets_it_once(store: Storage) -> None:
    script = [Reply(500, body=b"down"), Reply(200, delay_s=2.0), Reply(200)]
    with webhook_receiver(script=script) as receiver:
        issued = make_webhook(store, receiver.url)
        receiver.secret = issued.secret
        publish_one(store)
        assert run(store, T0) == 1
        first = deliveries(store)[0]
        assert first.status == "pending"
        assert first.last_status == 500
        # 5 s later, spread by a tenth either way.
        assert timedelta(seconds=4.5) <= first.next_attempt_at - T0 <= timedelta(seconds=5.5)
        assert run(store, T0 + timedelta(seconds=3)) == 0, "not due yet"
        assert run(store, T0 + timedelta(seconds=6), timeout_s=0.5) == 1
        second = deliveries(store)[0]
        assert second.status == "pending"
        assert "no answer within 0.5 s" in second.last_error
        assert timedelta(minutes=4.5) <= second.next_attempt_at - (T0 + timedelta(seconds=6)) <= timedelta(minutes=5.5)
        assert run(store, T0 + timedelta(minutes=6)) == 1
    done = deliveries(store)[0]
    assert done.status == "delivered"
    assert done.attempts == 3
    assert [a.outcome for a in attempts(store)] == ["retry", "retry", "delivered"]
    assert all(a.duration_ms is not None for a in attempts(store))
    assert [r.verified for r in receiver.received] == [True, True, True], [r.error for r in receiver.received]
    assert {r.headers["webhook-id"] for r in receiver.received} == {done.message_id}
    # The slow answer was 200, so the receiver holds it once: it deduplicates on webhook-id.
    assert list(receiver.accepted) == [done.message_id]
    assert receiver.accepted[done.message_id]["type"] == "repair_ticket.opened"


def test_retry_after_is_honoured(store: Storage) -> None:
    with webhook_receiver(script=[Reply(429, headers={"Retry-After": "120"})]) as receiver:
        make_webhook(store, receiver.url)
        publish_one(store)
        run(store, T0)
    row = deliveries(store)[0]
    assert row.status == "pending"
    assert row.next_attempt_at == T0 + timedelta(seconds=120)


def test_a_receiver_answering_410_is_disabled_and_raises_an_alarm(store: Storage) -> None:
    with webhook_receiver(default=Reply(410)) as gone, webhook_receiver() as watcher:
        issued = make_webhook(store, gone.url)
        make_webhook(store, watcher.url, name="ops", event_types=["alarm.raised"])
        publish_one(store, "a")
        publish_one(store, "b")
        run(store, T0, limit=1)
        assert run(store, T0) >= 1  # the alarm.raised for the ops endpoint
        run(store, T0)
    with store.reading() as conn:
        endpoint = endpoints.get(conn, issued.endpoint["id"])
        alarms = conn.execute(sa.select(schema.cloud_alarms)).all()
    assert not endpoint.active
    assert "410" in endpoint.disabled_reason
    assert [r.status for r in deliveries(store) if r.endpoint_id == issued.endpoint["id"]] == ["held", "held"]
    assert [a.alarm for a in alarms] == ["endpoint_gone"]
    assert [json.loads(r.body)["data"]["alarm"] for r in watcher.received] == ["endpoint_gone"]
    assert len(gone.received) == 1, "the second delivery is held, not sent to a receiver that went away"


def test_redirects_are_not_followed(store: Storage) -> None:
    with webhook_receiver(script=[Reply(302, headers={"Location": "/elsewhere"})]) as receiver:
        make_webhook(store, receiver.url)
        publish_one(store)
        run(store, T0)
    assert [r.path for r in receiver.received] == ["/hooks"]
    row = deliveries(store)[0]
    assert row.status == "pending"
    assert "redirects are not followed" in row.last_error


def test_every_secret_signs_while_a_key_is_rotated(store: Storage) -> None:
    with webhook_receiver() as receiver:
        issued = make_webhook(store, receiver.url)
        with store.writing() as conn:
            rotated = endpoints.rotate_secret(conn, issued.endpoint["id"], drop_old=False)
        publish_one(store)
        run(store, T0)
    came = receiver.received[0]
    assert len(came.headers["webhook-signature"].split(" ")) == 2
    for secret in (issued.secret, rotated.secret):
        assert secret is not None
        assert WebhookReceiver(secret)._verify(came.body, came.headers)[0]


def test_a_worker_that_died_mid_send_leaves_a_lease_that_runs_out(store: Storage) -> None:
    with webhook_receiver() as receiver:
        make_webhook(store, receiver.url)
        publish_one(store)
        assert len(queue.claim(store, T0, 10)) == 1  # and then the worker is gone
        assert run(store, T0 + timedelta(seconds=30)) == 0, "leased to the dead worker until the lease ends"
        assert run(store, T0 + queue.LEASE + timedelta(seconds=1)) == 1
    assert [(a.number, a.outcome) for a in attempts(store)] == [(1, "interrupted"), (2, "delivered")]
    assert deliveries(store)[0].status == "delivered"
    assert len(receiver.received) == 1


def test_publishing_the_same_cause_twice_sends_once(store: Storage) -> None:
    with webhook_receiver() as receiver:
        make_webhook(store, receiver.url)
        publish_one(store, "same")
        publish_one(store, "same")
        run(store, T0)
    assert len(deliveries(store)) == 1
    assert len(receiver.received) == 1


def test_an_endpoint_on_a_private_address_is_refused_unless_allowed(store: Storage) -> None:
    with webhook_receiver() as receiver:
        with store.writing() as conn, pytest.raises(endpoints.EndpointError, match="loopback address"):
            endpoints.create(conn, {"store": "north", "name": "x", "kind": "webhook", "url": receiver.url}, T0)
        issued = make_webhook(store, receiver.url)
        # Allowed when it was saved, refused at send time once the operator takes the allowance back: the
        # check runs on the address the socket connects to.
        with store.writing() as conn:
            conn.execute(sa.update(schema.endpoints).values(allow_private=False))
        publish_one(store)
        run(store, T0)
    assert receiver.received == []
    row = deliveries(store)[0]
    assert row.status == "failed"
    assert "loopback" in row.last_error
    assert issued.endpoint["allow_private"]


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("172.16.5.4", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("100.64.0.1", "shared (carrier-grade NAT)"),
        ("::ffff:10.0.0.1", "private"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("93.184.216.34", None),
        ("2606:2800:220:1:248:1893:25c8:1946", None),
    ],
)
def test_unsafe_addresses(address: str, reason: str | None) -> None:
    assert netguard.unsafe_reason(address) == reason


def test_only_http_urls_are_webhooks() -> None:
    for url, words in [
        ("ftp://example.org/x", "scheme"),
        ("https:///x", "names no host"),
        ("https://u:p@1.1.1.1/", "user name"),
    ]:
        with pytest.raises(netguard.UnsafeAddress, match=words):
            netguard.check_url(url, allow_private=False)
