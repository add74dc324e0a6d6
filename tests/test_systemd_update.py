"""systemd/cabinetd-update.path and .service: the update helper's units (docs/packaging.md, "The update
helper"), and how the package installs them, the helper's tool and the release key."""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path

import pytest

from cabinetd.config import UpdatesSection
from cabinetd.updater.cli import STATE_DIR
from cabinetd.updater.handoff import REQUEST, WORKING
from cabinetproto.releasesig import load_public_key
from tests.conftest import require_command
from tests.test_systemd import ROOT, SYSTEMD, run, value, values

PATH_UNIT = SYSTEMD / "cabinetd-update.path"
SERVICE = SYSTEMD / "cabinetd-update.service"
# Root, running dpkg: what is left after everything dpkg allows is closed (2.6 when written).
MAX_HELPER_EXPOSURE = 3.0


def _units_with_a_stub_helper(dest: Path) -> Path:
    stub = dest / "bin" / "cabinetd-update"
    stub.parent.mkdir(parents=True)
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    helper = value(SERVICE, "Service", "ExecStart")
    (dest / SERVICE.name).write_text(SERVICE.read_text().replace(f"ExecStart={helper}", f"ExecStart={stub}"))
    (dest / PATH_UNIT.name).write_text(PATH_UNIT.read_text())
    return dest


@pytest.mark.parametrize("name", [PATH_UNIT.name, SERVICE.name])
def test_ok__verify(name: str, tmp_path: Path) -> None:
    analyze = require_command("systemd-analyze")
    units = _units_with_a_stub_helper(tmp_path)
    result = run([analyze, "verify", "--man=no", "--recursive-errors=no", str(units / name)])
    assert result.stderr == "", result.stderr
    assert result.returncode == 0, result.stdout


def test_ok__helper_exposure() -> None:
    analyze = require_command("systemd-analyze")
    result = run([analyze, "security", "--offline=true", "--no-pager", str(SERVICE)])
    assert result.stderr == "", result.stderr
    found = re.search(r"Overall exposure level for cabinetd-update.service: (\d+\.\d+)", result.stdout)
    assert found, result.stdout
    print(f"cabinetd-update.service exposure: {found.group(1)}")
    assert float(found.group(1)) <= MAX_HELPER_EXPOSURE, result.stdout


def test_ok__the_path_unit_watches_the_handoff() -> None:
    directory = UpdatesSection().directory
    assert value(PATH_UNIT, "Path", "PathExists") == str(directory / REQUEST)
    assert value(PATH_UNIT, "Path", "Unit") == SERVICE.name
    assert value(PATH_UNIT, "Install", "WantedBy") == "paths.target"
    # Started on a request, or at boot after a helper that stopped mid-install.
    assert values(SERVICE, "Unit", "ConditionPathExists") == [f"|{directory / REQUEST}", f"|{directory / WORKING}"]
    assert value(SERVICE, "Install", "WantedBy") == "multi-user.target"


def test_ok__the_helper_service() -> None:
    assert value(SERVICE, "Service", "Type") == "oneshot"
    assert values(SERVICE, "Service", "User") == []  # root: it runs dpkg
    assert value(SERVICE, "Service", "TimeoutStartSec") == "infinity"
    assert value(SERVICE, "Service", "StateDirectory") == STATE_DIR.name
    assert value(SERVICE, "Service", "StateDirectoryMode") == "0700"
    assert value(SERVICE, "Service", "UMask") == "0022"
    # Ordering against the daemon would make the helper wait on itself when it restarts it.
    for key in ("Before", "After", "Requires", "Wants", "BindsTo"):
        assert not any("cabinetd.service" in line for line in values(SERVICE, "Unit", key)), key
    # The helper's console script, from the package's venv.
    helper = Path(shlex.split(value(SERVICE, "Service", "ExecStart"))[0])
    assert helper.parent == Path("/usr/lib/cabinetd/venv/bin")
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    scripts = dict(line.split(" = ") for line in setup["options.entry_points"]["console_scripts"].strip().splitlines())
    assert scripts[helper.name] == "cabinetd.updater.cli:main"


def test_ok__the_package_installs_the_helper() -> None:
    debian = ROOT / "debian"
    for unit in (PATH_UNIT, SERVICE):
        link = debian / f"cabinetd.{unit.name}"
        assert link.is_symlink(), link
        assert link.resolve() == unit.resolve(), link
    rules = (debian / "rules").read_text()
    # dpkg never starts, stops nor restarts the helper's service: the helper is what runs dpkg.
    assert "--name=cabinetd-update --no-start --no-stop-on-upgrade cabinetd-update.service" in rules
    assert "--name=cabinetd-update --no-stop-on-upgrade cabinetd-update.path" in rules
    assert "debian/cabinetd/usr/share/cabinetd/release-key.pub" in rules
    control = (debian / "control").read_text()
    assert re.search(r"^Depends:(?:.*\n\s+)*.*dpkg-repack", control, re.MULTILINE)
    makefile = (ROOT / "Makefile").read_text()
    assert "dpkg-repack" in makefile.split("SYSTEM_PACKAGES :=", 1)[1].split("\n\n", 1)[0]
    assert UpdatesSection().release_key == Path("/usr/share/cabinetd/release-key.pub")


def test_ok__the_default_release_key_is_an_ed25519_public_key() -> None:
    default = re.search(r"^RELEASE_KEY_PUB \?= (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert default, "RELEASE_KEY_PUB has no default in the Makefile"
    load_public_key(ROOT / default.group(1))
