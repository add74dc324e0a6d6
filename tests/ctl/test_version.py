"""`cabinetctl version`: the package's version when run from the package, the project's otherwise."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from cabinetd import __version__, release
from cabinetd.ctl import main
from cabinetd.ctl.client import EXIT_OK


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


def test_ok__text_and_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # No daemon anywhere: the command reads this computer only.
    socket = str(tmp_path / "control.sock")
    assert main(["--socket", socket, "version"]) == EXIT_OK
    assert capsys.readouterr().out == (
        f"installed    {__version__} (from the source tree)\noffered      none\nlast update  none\n"
    )
    assert main(["--socket", socket, "--json", "version"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out) == {
        "installed": __version__,
        "source": "project",
        "offered": None,
        "last_update": None,
    }
