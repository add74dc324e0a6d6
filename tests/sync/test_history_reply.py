"""The cabinet reads back what the cloud holds for it (GET /events) however the events came: a dead
letter nested deeper than pydantic's own JSON parser goes, or holding a lone surrogate, is given back
as it was, so fork recovery can finish."""

from __future__ import annotations

import json

import httpx
import pytest

from cabinetd.sync.link import CloudLink, CloudRefusal

EVENT = {
    "event_id": "01890a5d-ac96-774b-bcce-b302099a8057",
    "seq": 1,
    "epoch": "e1",
    "prev_hash": "0" * 64,
    "hash": "1" * 64,
    "type": "note",
    "schema_version": 1,
    "occurred_at": "2025-03-01T08:00:00.000000Z",
    "mono_ns": 1,
    "boot_id": "b",
    "cabinet_id": "sim-1",
}


def link_answering(body: bytes) -> CloudLink:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    return CloudLink("http://cloud.test", "sim-1", "token", transport=transport)


def nested(levels: int) -> object:
    value: object = "bottom"
    for _ in range(levels):
        value = {"n": value}
    return value


@pytest.mark.parametrize("payload", [nested(254), nested(400), {"\ud800": "a lone surrogate as a key"}])
async def test_ok__dead_letters_come_back_as_they_were_sent(payload: object) -> None:
    body = json.dumps({"epoch": "e1", "events": [{**EVENT, "payload": payload}], "complete": True}).encode()
    page = await link_answering(body).history("e1", 0)
    assert page.events[0].payload == payload


async def test_fail__a_reply_that_is_not_json_is_refused_naming_the_request() -> None:
    with pytest.raises(CloudRefusal) as refused:
        await link_answering(b"<html>").history("e1", 0)
    assert str(refused.value) == (
        "GET /v1/cabinets/sim-1/events: the reply is not JSON: Expecting value: line 1 column 1 (char 0)"
    )
