"""An APK uploaded to the fleet reaches a syncing cabinet's replica of the work types that have it,
with the facts its package cache checks a download against (docs/app-packages.md)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cabinetcloud import audit
from cabinetcloud.app import create_app
from cabinetcloud.apppackages import uploads
from cabinetcloud.storage import Storage
from cabinetd.ledger import Ledger
from testbed import cloudharness
from testbed.apkbuild import build_apk, signer
from testbed.syncrig import cabinet_config, client_for, run_until
from tests.sync.faulty_transport import FaultyTransport

HOME = "com.example.store.home"


@pytest.fixture
def cloud(storage: Storage, state_dir: Path) -> FaultyTransport:
    cloudharness.seeded(storage)
    cloudharness.write_token(state_dir / "cloud.token", cloudharness.enroll(storage))
    return FaultyTransport(create_app(storage, max_wait_s=0.2, poll_s=0.05))


async def test_ok__an_upload_reaches_the_cabinets_work_types(
    cloud: FaultyTransport, storage: Storage, ledger: Ledger, state_dir: Path
) -> None:
    client = client_for(cabinet_config(state_dir, "http://cloud.test"), ledger, transport=cloud)
    await run_until(client, lambda: ledger.work_type("picking") is not None)
    held = ledger.work_type("picking")
    assert held is not None
    assert (held.apps[0].package, held.apps[0].sha256, held.apps[0].size) == (HOME, None, None)
    data = build_apk(HOME, 240, "2.4.0")
    uploads.accept(storage, data, "home.apk", audit.Actor(name="otto", via="token"), datetime.now(UTC))
    client = client_for(cabinet_config(state_dir, "http://cloud.test"), ledger, transport=cloud)

    def carried() -> bool:
        found = ledger.work_type("stock-taking")
        return found is not None and found.apps[0].sha256 is not None

    await run_until(client, carried)
    for work_type in ("picking", "price-tags", "stock-taking"):
        found = ledger.work_type(work_type)
        assert found is not None
        app = found.apps[0]
        assert (app.package, app.version, app.version_code, app.sha256, app.size, app.signer_sha256) == (
            HOME,
            "2.4.0",
            240,
            hashlib.sha256(data).hexdigest(),
            len(data),
            signer("store-apps").sha256,
        ), work_type
    assert cloud.seen.count("GET /v1/cabinets/sim-1/snapshot") == 1
