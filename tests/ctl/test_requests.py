"""The control socket's edge: every number in a query is finite and in its range, and bodies have the
same limits as the kiosk's (size, depth, NaN, surrogates), each refusal a 400 or 413 naming the thing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.flows.rig import Rig

# A guard, not a measurement: a request that never answers fails here rather than hanging the run.
NO_HANG_S = 10.0


@pytest.fixture
async def socket_http(rig: Rig) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.AsyncHTTPTransport(uds=str(rig.cabinet.control.path))
    async with httpx.AsyncClient(transport=transport, base_url="http://cabinetd", timeout=NO_HANG_S) as client:
        yield client


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/badges?after=0&wait_s=nan", "wait_s must be a number of seconds, got 'nan'"),
        ("/badges?after=0&wait_s=inf", "wait_s must be a number of seconds, got 'inf'"),
        ("/badges?after=0&wait_s=1e308", "wait_s must be a number of seconds, got '1e308'"),
        ("/badges?after=0&wait_s=-1", "wait_s must be between 0 and 30, got -1"),
        ("/badges?after=0&wait_s=31", "wait_s must be between 0 and 30, got 31"),
        ("/badges?after=nan", "after must be a whole number, got 'nan'"),
        ("/badges?after=-2", "after must be between -1 and 4611686018427387904, got -2"),
        ("/ledger/tail?n=1_000", "n must be a whole number, got '1_000'"),
        ("/ledger/tail?n=%207", "n must be a whole number, got ' 7'"),
        ("/ledger/tail?n=0", "n must be between 1 and 10000, got 0"),
        ("/ledger/tail?n=" + "9" * 5000, "n must be a whole number, got '" + "9" * 40 + "'"),
        ("/ledger/after?seq=-1", "seq must be between 0 and 4611686018427387904, got -1"),
        ("/ledger/after?seq=1.5", "seq must be a whole number, got '1.5'"),
        ("/ledger/events?last=0", "last must be between 1 and 10000, got 0"),
        ("/logs?last=-1", "last must be between 0 and 5000, got -1"),
    ],
)
async def test_fail__a_number_in_a_query_that_is_not_finite_or_in_range_is_refused(
    socket_http: httpx.AsyncClient, path: str, error: str
) -> None:
    reply = await socket_http.get(path)
    assert (reply.status_code, reply.json()) == (400, {"error": f"bad request: {error}"})


async def test_ok__a_badge_wait_in_range_still_answers(socket_http: httpx.AsyncClient) -> None:
    reply = await socket_http.get("/badges?after=0&wait_s=0.05")
    assert reply.status_code == 200
    assert reply.json()["reads"] == []


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (b"[" * 30_000 + b"]" * 30_000, 400, "the body nests deeper than 32 levels (byte 32)"),
        (b"{" * 100_000, 413, "the body is too large: 100000 bytes, at most 65536"),
        (b'{"reason": NaN}', 400, "the body holds NaN, which is not a JSON number"),
        (b'{"reason": "hinge \\udc00"}', 400, "the body holds a lone surrogate at $.reason"),
        (b'{"reason": "hinge\\u0000"}', 400, "the body holds a NUL character at $.reason"),
    ],
)
async def test_fail__a_body_past_the_limits_is_refused_and_the_slot_is_untouched(
    rig: Rig, socket_http: httpx.AsyncClient, body: bytes, status: int, error: str
) -> None:
    before = len(rig.ledger.tail(10_000))
    reply = await socket_http.post("/slots/1/disable", content=body, headers={"content-type": "application/json"})
    assert (reply.status_code, reply.json()) == (status, {"error": f"bad request: {error}"})
    assert rig.state(1) == "ready"
    assert len(rig.ledger.tail(10_000)) == before
