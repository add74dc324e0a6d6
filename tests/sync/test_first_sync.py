"""When the cabinet asks the cloud for its roster: at once when it has none, spread over a minute when it
has one (a fleet restarting together), and at once again when an unknown badge asks for a refresh,
even in the middle of a long poll."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from cabinetcloud import fleet
from cabinetcloud.app import create_app
from cabinetcloud.storage import Storage
from cabinetd.ledger import Ledger
from cabinetproto.wire import Entity
from testbed import cloudharness
from testbed.syncrig import FAST, cabinet_config, client_for, run_until
from tests.sync.faulty_transport import FaultyTransport

SPREAD = dataclasses.replace(FAST, first_request_spread_s=3600.0)
SEED = 7  # random.Random(7).uniform(0, 3600) is about 23 minutes
CHANGES = "GET /v1/cabinets/sim-1/changes"


@pytest.fixture
def cloud(storage: Storage, state_dir: Path) -> Iterator[FaultyTransport]:
    cloudharness.seeded(storage)
    cloudharness.write_token(state_dir / "cloud.token", cloudharness.enroll(storage))
    return FaultyTransport(create_app(storage, max_wait_s=0.2, poll_s=0.05))


async def test_fail__a_cabinet_without_a_roster_asks_for_it_at_once(
    cloud: FaultyTransport, ledger: Ledger, state_dir: Path
) -> None:
    assert random.Random(SEED).uniform(0, 3600) > 60
    client = client_for(
        cabinet_config(state_dir, "http://cloud.test"), ledger, transport=cloud, pacing=SPREAD, rng=random.Random(SEED)
    )
    await run_until(client, lambda: ledger.staff_by_badge("0001715004", "decimal") is not None, timeout_s=20)


async def test_ok__a_cabinet_with_its_roster_spreads_its_first_request(
    cloud: FaultyTransport, ledger: Ledger, state_dir: Path
) -> None:
    config = cabinet_config(state_dir, "http://cloud.test")
    await run_until(client_for(config, ledger, transport=cloud), lambda: ledger.roster_size() > 0)
    again = client_for(config, ledger, transport=cloud, pacing=SPREAD, rng=random.Random(SEED))
    assert again.first_request_delay() == random.Random(SEED).uniform(0, 3600)


async def test_ok__a_cabinet_whose_roster_is_empty_asks_at_once_even_after_syncing(
    cloud: FaultyTransport, ledger: Ledger, state_dir: Path
) -> None:
    ledger.replace_replicas([], "emptied")  # synced once, but the cloud had no staff for this store then
    assert ledger.sync_state().downlink_cursor == "emptied"
    client = client_for(
        cabinet_config(state_dir, "http://cloud.test"), ledger, transport=cloud, pacing=SPREAD, rng=random.Random(SEED)
    )
    assert client.first_request_delay() == 0.0


async def test_fail__a_roster_refresh_cuts_a_long_poll_short_and_brings_new_staff(
    storage: Storage, ledger: Ledger, state_dir: Path
) -> None:
    cloudharness.seeded(storage)
    cloudharness.write_token(state_dir / "cloud.token", cloudharness.enroll(storage))
    # The cloud looks for new changes only every 60 s: a long poll under way would not bring them.
    slow = FaultyTransport(create_app(storage, max_wait_s=60.0, poll_s=60.0))
    pacing = dataclasses.replace(FAST, long_poll_s=60.0, request_timeout_s=90.0)
    client = client_for(cabinet_config(state_dir, "http://cloud.test"), ledger, transport=slow, pacing=pacing)
    polling = asyncio.Event()
    slow.on_request = lambda request: polling.set() if request.url.path.endswith("/changes") else None
    await client.prepare()
    task = asyncio.create_task(client.run())
    try:
        async with asyncio.timeout(20):  # a guard against hanging, not a measurement
            await polling.wait()  # after the snapshot: the first long poll
            assert ledger.roster_size() > 0
            await asyncio.sleep(0.1)  # the long poll is held open by the cloud
            polls = slow.seen.count(CHANGES)
            with storage.writing() as conn:
                anna = fleet.current(conn, Entity.STAFF, "demo-anna")
                assert anna is not None
                fleet.upsert(conn, Entity.STAFF, {**anna, "id": "demo-nina", "name": "Nina", "badge": "0005921370"})
            assert await client.refresh_roster()
        nina = ledger.staff_by_badge("0005921370", "decimal")
        assert nina is not None
        assert nina.staff_id == "demo-nina"
        assert slow.seen.count(CHANGES) == polls + 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.cleanup()


async def test_ok__a_roster_refresh_without_a_cloud_answers_false(ledger: Ledger, state_dir: Path) -> None:
    client = client_for(cabinet_config(state_dir, None), ledger)
    assert not await client.refresh_roster()
