"""The client killed with SIGKILL before a batch is sent, and after the cloud committed it but
before the cabinet recorded the acknowledgement: after a restart, nothing is lost or doubled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cabinetcloud.app import create_app
from cabinetcloud.storage import Storage
from cabinetd.ledger import Ledger, open_ledger
from testbed import cloudharness
from testbed.faulty_proxy import Fault, FaultPlan, FaultyProxy

ROOT = Path(__file__).resolve().parents[2]
# Each case runs the client in a process of its own and kills it: seconds apiece.
pytestmark = pytest.mark.slow



@pytest.fixture
def server(storage: Storage, state_dir: Path) -> Iterator[cloudharness.ServerThread]:
    cloudharness.seeded(storage)
    cloudharness.write_token(state_dir / "cloud.token", cloudharness.enroll(storage))
    running = cloudharness.ServerThread(create_app(storage, max_wait_s=0.2, poll_s=0.05)).start()
    yield running
    running.stop()


def child(state_dir: Path, url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.sync.crash_child", str(state_dir), url],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def acked(state_dir: Path) -> tuple[int, int]:
    ledger = open_ledger(state_dir, "sim-1")
    try:
        state = ledger.sync_state()
        return state.acked_seq, state.last_seq
    finally:
        ledger.close()


@pytest.mark.parametrize(
    ("point", "cloud_holds_at_kill"),
    [(Fault.HOLD_REQUEST, 0), (Fault.HOLD_REPLY, 500)],
    ids=["before-send", "after-commit"],
)
def test_ok__a_killed_client_loses_and_doubles_nothing(
    server: cloudharness.ServerThread,
    storage: Storage,
    ledger: Ledger,
    state_dir: Path,
    point: Fault,
    cloud_holds_at_kill: int,
) -> None:
    cloudharness.fill_ledger(ledger, 1_200)
    mine = sorted(event["event_id"] for event in cloudharness.wire_events(ledger, 0, 2_000))
    ledger.close()
    with FaultyProxy(server.port, FaultPlan(script=[point], path_filter="/events")) as proxy:
        process = child(state_dir, proxy.url)
        try:
            assert proxy.held.wait(30), "the client never reached the crash point"
            os.kill(process.pid, signal.SIGKILL)
        finally:
            process.wait(10)
        assert process.returncode == -signal.SIGKILL
        assert len(cloudharness.cloud_event_ids(storage)) == cloud_holds_at_kill
        assert acked(state_dir) == (0, 1_200)  # the ack had not been recorded: the crash point holds
        again = child(state_dir, proxy.url)
        _, stderr = again.communicate(timeout=90)
        assert again.returncode == 0, stderr.decode()
    held = cloudharness.cloud_event_ids(storage)
    assert len(held) == len(set(held))
    assert sorted(held) == mine
    assert acked(state_dir) == (1_200, 1_200)
