"""A backlog of 5,000 events through a proxy that breaks the network the whole time, to a real server."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from cabinetcloud.app import create_app
from cabinetcloud.storage import Storage
from cabinetd.ledger import Ledger
from testbed import cloudharness
from testbed.faulty_proxy import Fault, FaultPlan, FaultyProxy
from testbed.syncrig import FAST, cabinet_config, client_for, run_until

EVERY_FAULT = [
    Fault.DROP,
    Fault.DELAY,
    Fault.RESET,
    Fault.TRUNCATE,
    Fault.DUPLICATE,
    Fault.REORDER,
    Fault.ERROR_5XX,
    Fault.HANG,
    Fault.LOST_REPLY,
]


@pytest.fixture
def server(storage: Storage, state_dir: Path) -> Iterator[cloudharness.ServerThread]:
    cloudharness.seeded(storage)
    cloudharness.write_token(state_dir / "cloud.token", cloudharness.enroll(storage))
    running = cloudharness.ServerThread(create_app(storage, max_wait_s=0.2, poll_s=0.05)).start()
    yield running
    running.stop()


@pytest.mark.slow
async def test_ok__the_cloud_ends_with_exactly_the_cabinets_events(
    server: cloudharness.ServerThread, storage: Storage, ledger: Ledger, state_dir: Path
) -> None:
    cloudharness.fill_ledger(ledger, 5_000)
    plan = FaultPlan(
        script=[fault for fault in EVERY_FAULT for _ in range(2)],
        weights={
            Fault.DROP: 0.05,
            Fault.DELAY: 0.08,
            Fault.RESET: 0.05,
            Fault.TRUNCATE: 0.05,
            Fault.DUPLICATE: 0.06,
            Fault.REORDER: 0.05,
            Fault.ERROR_5XX: 0.05,
            Fault.HANG: 0.02,
            Fault.LOST_REPLY: 0.07,
        },
        seed=7,
        hang_s=10.0,
    )
    with FaultyProxy(server.port, plan) as proxy:
        pacing = replace(FAST, request_timeout_s=1.0)
        client = client_for(cabinet_config(state_dir, proxy.url), ledger, pacing=pacing)

        def done() -> bool:
            state = ledger.sync_state()
            return state.acked_seq == state.last_seq

        # New events keep arriving while the backlog drains, as in a store that reopened.
        await run_until(client, done, timeout_s=120)
        cloudharness.fill_ledger(ledger, 300, start=5_000)
        await run_until(client_for(cabinet_config(state_dir, proxy.url), ledger, pacing=pacing), done, timeout_s=60)
    held = cloudharness.cloud_event_ids(storage)
    mine = [event["event_id"] for event in cloudharness.wire_events(ledger, 0, 10_000)]
    assert len(mine) == 5_300
    assert len(held) == len(set(held)), "duplicates in the cloud"
    assert sorted(held) == sorted(mine)
    assert {fault for fault in EVERY_FAULT if proxy.injected[fault] == 0} == set()
