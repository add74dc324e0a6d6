"""From the operator's upload to the cabinet's package cache, with nothing in between stood in for: the
fleet service (served on loopback, SQLite and PostgreSQL) reads the APK an operator uploads, the real
sync client brings the work types that name it to the cabinet, and the cabinet's package cache fetches
the bytes from the fleet's `GET /v1/packages/{sha256}`, checks them and keeps them (docs/app-packages.md).
A package that a later upload replaces is collected once no work type names it."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cabinetcloud import audit
from cabinetcloud.app import create_app
from cabinetcloud.apppackages import uploads
from cabinetcloud.storage import Storage
from cabinetd.config import CabinetConfig
from cabinetd.ledger import Ledger
from cabinetd.packages.retry import FetchPacing
from cabinetd.packages.service import AppPackages
from cabinetproto.apk import read_apk_file
from testbed import cloudharness
from testbed.apkbuild import build_apk
from testbed.syncrig import cabinet_config, client_for, run_until

HOME = "com.example.store.home"  # every demo work type's home app, version 2.4.0 (config/fleet-demo.toml)
OTTO = audit.Actor(name="otto", via="token")


@pytest.fixture
def served(storage: Storage, state_dir: Path) -> Iterator[str]:
    cloudharness.seeded(storage)
    cloudharness.write_token(state_dir / "cloud.token", cloudharness.enroll(storage))
    server = cloudharness.ServerThread(create_app(storage, max_wait_s=0.2, poll_s=0.05)).start()
    yield f"http://127.0.0.1:{server.port}"
    server.stop()


def cache_for(state_dir: Path, url: str, ledger: Ledger) -> AppPackages:
    data = cabinet_config(state_dir, url).model_dump()
    data["adb"]["packages"] = state_dir / "packages"
    return AppPackages(
        CabinetConfig.model_validate(data),
        lambda: ledger,
        pacing=FetchPacing(request_timeout_s=10.0),
        rng=random.Random(3),
    )


async def sync_work_types(state_dir: Path, url: str, ledger: Ledger, sha256: str) -> None:
    client = client_for(cabinet_config(state_dir, url), ledger)

    def carried() -> bool:
        found = ledger.work_type("picking")
        return found is not None and found.apps[0].sha256 == sha256

    await run_until(client, carried)


async def test_ok__an_uploaded_apk_reaches_the_cabinets_cache_from_the_fleet(
    storage: Storage, served: str, ledger: Ledger, state_dir: Path
) -> None:
    apk = build_apk(HOME, 240, "2.4.0", signed_by="store-apps", padding_bytes=3_000_000)  # three chunks
    first, _ = uploads.accept(storage, apk, "home-2.4.0.apk", OTTO, datetime.now(UTC))
    await sync_work_types(state_dir, served, ledger, first["sha256"])
    packages = cache_for(state_dir, served, ledger)
    await packages.prepare()
    await packages.step()
    kept = state_dir / "packages" / f"{first['sha256']}.apk"
    assert kept.read_bytes() == apk
    assert read_apk_file(kept).signer_sha256 == first["signer_sha256"]
    cached = [e.payload for e in ledger.tail(100) if e.type == "app_package_cached"]
    assert [(c["package"], c["version_code"], c["sha256"]) for c in cached] == [(HOME, 240, first["sha256"])]
    assert sorted(cached[0]["work_types"]) == ["picking", "price-tags", "stock-taking"]

    # A rebuilt 2.4.0 with a higher versionCode wins the work types; the old file goes with the change.
    rebuilt = build_apk(HOME, 241, "2.4.0", signed_by="store-apps")
    second, _ = uploads.accept(storage, rebuilt, "home-2.4.0-b.apk", OTTO, datetime.now(UTC))
    await sync_work_types(state_dir, served, ledger, second["sha256"])
    await packages.step()
    assert sorted(p.name for p in (state_dir / "packages").iterdir()) == [f"{second['sha256']}.apk"]
    removed = [e.payload for e in ledger.tail(100) if e.type == "app_package_removed"]
    assert [(r["sha256"], r["reason"]) for r in removed] == [(first["sha256"], "unneeded")]
    await packages.cleanup()
