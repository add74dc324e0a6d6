"""The cabinet's side of auth and TLS: its token file, 401s, no token in any log line, verified TLS."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from cabinetcloud.app import create_app
from cabinetcloud.storage import Storage
from cabinetd.ledger import Ledger
from cabinetd.sync.errors import SyncError
from cabinetd.sync.link import read_token
from testbed import cloudharness
from testbed.syncrig import cabinet_config, client_for, run_until
from tests.sync.faulty_transport import FaultyTransport


def test_fail__a_token_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = cloudharness.write_token(tmp_path / "cloud.token", "cab1_secret")
    path.chmod(0o644)
    with pytest.raises(SyncError) as caught:
        read_token(path)
    assert str(caught.value) == f"cloud token file {path}: mode 0644 lets others read it; it must be 0600"
    assert "cab1_secret" not in str(caught.value)


def test_fail__a_missing_token_file_says_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(SyncError) as caught:
        read_token(tmp_path / "cloud.token")
    assert str(caught.value) == (
        f"cloud token file {tmp_path / 'cloud.token'}: missing; enrol the cabinet (cabinet-cloud enroll) "
        "and put its token there"
    )


async def test_ok__the_token_never_reaches_a_log_line(
    sqlite_storage: Storage, ledger: Ledger, state_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cloudharness.seeded(sqlite_storage)
    token = cloudharness.enroll(sqlite_storage)
    transport = FaultyTransport(create_app(sqlite_storage, max_wait_s=0.1, poll_s=0.05))
    cloudharness.fill_ledger(ledger, 20)
    token_file = cloudharness.write_token(state_dir / "cloud.token", "cab1_" + "x" * 43)  # a wrong one first
    client = client_for(cabinet_config(state_dir, "http://cloud.test"), ledger, transport=transport)
    with caplog.at_level(logging.DEBUG):
        await run_until(client, lambda: client.status().last_error is not None)
        assert "401 Unauthorized: missing or unknown cabinet token" in (client.status().last_error or "")
        cloudharness.write_token(token_file, token)  # the operator fixes it: read again after a 401
        await run_until(client, lambda: ledger.sync_state().pending == 0)
    assert caplog.records, "nothing was logged: the check would prove nothing"
    for record in caplog.records:
        assert token not in record.getMessage()
        assert "x" * 43 not in record.getMessage()


@pytest.fixture
def tls_cloud(sqlite_storage: Storage, state_dir: Path, tmp_path: Path) -> Iterator[tuple[int, Path]]:
    cloudharness.seeded(sqlite_storage)
    cloudharness.write_token(state_dir / "cloud.token", cloudharness.enroll(sqlite_storage))
    authority = trustme.CA()
    cert = authority.issue_cert("127.0.0.1", "localhost")
    key_file, cert_file, ca_file = tmp_path / "key.pem", tmp_path / "cert.pem", tmp_path / "ca.pem"
    cert.private_key_pem.write_to_path(str(key_file))
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    authority.cert_pem.write_to_path(str(ca_file))
    server = cloudharness.ServerThread(
        create_app(sqlite_storage, max_wait_s=0.1, poll_s=0.05), ssl_certfile=str(cert_file), ssl_keyfile=str(key_file)
    ).start()
    yield server.port, ca_file
    server.stop()


async def test_ok__tls_is_verified_against_the_configured_ca(
    tls_cloud: tuple[int, Path], ledger: Ledger, state_dir: Path
) -> None:
    port, ca_file = tls_cloud
    cloudharness.fill_ledger(ledger, 5)
    config = cabinet_config(state_dir, f"https://localhost:{port}", ca_bundle=ca_file)
    client = client_for(config, ledger)
    await run_until(client, lambda: ledger.sync_state().pending == 0)


async def test_fail__a_certificate_from_an_unknown_authority_is_refused(
    tls_cloud: tuple[int, Path], ledger: Ledger, state_dir: Path
) -> None:
    port, _ = tls_cloud
    cloudharness.fill_ledger(ledger, 5)
    client = client_for(cabinet_config(state_dir, f"https://localhost:{port}"), ledger)
    await run_until(client, lambda: client.status().last_error is not None)
    assert "CERTIFICATE_VERIFY_FAILED" in (client.status().last_error or "")
    assert ledger.sync_state().pending == 5
