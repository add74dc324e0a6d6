"""The cloud's uplink endpoints: sessions, batches, dedup, contiguity, the chain, dead letters, forks."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from cabinetcloud import commands, schema
from cabinetcloud.storage import Storage
from cabinetd.ledger import Ledger
from cabinetproto.chain import GENESIS_HASH, event_hash
from cabinetproto.wire import CommandKind
from testbed import cloudharness


def session(cloud: TestClient, ledger: Ledger, **override: Any) -> dict[str, Any]:
    state = ledger.sync_state()
    body = {
        "epoch": state.epoch,
        "last_seq": state.last_seq,
        "last_hash": state.last_hash,
        "software_version": "test",
        "schema_version": state.schema_version,
        **override,
    }
    reply = cloud.post("/v1/cabinets/sim-1/session", json=body)
    assert reply.status_code == 200, reply.text
    result: dict[str, Any] = reply.json()
    return result


def upload(cloud: TestClient, events: list[dict[str, Any]], *, gzipped: bool = True) -> Any:
    body = json.dumps({"epoch": events[0]["epoch"], "from_seq": events[0]["seq"], "events": events}).encode()
    headers = {"Content-Type": "application/json"}
    if gzipped:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    return cloud.post("/v1/cabinets/sim-1/events", content=body, headers=headers)


def in_epoch(events: list[dict[str, Any]], epoch: str) -> list[dict[str, Any]]:
    """The same events sealed again as the start of another epoch (what the ledger does after a fork)."""
    moved: list[dict[str, Any]] = []
    prev = GENESIS_HASH
    for seq, event in enumerate(events, start=1):
        sealed = {**event, "epoch": epoch, "seq": seq, "prev_hash": prev}
        sealed["hash"] = prev = event_hash(prev, sealed)
        moved.append(sealed)
    return moved


def test_ok__batches_are_acknowledged_in_order(cloud: TestClient, ledger: Ledger, storage: Storage) -> None:
    cloudharness.fill_ledger(ledger, 700)
    assert session(cloud, ledger)["acked_seq"] == 0
    first = upload(cloud, cloudharness.wire_events(ledger, 0, 500))
    assert first.json() == {"acked_seq": 500, "duplicates": 0, "rejected": []}
    second = upload(cloud, cloudharness.wire_events(ledger, 500), gzipped=False)
    assert second.json() == {"acked_seq": 700, "duplicates": 0, "rejected": []}
    assert sorted(cloudharness.cloud_event_ids(storage)) == sorted(
        e["event_id"] for e in cloudharness.wire_events(ledger, 0, 700)
    )
    again = session(cloud, ledger)
    assert (again["status"], again["acked_seq"], again["acked_hash"]) == ("ok", 700, ledger.sync_state().last_hash)


def test_fail__a_batch_that_does_not_continue_gets_409_with_the_expected_seq(cloud: TestClient, ledger: Ledger) -> None:
    cloudharness.fill_ledger(ledger, 20)
    session(cloud, ledger)
    assert upload(cloud, cloudharness.wire_events(ledger, 0, 10)).status_code == 200
    for after in (0, 5, 12):  # a resend of what the cloud has, a gap
        reply = upload(cloud, cloudharness.wire_events(ledger, after, 3))
        assert reply.status_code == 409
        assert reply.json()["expected_seq"] == 11
        assert reply.json()["code"] == "seq_gap"


def test_ok__a_resend_in_a_new_epoch_is_counted_as_duplicates(
    cloud: TestClient, ledger: Ledger, storage: Storage
) -> None:
    cloudharness.fill_ledger(ledger, 10)
    session(cloud, ledger)
    events = cloudharness.wire_events(ledger, 0, 10)
    upload(cloud, events)
    # The same events under another epoch (what a cabinet does after a fork) are not kept twice.
    moved = [{**event, "epoch": "01ffffff-0000-7000-8000-000000000000"} for event in events]
    session(cloud, ledger, epoch=moved[0]["epoch"], last_seq=10)
    reply = upload(cloud, moved)
    assert reply.json() == {"acked_seq": 10, "duplicates": 10, "rejected": []}
    assert len(cloudharness.cloud_event_ids(storage)) == 10


def test_ok__a_poison_event_is_dead_lettered_and_the_rest_acknowledged(
    cloud: TestClient, ledger: Ledger, storage: Storage
) -> None:
    cloudharness.fill_ledger(ledger, 5)
    session(cloud, ledger)
    events = cloudharness.wire_events(ledger)
    events[1]["payload"]["technician"] = ""  # fails the payload model and breaks the hash
    events[3]["type"] = "no_such_event"
    reply = upload(cloud, events).json()
    assert reply["acked_seq"] == 5
    assert [(r["event_id"], r["code"]) for r in reply["rejected"]] == [
        (events[1]["event_id"], "bad_payload"),
        (events[3]["event_id"], "unknown_type"),
    ]
    assert reply["rejected"][1]["detail"] == "event type 'no_such_event' is not known to this cloud"
    with storage.reading() as conn:
        kept = conn.execute(sa.select(sa.func.count()).select_from(schema.events)).scalar()
        raw = conn.execute(sa.select(schema.dead_letters.c.raw).order_by(schema.dead_letters.c.seq)).scalars().all()
    assert kept == 3
    assert json.loads(raw[0])["payload"]["technician"] == ""


@pytest.mark.parametrize(
    ("change", "code", "detail"),
    [
        ({"hash": "ab" * 32}, "bad_hash", "hash does not match the event's content"),
        ({"cabinet_id": "other"}, "wrong_cabinet", "event names cabinet 'other', uploaded by 'sim-1'"),
        ({"device": "x\x00y"}, "bad_field", "field 'device': not text of at most 128 characters"),
        ({"slot": 2**40}, "bad_field", "field 'slot': 1099511627776 is not a slot number"),
        (
            {"schema_version": 7},
            "unknown_schema_version",
            "event type 'technician_action' schema version 7: this cloud reads up to 1",
        ),
    ],
)
def test_fail__an_event_that_fails_a_check_is_dead_lettered_with_its_reason(
    cloud: TestClient, ledger: Ledger, change: dict[str, Any], code: str, detail: str
) -> None:
    cloudharness.fill_ledger(ledger, 2)
    session(cloud, ledger)
    events = cloudharness.wire_events(ledger)
    events[1].update(change)  # the last one: a changed hash would also break the next event's link
    reply = upload(cloud, events).json()
    assert reply["rejected"] == [{"event_id": events[1]["event_id"], "code": code, "detail": detail}]
    assert reply["acked_seq"] == 2


def test_fail__a_batch_that_does_not_chain_to_the_cloud_is_a_fork(cloud: TestClient, ledger: Ledger) -> None:
    cloudharness.fill_ledger(ledger, 4)
    session(cloud, ledger)
    events = cloudharness.wire_events(ledger)
    upload(cloud, events[:2])
    events[2]["prev_hash"] = "cd" * 32
    reply = upload(cloud, events[2:])
    assert reply.status_code == 409
    assert reply.json() == {
        "code": "fork",
        "detail": f"epoch {events[0]['epoch']}: seq 3 does not chain to the cloud's seq 2",
        "expected_seq": 3,
    }


def test_fail__a_batch_of_mixed_epochs_or_gaps_is_refused_whole(cloud: TestClient, ledger: Ledger) -> None:
    cloudharness.fill_ledger(ledger, 3)
    events = cloudharness.wire_events(ledger)
    reply = upload(cloud, [events[0], events[2]])
    assert reply.status_code == 400
    assert reply.json()["detail"] == "events[1]: seq 3, expected 2 (contiguous from from_seq)"


def test_fail__the_session_finds_a_fork(cloud: TestClient, ledger: Ledger) -> None:
    cloudharness.fill_ledger(ledger, 6)
    session(cloud, ledger)
    upload(cloud, cloudharness.wire_events(ledger))
    state = ledger.sync_state()
    behind = session(cloud, ledger, last_seq=4, last_hash="00" * 32)
    assert behind["status"] == "fork"
    assert behind["detail"] == f"the cloud holds seq 6 of epoch {state.epoch}; the cabinet's ledger ends at 4"
    assert behind["epochs"] == [{"epoch": state.epoch, "acked_seq": 6}]
    other = session(cloud, ledger, last_hash="ee" * 32)
    assert other["detail"] == f"the cabinet's hash at seq 6 of epoch {state.epoch} differs from the cloud's"
    later = in_epoch(cloudharness.wire_events(ledger, 0, 1), "01ffffff-0000-7000-8000-000000000001")
    session(cloud, ledger, epoch=later[0]["epoch"], last_seq=0, last_hash="")
    assert upload(cloud, later).json()["acked_seq"] == 1
    older = session(cloud, ledger)
    assert older["detail"] == "the cloud holds a later epoch 01ffffff-0000-7000-8000-000000000001 of this cabinet"


def test_ok__history_gives_back_kept_and_dead_lettered_events(cloud: TestClient, ledger: Ledger) -> None:
    cloudharness.fill_ledger(ledger, 5)
    session(cloud, ledger)
    events = cloudharness.wire_events(ledger)
    events[2]["type"] = "no_such_event"
    upload(cloud, events)
    epoch = events[0]["epoch"]
    page = cloud.get("/v1/cabinets/sim-1/events", params={"epoch": epoch, "after": 1, "limit": 3}).json()
    assert ([e["seq"] for e in page["events"]], page["complete"]) == ([2, 3, 4], False)
    assert page["events"][1]["type"] == "no_such_event"
    rest = cloud.get("/v1/cabinets/sim-1/events", params={"epoch": epoch, "after": 4}).json()
    assert ([e["seq"] for e in rest["events"]], rest["complete"]) == ([5], True)


def test_ok__clock_skew_is_flagged_and_nothing_is_refused_for_its_time(
    cloud: TestClient, ledger: Ledger, storage: Storage
) -> None:
    cloudharness.fill_ledger(ledger, 3)
    events = cloudharness.wire_events(ledger)
    events = [{**e} for e in events]
    session(cloud, ledger, cabinet_time="1970-01-01T00:00:10+00:00")
    with storage.reading() as conn:
        row = conn.execute(sa.select(schema.cabinets).where(schema.cabinets.c.id == "sim-1")).one()
    assert row.skew_flagged
    assert row.skew_s > 50 * 365 * 86400
    assert upload(cloud, events).json()["rejected"] == []


def test_ok__a_command_result_closes_the_command(cloud: TestClient, ledger: Ledger, storage: Storage) -> None:
    with storage.writing() as conn:
        queued = commands.queue(conn, "sim-1", CommandKind.DISABLE_SLOT, {"slot": 2}, timedelta(minutes=5))
    listed = cloud.get("/v1/cabinets/sim-1/commands").json()
    assert [c["command_id"] for c in listed] == [queued.command_id]
    ledger.append("command_result", {"command_id": queued.command_id, "kind": "disable_slot", "ok": True})
    session(cloud, ledger)
    upload(cloud, cloudharness.wire_events(ledger))
    with storage.reading() as conn:
        row = commands.status(conn, queued.command_id)
    assert (row.status, row.delivered_at is not None) == ("done", True)
    assert cloud.get("/v1/cabinets/sim-1/commands").json() == []


def test_fail__bodies_past_the_limit_get_413(cloud: TestClient) -> None:
    bomb = gzip.compress(b"[" + b" " * (4 * 1024 * 1024) + b"]")
    reply = cloud.post(
        "/v1/cabinets/sim-1/events",
        content=bomb,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert reply.status_code == 413
    assert reply.json() == {"code": "too_large", "detail": "request body over 1048576 bytes uncompressed"}
    plain = cloud.post("/v1/cabinets/sim-1/events", content=b"x" * (1024 * 1024 + 1))
    assert plain.status_code == 413


def test_ok__server_time_is_utc_now(cloud: TestClient, ledger: Ledger) -> None:
    reply = session(cloud, ledger)
    server_time = datetime.fromisoformat(reply["server_time"])
    assert abs((server_time - datetime.now(UTC)).total_seconds()) < 60


def nested(levels: int) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    for _ in range(levels - 1):
        payload = {"a": payload}
    return payload


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        (nested(254), "event type 'technician_action': field 'action': Field required (and 3 more)"),
        (nested(400), "event type 'technician_action': field 'action': Field required (and 3 more)"),
        ({"\ud800": 1}, 'payload["\\ud800"]: a key with a lone surrogate'),
        ({"action": "slot_open", "technician": "demo\x00tech"}, "payload.technician: text with a NUL character"),
    ],
)
def test_ok__an_event_the_models_cannot_serialise_is_dead_lettered_and_read_back_as_it_came(
    cloud: TestClient, ledger: Ledger, payload: dict[str, Any], detail: str
) -> None:
    # Before, the dead letter went through model_dump (255 levels at most, surrogates mangled): the
    # upload or every later GET /events of the epoch answered 500, and fork recovery never ended.
    cloudharness.fill_ledger(ledger, 3)
    session(cloud, ledger)
    events = cloudharness.wire_events(ledger)
    events[1]["payload"] = payload
    reply = upload(cloud, events)
    assert (reply.status_code, reply.json()) == (
        200,
        {
            "acked_seq": 3,
            "duplicates": 0,
            "rejected": [{"event_id": events[1]["event_id"], "code": "bad_payload", "detail": detail}],
        },
    )
    history = cloud.get("/v1/cabinets/sim-1/events", params={"epoch": events[0]["epoch"]})
    assert history.status_code == 200, history.text
    assert history.json()["events"] == events


def test_ok__a_session_alone_leaves_no_epoch_behind(cloud: TestClient, ledger: Ledger, storage: Storage) -> None:
    cloudharness.fill_ledger(ledger, 3)
    session(cloud, ledger)
    upload(cloud, cloudharness.wire_events(ledger))
    # A session names an epoch that never receives an event (an adoption rolled back, say).
    unsent = session(cloud, ledger, epoch="01ffffff-0000-7000-8000-000000000002", last_seq=4, last_hash="ab" * 32)
    assert (unsent["status"], unsent["acked_seq"], unsent["acked_hash"]) == ("ok", 0, "")
    # The real epoch's next session is not taken for a fork (which would re-seal its unsent events).
    again = session(cloud, ledger)
    assert (again["status"], again["acked_seq"], again["detail"]) == ("ok", 3, "")
    with storage.reading() as conn:
        held = conn.execute(sa.select(schema.epochs.c.epoch)).scalars().all()
    assert held == [ledger.sync_state().epoch]
