"""The update helper's run (cabinetd/updater/install.py) against the real dpkg on a scratch tree, a
systemctl that answers for the installed package's daemon, and a health endpoint on loopback."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from cabinetd.updater.install import handle
from cabinetproto.releasesig import generate_key
from tests.updater.rig import ManualWaitClock, Rig


def left_in(rig: Rig) -> set[str]:
    return {path.name for path in rig.updates.iterdir()}


def test_ok__nothing_to_do_without_a_request(rig: Rig) -> None:
    assert handle(rig.installer(ManualWaitClock())) is None
    assert left_in(rig) == set()
    assert rig.dpkg_installs() == []


def test_ok__a_good_release_is_installed(rig: Rig) -> None:
    rig.hand_over(rig.build("1.1"), "rel-11", "1.1")
    clock = ManualWaitClock()
    outcome = handle(rig.installer(clock))
    assert outcome == rig.outcome()
    assert {key: value for key, value in outcome.items() if key != "finished_at"} == {
        "release": "rel-11",
        "version": "1.1",
        "from_version": "1.0",
        "outcome": "installed",
        "reason": "",
    }
    assert rig.installed() == ("1.1", "ii ")
    assert rig.behaviour() == "starts"
    # The kept package was made (dpkg-repack), then the release's own copy installed.
    assert rig.dpkg_installs() == ["rel-11.deb"]
    assert rig.systemctl_log.read_text().splitlines() == ["restart cabinetd.service", "is-active cabinetd.service"]
    assert clock.slept == 0
    # The handoff's files are gone; the outcome is the daemon's to read and rename.
    assert left_in(rig) == {"outcome.json"}
    made = (rig.updates / "outcome.json").stat()
    owner = rig.updates.stat()
    assert (made.st_uid, made.st_gid, made.st_mode & 0o777) == (owner.st_uid, owner.st_gid, 0o640)
    # Nothing of the attempt is kept once the outcome is written.
    assert sorted(path.name for path in rig.state.iterdir()) == []


def test_ok__a_downgrade_the_request_allows(rig: Rig) -> None:
    rig.install_now(rig.build("1.2"))
    rig.hand_over(rig.build("1.1"), "rel-11", "1.1", allow_downgrade=True)
    outcome = handle(rig.installer(ManualWaitClock()))
    assert outcome is not None
    assert (outcome["outcome"], outcome["from_version"], outcome["reason"]) == ("installed", "1.2", "")
    assert rig.installed() == ("1.1", "ii ")


def _tamper(rig: Rig) -> None:
    package = rig.updates / "rel-11.deb"
    package.write_bytes(package.read_bytes() + b"\0")


def _tamper_and_rehash(rig: Rig) -> None:
    # The daemon's request agrees with the tampered bytes: only the signature catches it.
    _tamper(rig)
    request = json.loads((rig.updates / "request.json").read_text())
    request["sha256"] = hashlib.sha256((rig.updates / "rel-11.deb").read_bytes()).hexdigest()
    (rig.updates / "request.json").write_text(json.dumps(request))


def _link_package(rig: Rig) -> None:
    package = rig.updates / "rel-11.deb"
    target = rig.base / "elsewhere.deb"
    package.rename(target)
    package.symlink_to(target)


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("tampered", "sha256: rel-11.deb has sha256 {tampered}, the request says {sha256}"),
        (
            "tampered and rehashed",
            "signature: rel-11.deb.sig: the signature does not verify with the release key ({key})",
        ),
        ("wrong key", "signature: rel-11.deb.sig: the signature does not verify with the release key ({key})"),
        ("downgrade", "version: 0.9 is older than the installed 1.0 and the request does not allow a downgrade"),
        ("same version", "version: cabinetd 1.0 is installed already"),
        ("other package", "package: rel-11.deb is the package 'cabinet-other', not 'cabinetd'"),
        ("version mismatch", "version: rel-11.deb is version 1.1, the request says 1.2"),
        ("linked package", "package: {updates}/rel-11.deb: cannot open: Too many levels of symbolic links"),
    ],
)
def test_fail__refused_by_the_helper_itself(rig: Rig, case: str, reason: str) -> None:
    version = {"downgrade": "0.9", "same version": "1.0"}.get(case, "1.1")
    deb = rig.build(version, package="cabinet-other" if case == "other package" else "cabinetd")
    key = None
    if case == "wrong key":
        key = rig.base / "other-key"
        key.write_bytes(generate_key()[0])
    request = rig.hand_over(deb, "rel-11", "1.2" if case == "version mismatch" else version, key=key)
    tamper = {"tampered": _tamper, "tampered and rehashed": _tamper_and_rehash, "linked package": _link_package}
    if case in tamper:
        tamper[case](rig)
    tampered = hashlib.sha256((rig.updates / "rel-11.deb").read_bytes()).hexdigest()

    outcome = handle(rig.installer(ManualWaitClock()))

    assert outcome is not None
    expected = reason.format(tampered=tampered, sha256=request["sha256"], key=rig.public_key, updates=rig.updates)
    assert (outcome["outcome"], outcome["reason"]) == ("refused", expected)
    assert (outcome["from_version"], outcome["version"]) == ("1.0", request["version"])
    # dpkg never installed anything, nothing was restarted, and the handoff is cleaned up.
    assert rig.dpkg_installs() == []
    assert not rig.systemctl_log.exists()
    assert rig.installed() == ("1.0", "ii ")
    assert left_in(rig) == {"outcome.json"}


def test_fail__an_unreadable_request_is_refused(rig: Rig) -> None:
    (rig.updates / "request.json").write_text('{"release": "rel-11", "package": "../../etc/shadow"}')
    outcome = handle(rig.installer(ManualWaitClock()))
    assert outcome is not None
    assert (outcome["outcome"], outcome["reason"]) == (
        "refused",
        f"request: {rig.updates}/working.json: package '../../etc/shadow' does not match "
        r"^[A-Za-z0-9][A-Za-z0-9._+~-]{0,127}$",
    )
    assert left_in(rig) == {"outcome.json"}
    assert rig.dpkg_installs() == []


@pytest.mark.parametrize("behaviour", ["fails", "stalls"])
def test_fail__a_daemon_that_does_not_come_up_is_rolled_back(rig: Rig, behaviour: str) -> None:
    rig.hand_over(rig.build("1.1", behaviour), "rel-11", "1.1")
    clock = ManualWaitClock()
    outcome = handle(rig.installer(clock))
    assert outcome is not None
    why = {
        "fails": (
            "cabinetd.service is activating (`systemctl restart cabinetd.service` exited with 1: Job for "
            "cabinetd.service failed because the control process exited with error code. / See "
            '"systemctl status cabinetd.service" and "journalctl -xeu cabinetd.service" for details.)'
        ),
        "stalls": f'http://127.0.0.1:{rig.port}/health answered 503 {{"status": "stalled", "stalled": ["bus:main"]}}',
    }[behaviour]
    assert (outcome["outcome"], outcome["from_version"], outcome["reason"]) == (
        "rolled_back",
        "1.0",
        f"health: cabinetd 1.1 was not active and healthy within 10 s: {why}; rolled back to 1.0",
    )
    # The kept package (dpkg-repack's, in the helper's own directory) is installed again and starts.
    assert rig.installed() == ("1.0", "ii ")
    assert rig.behaviour() == "starts"
    assert rig.dpkg_installs() == ["rel-11.deb", "cabinetd_1.0_all.deb"]
    assert clock.slept == 10
    assert left_in(rig) == {"outcome.json"}


def test_fail__a_release_dpkg_cannot_configure_is_rolled_back(rig: Rig) -> None:
    """A release that needs a package the cabinet lacks: dpkg unpacks it, cannot configure it, and
    says why; the kept package goes back on."""
    rig.hand_over(rig.build("1.1", depends="cabinet-missing-library"), "rel-11", "1.1")
    outcome = handle(rig.installer(ManualWaitClock()))
    assert outcome is not None
    copy = rig.state / "incoming" / "rel-11.deb"
    assert (outcome["outcome"], outcome["reason"]) == (
        "rolled_back",
        f"install: `dpkg --root={rig.root} --force-confdef --force-confold -i {copy}` exited with 1: "
        "dpkg: dependency problems prevent configuration of cabinetd: / cabinetd depends on "
        "cabinet-missing-library; however: / Package cabinet-missing-library is not installed. / "
        "dpkg: error processing package cabinetd (--install): / dependency problems - leaving unconfigured / "
        "Errors were encountered while processing: / cabinetd; rolled back to 1.0",
    )
    assert rig.installed() == ("1.0", "ii ")
    assert rig.dpkg_installs() == ["rel-11.deb", "cabinetd_1.0_all.deb"]


def _killed_helper(rig: Rig) -> None:
    """A helper run in a child process that the fake systemctl kills."""
    killed = os.fork()
    if killed == 0:
        try:
            handle(rig.installer(ManualWaitClock()))
        finally:
            os._exit(0)
    _, status = os.waitpid(killed, 0)
    assert os.WIFSIGNALED(status), status


def test_ok__a_helper_killed_mid_install_is_finished_by_the_next(rig: Rig) -> None:
    """The helper dies after dpkg installed the release (at its restart); the next start finds
    working.json and its own attempt, installs again and sees the daemon come up."""
    rig.hand_over(rig.build("1.1"), "rel-11", "1.1")
    rig.crash_at_restart(0)
    _killed_helper(rig)
    assert left_in(rig) == {"rel-11.deb", "rel-11.deb.sig", "working.json"}
    assert rig.installed() == ("1.1", "ii ")
    attempt = json.loads((rig.state / "attempt.json").read_text())
    assert (attempt["phase"], attempt["from_version"], attempt["starts"]) == ("installing", "1.0", 1)

    outcome = handle(rig.installer(ManualWaitClock()))

    assert outcome is not None
    assert (outcome["outcome"], outcome["from_version"], outcome["reason"]) == ("installed", "1.0", "")
    assert rig.dpkg_installs() == ["rel-11.deb", "rel-11.deb"]
    assert left_in(rig) == {"outcome.json"}


def test_ok__a_helper_killed_mid_rollback_is_rolled_back_by_the_next(rig: Rig) -> None:
    """1.1 never comes up; the helper dies at the rollback's restart; the next one goes straight on
    with the rollback, without installing 1.1 again."""
    rig.hand_over(rig.build("1.1", "fails"), "rel-11", "1.1")
    rig.crash_at_restart(1)
    _killed_helper(rig)
    attempt = json.loads((rig.state / "attempt.json").read_text())
    assert (attempt["phase"], attempt["starts"]) == ("rolling_back", 1)

    outcome = handle(rig.installer(ManualWaitClock()))

    assert outcome is not None
    assert outcome["outcome"] == "rolled_back"
    assert outcome["reason"] == attempt["reason"] + "; rolled back to 1.0"
    assert str(outcome["reason"]).startswith("health: cabinetd 1.1 was not active and healthy within 10 s: ")
    assert rig.installed() == ("1.0", "ii ")
    assert rig.dpkg_installs() == ["rel-11.deb", "cabinetd_1.0_all.deb", "cabinetd_1.0_all.deb"]
    assert left_in(rig) == {"outcome.json"}


def test_fail__a_helper_that_keeps_dying_gives_up_and_rolls_back(rig: Rig) -> None:
    rig.hand_over(rig.build("1.1"), "rel-11", "1.1")
    for _ in range(3):
        rig.crash_at_restart(0)
        _killed_helper(rig)
    assert json.loads((rig.state / "attempt.json").read_text())["starts"] == 3

    outcome = handle(rig.installer(ManualWaitClock()))

    assert outcome is not None
    assert (outcome["outcome"], outcome["reason"]) == (
        "rolled_back",
        "install: the helper stopped 3 times installing 1.1; rolled back to 1.0",
    )
    assert rig.installed() == ("1.0", "ii ")
