"""The updater on its own: a real ledger in tmp, the release server on loopback, real .deb files made
with dpkg-deb, a cabinet whose session and doors the test sets, and a clock the test moves."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cabinetd.clock import ManualClock
from cabinetd.config import CabinetConfig
from cabinetd.ledger import Ledger, open_ledger
from cabinetd.updates.fetching import Fetching
from cabinetd.updates.quiet import CabinetNow
from cabinetd.updates.service import Updates
from cabinetproto.releasesig import encode_signature, generate_key, load_private_key, sign
from cabinetproto.wire import Command
from testbed.debs import build_deb
from testbed.releaseserver import ReleaseServer
from tests.conftest import require_command
from tests.flows.rig import sim_config

TOKEN = "cabinet-token-for-updates"
INSTALLED = "0.1.0"


def make_deb(directory: Path, version: str, package: str = "cabinetd", padding: int = 200_000) -> bytes:
    """A real Debian package of a tiny tree; `padding` bytes of noise so that a download takes chunks."""
    require_command("dpkg-deb")
    noise = hashlib.shake_256(version.encode()).digest(padding)
    built = build_deb(
        directory, package=package, version=version, architecture="all", compression="none", payload=noise
    )
    return built.read_bytes()


def offer_command(key: Ed25519PrivateKey, release: str, package: bytes, version: str, /, **changes: Any) -> Command:
    """The fleet's offer_update for this package, signed with `key`; `changes` replace arguments."""
    args: dict[str, str | int | bool] = {
        "release": release,
        "version": version,
        "sha256": hashlib.sha256(package).hexdigest(),
        "size": len(package),
        "signature": encode_signature(sign(key, package)),
        "allow_downgrade": False,
    }
    args.update(changes)
    now = datetime.now(UTC)
    return Command(
        command_id=str(uuid.uuid4()),
        number=1,
        kind="offer_update",
        args=args,
        issued_at=now,
        expires_at=now + timedelta(hours=1),
    )


def release_keys(directory: Path) -> Ed25519PrivateKey:
    """A new release key: the private half to sign with, the public one in `directory`/release-key.pub."""
    private, public = generate_key()
    (directory / "release.key").write_bytes(private)
    (directory / "release-key.pub").write_bytes(public)
    return load_private_key(directory / "release.key")


class Cabinet:
    """The cabinet's state as the updater reads it."""

    def __init__(self) -> None:
        self.session = False
        self.open_doors: tuple[int, ...] = ()
        self.busy_slots: tuple[int, ...] = ()

    def now(self) -> CabinetNow:
        return CabinetNow(self.session, self.open_doors, self.busy_slots)


class UpdateRig:
    def __init__(self, tmp_path: Path, *, opening_hours: str | None = None, key_file: Path | None = None) -> None:
        self.tmp = tmp_path
        self.server = ReleaseServer(TOKEN)
        token_file = tmp_path / "cloud.token"
        token_file.write_text(TOKEN)
        token_file.chmod(0o600)
        self.key = release_keys(tmp_path)
        base = sim_config(tmp_path).model_dump()
        base["cloud"] = {"url": self.server.url, "token_file": token_file}
        base["updates"] = {
            "directory": tmp_path / "updates",
            "release_key": key_file or tmp_path / "release-key.pub",
            "opening_hours": opening_hours,
        }
        self.config = CabinetConfig.model_validate(base)
        # The Monday after the start of ManualClock's default, 03:00 UTC: outside most opening hours.
        self.clock = ManualClock(datetime(2026, 11, 2, 3, 0, tzinfo=UTC))
        self.cabinet = Cabinet()
        self.online = True
        self.ledger: Ledger = open_ledger(tmp_path / "state", "cab-1")
        self.updates = self.build()

    def build(self) -> Updates:
        updates = Updates(self.config, lambda: self.ledger, self.cabinet.now, self.clock, lambda: INSTALLED, zone=UTC)
        updates.fetching = Fetching(self.config, self.clock, updates.idle, lambda: self.online, retry_s=1.0)
        return updates

    def close(self) -> None:
        self.ledger.close()
        self.server.close()

    def publish(self, release: str, version: str, **kwargs: Any) -> bytes:
        package = make_deb(self.tmp, version, **kwargs)
        self.server.packages[release] = package
        return package

    def command(self, release: str, package: bytes, version: str, /, **changes: Any) -> Command:
        return offer_command(self.key, release, package, version, **changes)

    async def until(self, what: Callable[[], object], *, move_clock: bool = False, within: float = 20.0) -> None:
        """Wait for the download task to get there; with `move_clock`, its retry waits pass meanwhile."""
        deadline = time.monotonic() + within
        while not what():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; ledger says {self.types()}")
            await asyncio.sleep(0.01)
            if move_clock:
                await self.clock.advance(1.0)

    def types(self) -> list[str]:
        return [e.type for e in self.ledger.events_of(*TYPES)]

    def last(self, event_type: str) -> dict[str, Any]:
        return [e.payload for e in self.ledger.events_of(event_type)][-1]


TYPES = (
    "update_offered",
    "update_downloaded",
    "update_refused",
    "update_installing",
    "update_installed",
    "update_rolled_back",
)
