"""The stateful test's cloud: the real fleet service (cabinetcloud, on SQLite in the day's directory)
reached over ASGI through the sync tests' faulty transport, so that the cabinet's own uplink and
command runner (cabinetd/sync) talk to it with faults placed where the model says.

The downlink (the roster) is left out on purpose: the day's cast lives in the rig's roster, and a
snapshot of the cloud's demo fleet would replace it halfway through a day.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from cabinetcloud import commands as cloud_commands
from cabinetcloud.app import create_app
from cabinetd.ledger import Ledger
from cabinetd.sync.errors import SyncError
from cabinetd.sync.link import CloudLink
from cabinetd.sync.remote import CommandExecutor, CommandRunner
from cabinetd.sync.uplink import Uplink
from cabinetproto.wire import Command, CommandKind
from testbed.cloudharness import cloud_event_ids, enroll, migrated, seeded
from testbed.syncrig import FAST
from tests.sync.faulty_transport import FaultyTransport

CABINET: Final = "sim-1"  # config/sim.toml's cabinet, enrolled in the demo store of the demo fleet
# Each fault injected costs one try; a sync that still has not caught up after this many has a bug.
TRIES: Final = 30


class ModelCloud:
    def __init__(self, directory: Path) -> None:
        self.storage = seeded(migrated(f"sqlite:///{directory / 'cloud.sqlite3'}"))
        self.token = enroll(self.storage, CABINET, "demo")
        self.transport = FaultyTransport(create_app(self.storage, max_wait_s=0.0))
        self.sent: set[str] = set()  # the ids of every command the cloud queued for the cabinet

    def _link(self) -> CloudLink:
        return CloudLink("http://cloud.test", CABINET, self.token, timeout_s=5.0, transport=self.transport)

    def queue(self, kind: CommandKind, args: dict[str, str | int | bool]) -> Command:
        with self.storage.writing() as conn:
            command = cloud_commands.queue(conn, CABINET, kind, args, timedelta(minutes=5))
        self.sent.add(command.command_id)
        return command

    async def upload(self, ledger: Ledger, faults: list[tuple[str, str]]) -> int:
        """Run the cabinet's uplink until the cloud holds every event, through `faults` (path part,
        fault) on the way; the tries it took."""
        for part, fault in faults:
            self.transport.then(part, fault)
        link = self._link()
        uplink = Uplink(link, ledger, FAST, "model", lambda: datetime.now(UTC), time.monotonic)
        try:
            for tries in range(1, TRIES + 1):
                try:
                    if not uplink.in_session:
                        await uplink.open_session()
                    sent = await uplink.push()
                except SyncError:
                    continue  # the sync client's loop, without its backoff
                if sent is None and ledger.sync_state().pending == 0:
                    return tries
        finally:
            await link.close()
        raise AssertionError(f"the cloud has not caught up after {TRIES} tries: {ledger.sync_state()}")

    async def deliver(self, ledger: Ledger, execute: CommandExecutor) -> int:
        """Fetch the cabinet's pending commands and run them as the sync client does; how many ran."""
        link = self._link()
        try:
            runner = CommandRunner(ledger, execute, lambda: datetime.now(UTC), FAST.command_timeout_s)
            return await runner.handle(await link.commands(runner.after))
        finally:
            await link.close()

    def lost_and_doubled(self, ledger: Ledger) -> tuple[set[str], list[str]]:
        """The ledger's events the cloud does not hold, and those it holds more than once."""
        held = Counter(cloud_event_ids(self.storage, CABINET))
        ours = {str(row[0]) for row in ledger.store.rows("SELECT event_id FROM events")}
        return ours - set(held), sorted(event_id for event_id, count in held.items() if count > 1)

    def close(self) -> None:
        self.storage.dispose()
