"""`cabinetctl version`: the package's version when run from the package, the project's otherwise."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from cabinetd import __version__, release
from cabinetd.ctl import main
from cabinetd.ctl.client import EXIT_OK
from cabinetd.release import minute
from tests.ctl.conftest import Ctl


def _fake_dpkg_query(bin_dir: Path, script: str) -> None:
    """A dpkg-query on PATH, the lowest layer `release` reaches."""
    bin_dir.mkdir(exist_ok=True)
    tool = bin_dir / "dpkg-query"
    tool.write_text(f"#!/bin/sh\n{script}\n")
    tool.chmod(0o755)


def test_ok__the_package_venv_reports_dpkgs_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_dpkg_query(tmp_path, '[ "$3" = cabinetd ] && printf "0.1.0+fleet.7"')
    monkeypatch.setenv("PATH", str(tmp_path))
    assert release.current(release.PACKAGE_VENV) == release.Release(installed="0.1.0+fleet.7", source="package")


@pytest.mark.parametrize(
    "script",
    [
        "echo 'dpkg-query: no packages found matching cabinetd' >&2; exit 1",  # installed by hand
        "exit 0",  # an empty answer
    ],
)
def test_ok__without_the_package_the_projects_version(
    script: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_dpkg_query(tmp_path, script)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert release.current(release.PACKAGE_VENV) == release.Release(installed=__version__, source="project")


def test_ok__a_machine_without_dpkg_gives_the_projects_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert release.package_version() is None
    assert release.current(release.PACKAGE_VENV).source == "project"


def test_ok__a_checkout_never_asks_dpkg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The package may be installed on a developer's machine: a checkout still reports its own version."""
    _fake_dpkg_query(tmp_path, 'printf "9.9.9"')
    monkeypatch.setenv("PATH", str(tmp_path))
    assert release.current(Path(sys.prefix)) == release.Release(installed=__version__, source="project")


def test_ok__without_a_daemon_the_installed_version_only(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    socket = tmp_path / "control.sock"
    assert main(["--socket", str(socket), "version"]) == EXIT_OK
    unknown = f"unknown: cannot reach cabinetd: no socket at {socket} (is the daemon running?)"
    assert capsys.readouterr().out == (
        f"installed    {__version__} (from the source tree)\noffered      {unknown}\nlast update  {unknown}\n"
    )
    assert main(["--socket", str(socket), "--json", "version"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out) == {
        "installed": __version__,
        "source": "project",
        "offered": None,
        "last_update": None,
        "daemon": f"cannot reach cabinetd: no socket at {socket} (is the daemon running?)",
    }


async def test_ok__a_cabinet_that_never_had_an_offer(ctl: Ctl) -> None:
    said = await ctl("version")
    assert said.out == f"installed    {__version__} (from the source tree)\noffered      none\nlast update  none\n"


async def test_ok__the_offered_release_and_the_last_update_from_the_ledger(ctl: Ctl) -> None:
    updates = ctl.rig.cabinet.updates
    sha = "ab" * 32
    updates.record("update_offered", {"release": "rel-6", "version": "0.0.9", "allow_downgrade": True})
    updates.record("update_refused", {"release": "rel-6", "version": "0.0.9", "reason": "sha256", "detail": "no"})
    updates.record("update_offered", {"release": "rel-7", "version": "0.2.0", "allow_downgrade": False})
    updates.record("update_downloaded", {"release": "rel-7", "version": "0.2.0", "sha256": sha, "size": 10})
    updates.waiting_for = "a person is using the cabinet"
    data = (await ctl("--json", "version")).json()
    offered_at, refused_at = data["offered"]["at"], data["last_update"]["at"]
    assert data == {
        "installed": __version__,
        "source": "project",
        "offered": {
            "release": "rel-7",
            "version": "0.2.0",
            "stage": "downloaded",
            "at": offered_at,
            "waiting_for": "a person is using the cabinet",
        },
        "last_update": {
            "release": "rel-6",
            "version": "0.0.9",
            "outcome": "refused",
            "detail": "sha256: no",
            "at": refused_at,
        },
        "daemon": "answered",
    }
    text = (await ctl("version")).out.splitlines()
    assert text[1] == (
        f"offered      0.2.0 (release rel-7, offered {minute(offered_at)}): downloaded and checked; "
        "waits for a quiet moment to install (a person is using the cabinet)"
    )
    assert text[2] == f"last update  refused 0.0.9 (release rel-6) at {minute(refused_at)}: sha256: no"
