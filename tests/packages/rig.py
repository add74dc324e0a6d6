"""The package cache on its own: a real ledger in tmp holding the work types, the package server on
loopback, real signed APKs, and the cache's steps driven one at a time by the test."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cabinetd.config import CabinetConfig
from cabinetd.ledger import Ledger, open_ledger
from cabinetd.packages.retry import FetchPacing
from cabinetd.packages.service import AppPackages
from testbed.apkbuild import signer
from testbed.packageserver import PackageServer
from tests.flows.rig import sim_config

TOKEN = "cabinet-token-for-packages"
HOME = "com.example.home"
LABELS = "com.example.labels"
STORE = "store-apps"  # the test signer of the store's own apps (testbed/apkbuild.py)
OTHER = "someone-else"  # a signer the work types do not name


def app_entry(apk: bytes, package: str, version_code: int, **changes: Any) -> dict[str, Any]:
    """A work type's app as the fleet sends it, for this APK; `changes` replace fields."""
    entry: dict[str, Any] = {
        "package": package,
        "version": f"{version_code // 100}.{version_code % 100}",
        "version_code": version_code,
        "url": f"https://apps.example/{package}.apk",  # what an agent handheld downloads itself
        "sha256": hashlib.sha256(apk).hexdigest(),
        "size": len(apk),
        "signer_sha256": signer(STORE).sha256,
    }
    return {**entry, **changes}


def work_type_op(work_type: str, apps: list[dict[str, Any]], version: int = 1) -> dict[str, Any]:
    data = {
        "name": work_type,
        "rental_limit_minutes": 240,
        "battery_threshold": 40,
        "device_models": ["pda-a1"],
        "apps": apps,
    }
    return {"entity": "work_types", "id": work_type, "version": version, "op": "upsert", "data": data}


class Now:
    """Monotonic seconds the test moves."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class CacheRig:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.server = PackageServer(TOKEN)
        token = tmp_path / "cloud.token"
        token.write_text(TOKEN + "\n")
        token.chmod(0o600)
        data = sim_config(tmp_path).model_dump()
        data["cloud"] = {"url": self.server.url, "token_file": token}
        data["adb"]["packages"] = tmp_path / "packages"
        self.config = CabinetConfig.model_validate(data)
        self.directory = tmp_path / "packages"
        self.ledger: Ledger = open_ledger(tmp_path / "state", "cab-1", boot_id="boot-1")
        self.now = Now()
        self.packages = self.build()

    def build(self) -> AppPackages:
        return AppPackages(
            self.config,
            lambda: self.ledger,
            pacing=FetchPacing(request_timeout_s=5.0),
            rng=random.Random(7),
            monotonic=self.now,
            clock=lambda: datetime(2026, 12, 3, 9, 0, tzinfo=UTC),
        )

    def work_types(self, *ops: dict[str, Any]) -> None:
        self.ledger.replace_replicas(list(ops), "c1")

    def change(self, *ops: dict[str, Any]) -> None:
        self.ledger.apply_replica(list(ops), "c2")

    def files(self) -> list[str]:
        return sorted(p.name for p in self.directory.iterdir()) if self.directory.exists() else []

    def events(self, *types: str) -> list[tuple[str, dict[str, Any]]]:
        return [(e.type, dict(e.payload)) for e in self.ledger.tail(1000) if e.type in types]

    def close(self) -> None:
        self.ledger.close()
        self.server.close()
