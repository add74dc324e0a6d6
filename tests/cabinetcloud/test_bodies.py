"""What the cloud refuses in a request, and how: never a 500, always `{code, detail}` naming the place."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cabinetcloud.app import create_app
from cabinetcloud.storage import Storage
from cabinetd.ledger import open_ledger
from cabinetproto.wire import MAX_JSON_DEPTH
from testbed import cloudharness

SESSION = "/v1/cabinets/sim-1/session"
EVENTS = "/v1/cabinets/sim-1/events"
SESSION_BODY: dict[str, Any] = {
    "epoch": "01a00000-0000-7000-8000-000000000000",
    "last_seq": 0,
    "last_hash": "",
    "software_version": "test",
    "schema_version": 1,
}

# An event of the wire's shape for the upload below to vary; its hash is wrong, so it is dead-lettered
# when nothing else is: the path that quotes what the cabinet sent.
EVENT: dict[str, Any] = {
    "event_id": "01a00000-0000-7000-8000-000000000001",
    "seq": 1,
    "epoch": SESSION_BODY["epoch"],
    "prev_hash": "0" * 64,
    "hash": "ab" * 32,
    "type": "technician_action",
    "schema_version": 1,
    "occurred_at": "2026-01-01T00:00:00.000000Z",
    "mono_ns": 1,
    "boot_id": "boot",
    "cabinet_id": "sim-1",
    "payload": {},
}


def _client(storage: Storage) -> TestClient:
    cloudharness.seeded(storage)
    token = cloudharness.enroll(storage)
    # A server error must come back as a reply here, not as an exception out of the app.
    client = TestClient(create_app(storage, max_wait_s=0.05, poll_s=0.01), raise_server_exceptions=False)
    client.headers["Authorization"] = f"Bearer {token}"
    return client


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    # One seeded cloud for the module: seeding hashes PINs (scrypt), and no test here needs it empty.
    storage = cloudharness.migrated(f"sqlite:///{tmp_path_factory.mktemp('cloud') / 'cloud.db'}")
    with _client(storage) as client:
        yield client
    storage.dispose()


@pytest.fixture
def cloud_on_each_engine(storage: Storage) -> Iterator[TestClient]:
    with _client(storage) as client:
        yield client


def post_text(cloud: TestClient, path: str, text: str | bytes) -> Any:
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    return cloud.post(path, content=raw, headers={"Content-Type": "application/json"})


def as_json(body: Any) -> str:
    # What a careless client sends: Python's json writes NaN, Infinity and lone surrogates (escaped).
    return json.dumps(body)


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"last_seq": float("nan")}, "body.last_seq: NaN is not a finite number"),
        ({"schema_version": float("inf")}, "body.schema_version: Infinity is not a finite number"),
        ({"cabinet_time": float("-inf")}, "body.cabinet_time: -Infinity is not a finite number"),
        ({"extra": [1, {"deep": float("nan")}]}, "body.extra[1].deep: NaN is not a finite number"),
    ],
)
def test_fail__nan_and_infinities_in_a_session_are_refused_with_422_naming_the_field(
    cloud: TestClient, change: dict[str, Any], detail: str
) -> None:
    reply = post_text(cloud, SESSION, as_json({**SESSION_BODY, **change}))
    assert (reply.status_code, reply.json()) == (422, {"code": "invalid", "detail": detail})


def test_fail__a_number_too_large_for_a_float_is_refused_as_not_finite(cloud: TestClient) -> None:
    reply = post_text(cloud, SESSION, as_json(SESSION_BODY).replace('"last_seq": 0', '"last_seq": 1e400'))
    assert reply.json() == {"code": "invalid", "detail": "body.last_seq: 1e400 is not a finite number"}


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"software_version": "1.0\x00"}, "body.software_version: text with a NUL character"),
        ({"software_version": "1.0\ud800"}, "body.software_version: text with a lone surrogate"),
        ({"last_hash": "\udfff"}, "body.last_hash: text with a lone surrogate"),
        ({"note\x00": 1}, 'body["note\\u0000"]: a key with a NUL character'),
        ({"note": {"\ud83d": "x"}}, 'body.note["\\ud83d"]: a key with a lone surrogate'),
    ],
)
def test_fail__nul_and_lone_surrogates_in_a_session_are_refused_with_422_naming_the_field(
    cloud_on_each_engine: TestClient, change: dict[str, Any], detail: str
) -> None:
    # On PostgreSQL a NUL in software_version reached the cabinets table and failed there with 500.
    reply = post_text(cloud_on_each_engine, SESSION, as_json({**SESSION_BODY, **change}))
    assert (reply.status_code, reply.json()) == (422, {"code": "invalid", "detail": detail})


def test_ok__text_outside_the_bmp_is_not_a_lone_surrogate(cloud: TestClient) -> None:
    reply = post_text(cloud, SESSION, as_json({**SESSION_BODY, "software_version": "1.0 \U0001f600 é"}))
    assert reply.status_code == 200, reply.text


@pytest.mark.parametrize(
    ("method", "path", "params", "detail"),
    [
        ("POST", SESSION, None, "body.last_seq: Field required"),
        ("GET", EVENTS, {"epoch": "e", "after": -1}, "query.after: Input should be greater than or equal to 0"),
        ("GET", EVENTS, {"after": 1}, "query.epoch: Field required"),
        ("GET", "/v1/cabinets/sim-1/changes", {"wait": "nan"}, "query.wait: Input should be less than or equal to 60"),
        (
            "GET",
            "/v1/cabinets/sim-1/commands",
            {"after": "x"},
            "query.after: Input should be a valid integer, unable to parse string as an integer",
        ),
        (
            "GET",
            "/v1/cabinets/-bad/snapshot",
            None,
            "path.cabinet_id: String should match pattern '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'",
        ),
    ],
)
def test_fail__validation_errors_use_the_documented_code_and_detail_on_every_route(
    cloud: TestClient, method: str, path: str, params: dict[str, Any] | None, detail: str
) -> None:
    body = {key: value for key, value in SESSION_BODY.items() if key != "last_seq"} if method == "POST" else None
    reply = cloud.request(method, path, params=params, json=body)
    assert (reply.status_code, reply.json()) == (422, {"code": "invalid", "detail": detail})


def test_fail__several_problems_are_counted_after_the_first(cloud: TestClient) -> None:
    reply = cloud.post(SESSION, json={"epoch": "e"})
    assert reply.json() == {"code": "invalid", "detail": "body.last_seq: Field required (and 3 more)"}


def test_fail__a_body_nested_past_the_limit_is_refused_before_it_is_parsed(cloud: TestClient) -> None:
    # 100,000 levels would exhaust the parser's recursion; the count on the raw text comes first.
    reply = post_text(cloud, SESSION, "[" * 100_000)
    assert (reply.status_code, reply.json()) == (
        422,
        {"code": "too_deep", "detail": f"request body nests 100000 levels deep; the limit is {MAX_JSON_DEPTH}"},
    )
    # Brackets inside strings are text, not nesting.
    brackets = post_text(cloud, SESSION, as_json({**SESSION_BODY, "software_version": "[" * 60, "x": "{" * 600}))
    assert brackets.status_code == 200, brackets.text


def test_ok__a_body_at_the_depth_limit_is_parsed(cloud: TestClient) -> None:
    at_limit = "[" * (MAX_JSON_DEPTH - 1) + "{}" + "]" * (MAX_JSON_DEPTH - 1)
    reply = post_text(cloud, SESSION, at_limit)
    assert reply.json()["code"] == "invalid"  # read, then refused by the model: a list is no session
    over = post_text(cloud, SESSION, "[" + at_limit + "]")
    assert over.json()["code"] == "too_deep"


@pytest.mark.parametrize(
    ("raw", "status", "detail"),
    [
        (b'{"epoch": x}', 400, "request body is not JSON at byte 10: Expecting value"),
        (
            '{"epoch": "é", x}'.encode(),
            400,
            "request body is not JSON at byte 16: Expecting property name enclosed in double quotes",
        ),
        (b'{"epoch": "\xff"}', 400, "request body is not UTF-8 at byte 11"),
        (b'{"epoch": "\xed\xa0\x80"}', 400, "request body is not UTF-8 at byte 11"),  # a surrogate, raw
    ],
)
def test_fail__a_body_that_is_not_utf8_json_is_refused_naming_the_byte(
    cloud: TestClient, raw: bytes, status: int, detail: str
) -> None:
    reply = post_text(cloud, SESSION, raw)
    assert (reply.status_code, reply.json()) == (status, {"code": "bad_json", "detail": detail})


def test_fail__nan_in_an_uploaded_event_is_refused_and_the_batch_left_unacknowledged(
    cloud: TestClient, tmp_path: Path
) -> None:
    # No ledger can seal NaN (its canonical form refuses it), so refusing the batch blocks no queue.
    ledger = open_ledger(tmp_path / "cabinet", "sim-1")
    cloudharness.fill_ledger(ledger, 2)
    events = cloudharness.wire_events(ledger)
    ledger.close()
    events[1]["payload"]["args"]["n"] = float("nan")
    reply = post_text(cloud, EVENTS, as_json({"epoch": events[0]["epoch"], "from_seq": 1, "events": events}))
    assert reply.json() == {"code": "invalid", "detail": "body.events[1].payload.args.n: NaN is not a finite number"}
    history = cloud.get(EVENTS, params={"epoch": events[0]["epoch"]})
    assert history.json()["events"] == []


# Text with what a careless or hostile client puts in: NUL, lone surrogates, a valid pair, brackets.
_text = st.lists(
    st.one_of(st.characters(), st.sampled_from(["\x00", "\ud800", "\udfff", "\ud83d\ude00", "["])), max_size=6
).map("".join)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    session=st.dictionaries(st.sampled_from([*SESSION_BODY, "cabinet_time", "x"]), _json, max_size=4),
    payload=st.dictionaries(_text, _json, max_size=4),
    fields=st.fixed_dictionaries(
        {}, optional={name: _json for name in ("type", "device", "staff", "boot_id", "occurred_at", "slot")}
    ),
)
def test_ok__no_body_gets_a_server_error_and_every_refusal_has_the_documented_shape(
    cloud_on_each_engine: TestClient, session: dict[str, Any], payload: dict[str, Any], fields: dict[str, Any]
) -> None:
    cloud = cloud_on_each_engine
    epoch = str(uuid.uuid4())
    event = {**EVENT, "event_id": str(uuid.uuid4()), "epoch": epoch, **fields, "payload": payload}
    for path, body in (
        (SESSION, {**SESSION_BODY, **session}),
        (EVENTS, {"epoch": epoch, "from_seq": 1, "events": [event]}),
        (SESSION, {**SESSION_BODY, "epoch": epoch}),
    ):
        reply = post_text(cloud, path, as_json(body))
        assert reply.status_code < 500, reply.text
        if reply.status_code >= 400:
            assert set(reply.json()) == {"code", "detail"}, reply.text
    history = cloud.get(EVENTS, params={"epoch": epoch})
    assert history.status_code == 200, history.text
