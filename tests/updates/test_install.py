"""The quiet moment under a test clock, and the update unit's outcome taken in once."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from cabinetd.updates import handoff
from tests.updates.rig import INSTALLED, UpdateRig


async def _downloaded(rig: UpdateRig, release: str = "rel-7", version: str = "0.2.0") -> None:
    package = rig.publish(release, version)
    assert (await rig.updates.offer(rig.command(release, package, version))).ok
    await rig.until(lambda: rig.updates.ready is not None)


def _waiting(rig: UpdateRig) -> str | None:
    return rig.updates.waiting_for


def _request(rig: UpdateRig) -> Path:
    return rig.config.updates.directory / handoff.REQUEST


def _outcome(rig: UpdateRig, **fields: str) -> None:
    body = {
        "release": "rel-7",
        "version": "0.2.0",
        "from_version": INSTALLED,
        "outcome": "installed",
        "reason": "",
        "finished_at": "2026-11-02T03:10:00Z",
        **fields,
    }
    (rig.config.updates.directory / handoff.OUTCOME).write_text(json.dumps(body))


async def test_ok__the_install_waits_for_a_quiet_moment_outside_opening_hours(tmp_path: Path) -> None:
    rig = UpdateRig(tmp_path, opening_hours="08:00-22:00")
    try:
        rig.clock = rig.clock.__class__(rig.clock.now().replace(hour=21, minute=0))
        rig.updates = rig.build()
        await _downloaded(rig)
        updates = rig.updates
        rig.cabinet.session = True
        updates.step()
        assert (_waiting(rig), _request(rig).exists()) == ("a person is using the cabinet", False)
        rig.cabinet.session, rig.cabinet.open_doors = False, (3,)
        updates.step()
        assert (_waiting(rig), _request(rig).exists()) == ("the door of slot 3 is open", False)
        rig.cabinet.open_doors, rig.cabinet.busy_slots = (), (5,)
        updates.step()
        assert _waiting(rig) == "slot 5 is in the middle of a rent or return"
        rig.cabinet.busy_slots = ()
        updates.step()
        assert _waiting(rig) == "the store is open (08:00-22:00); it waits until 22:00"
        assert not _request(rig).exists()
        await rig.clock.advance(3600)  # 22:00: closed
        updates.step()
        updates.step()
        assert (_waiting(rig), _request(rig).exists()) == (None, True)
        assert json.loads(_request(rig).read_text())["requested_at"] == "2026-11-02T22:00:00Z"
        assert rig.types().count("update_installing") == 1
        _request(rig).unlink()  # the unit took it (renamed it to working.json) ...
        (rig.config.updates.directory / handoff.WORKING).write_text("{}")
        updates.step()  # ... and it is not written again
        assert (rig.types().count("update_installing"), _request(rig).exists()) == (1, False)
    finally:
        rig.close()


async def test_ok__the_run_loop_hands_over_on_the_test_clock(updater: UpdateRig) -> None:
    await _downloaded(updater)
    updater.cabinet.session = True
    running = asyncio.create_task(updater.updates.run())
    try:
        await updater.clock.advance(60)
        assert not _request(updater).exists()
        updater.cabinet.session = False
        await updater.clock.advance(5)
        assert _request(updater).exists()
    finally:
        running.cancel()


async def test_ok__the_outcome_is_recorded_once_across_two_starts(updater: UpdateRig) -> None:
    await _downloaded(updater)
    updater.updates.step()
    _request(updater).unlink()
    _outcome(updater)
    await updater.updates.prepare()  # a start after the unit's restart
    assert updater.last("update_installed") == {"release": "rel-7", "version": "0.2.0", "from_version": INSTALLED}
    directory = updater.config.updates.directory
    assert (directory / "outcome-rel-7.json").exists()
    assert not (directory / handoff.OUTCOME).exists()
    # Cut before the rename last time: the same outcome.json is there at the next start.
    (directory / "outcome-rel-7.json").rename(directory / handoff.OUTCOME)
    updater.updates = updater.build()
    await updater.updates.prepare()
    assert updater.types().count("update_installed") == 1
    assert updater.updates.history.last_update is not None
    assert updater.updates.history.last_update.outcome == "installed"


async def test_ok__the_outcome_seen_while_running(updater: UpdateRig) -> None:
    """The unit writes its outcome once the new daemon is healthy: after this daemon's start."""
    await _downloaded(updater)
    updater.updates.step()
    _request(updater).replace(updater.config.updates.directory / handoff.WORKING)
    updater.updates.step()
    assert updater.updates.installing == "rel-7"
    _outcome(updater, outcome="rolled_back", reason="cabinetd.service not active within 120 s")
    (updater.config.updates.directory / handoff.WORKING).unlink()
    updater.updates.step()
    assert updater.last("update_rolled_back") == {
        "release": "rel-7",
        "version": "0.2.0",
        "to_version": INSTALLED,
        "reason": "cabinetd.service not active within 120 s",
    }
    assert updater.updates.installing is None


async def test_ok__a_refusal_by_the_unit_keeps_its_words(updater: UpdateRig) -> None:
    await _downloaded(updater)
    updater.updates.step()
    _outcome(updater, outcome="refused", reason="signature: does not verify with /usr/share/cabinetd/release-key.pub")
    updater.updates.step()
    assert updater.last("update_refused") == {
        "release": "rel-7",
        "version": "0.2.0",
        "reason": "signature",
        "detail": "the update unit: signature: does not verify with /usr/share/cabinetd/release-key.pub",
    }


async def test_fail__an_outcome_that_is_not_one_is_logged_and_left(
    updater: UpdateRig, caplog: pytest.LogCaptureFixture
) -> None:
    await _downloaded(updater)
    updater.updates.step()
    _outcome(updater, outcome="maybe")
    updater.updates.step()
    path = updater.config.updates.directory / handoff.OUTCOME
    assert updater.updates.installing == "rel-7"
    assert f"updates: {path}: outcome 'maybe' is not one of installed, rolled_back, refused" in caplog.text


async def test_ok__a_release_downloaded_before_a_restart_still_waits_for_its_moment(updater: UpdateRig) -> None:
    await _downloaded(updater)
    updater.updates = updater.build()
    await updater.updates.prepare()
    assert updater.updates.ready is not None
    assert updater.updates.ready.release == "rel-7"
    updater.updates.step()
    assert _request(updater).exists()


async def test_ok__a_download_cut_by_a_restart_is_refused(updater: UpdateRig) -> None:
    updater.publish("rel-7", "0.2.0")
    updater.ledger.append("update_offered", {"release": "rel-7", "version": "0.2.0", "allow_downgrade": False})
    await updater.updates.prepare()
    assert updater.last("update_refused") == {
        "release": "rel-7",
        "version": "0.2.0",
        "reason": "download",
        "detail": "release rel-7: the download was cut by a restart of the cabinet; offer it again",
    }
