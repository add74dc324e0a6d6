"""image/stage-cabinet, the pi-gen stage of the Raspberry Pi image (docs/deployment.md): its files are
sound, though the image itself is not built here."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from cabinetd.config import CabinetSection

ROOT = Path(__file__).resolve().parents[2]
STAGE = ROOT / "image" / "stage-cabinet"
SCRIPTS = sorted(STAGE.rglob("*.sh"))
DATA_LABEL = "cabinet-data"
# A Debian package name (Policy 5.6.1).
PACKAGE_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]+")


def _fstab_line() -> list[str]:
    found = re.findall(r'echo "(LABEL=\S+\s+.*)"', (STAGE / "01-read-only" / "00-run.sh").read_text())
    assert len(found) == 1, found
    return found[0].split()


def test_ok__the_stage_has_what_pi_gen_runs() -> None:
    # pi-gen runs a stage's prerun.sh and each substage's NN-run.sh only when executable, and exports
    # an image after a stage that has EXPORT_IMAGE.
    assert (STAGE / "EXPORT_IMAGE").is_file()
    assert [path.relative_to(STAGE).as_posix() for path in SCRIPTS] == [
        "00-cabinet/01-run.sh",
        "01-read-only/00-run.sh",
        "prerun.sh",
    ]
    for script in [*SCRIPTS, STAGE / "01-read-only" / "files" / "cabinet-data-setup"]:
        assert script.stat().st_mode & 0o111, f"{script} is not executable"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.relative_to(STAGE).as_posix())
def test_ok__scripts_are_valid_shell(script: Path) -> None:
    bash = shutil.which("bash")
    assert bash is not None
    done = subprocess.run([bash, "-n", str(script)], capture_output=True, text=True, check=False)
    assert (done.returncode, done.stderr) == (0, "")


def test_ok__the_data_partition_setup_is_valid_shell() -> None:
    done = subprocess.run(
        ["sh", "-n", str(STAGE / "01-read-only" / "files" / "cabinet-data-setup")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.relative_to(STAGE).as_posix())
def test_ok__every_file_a_script_names_exists(script: Path) -> None:
    for name in re.findall(r"\bfiles/[\w./*-]+", script.read_text()):
        if "*" in name:  # the packages a release build puts there: their directory exists
            assert (script.parent / name).parent.is_dir(), f"{script.name}: {name}"
        elif name.endswith("/"):
            assert (script.parent / name).is_dir(), f"{script.name}: {name}"
        else:
            assert (script.parent / name).is_file(), f"{script.name}: {name}"


def test_ok__package_lists() -> None:
    lists = sorted(STAGE.rglob("00-packages*"))
    assert lists
    named: set[str] = set()
    for path in lists:
        for line in path.read_text().split():
            assert PACKAGE_NAME.fullmatch(line), f"{path}: {line!r}"
            named.add(line)
    # The kiosk's compositor, browser and CJK font, the GPIO library, the read-only root, sfdisk.
    assert {"cage", "chromium", "fonts-wqy-microhei", "python3-lgpio", "overlayroot", "fdisk"} <= named


def test_ok__the_data_partition_is_where_the_daemon_keeps_its_ledger() -> None:
    source, mount_point, fs_type, options, *_ = _fstab_line()
    assert source == f"LABEL={DATA_LABEL}"
    assert fs_type == "ext4"
    assert "ro" not in options.split(",")
    config = tomllib.loads((ROOT / "config" / "cabinetd.toml").read_text())
    assert Path(mount_point) == CabinetSection.model_fields["state_dir"].default
    assert Path(mount_point) == Path(config["cabinet"]["state_dir"])
    # The first boot makes a partition of that label, before the local file systems are mounted.
    setup = (STAGE / "01-read-only" / "files" / "cabinet-data-setup").read_text()
    assert f"LABEL={DATA_LABEL}\n" in setup
    unit = (STAGE / "01-read-only" / "files" / "cabinet-data.service").read_text()
    assert f"ConditionPathExists=!/dev/disk/by-label/{DATA_LABEL}\n" in unit
    assert "Before=local-fs-pre.target\n" in unit
    # No daemon without it: a ledger on the RAM overlay would be lost at the next power cut.
    drop_in = (STAGE / "01-read-only" / "files" / "cabinetd-data-partition.conf").read_text()
    assert f"RequiresMountsFor={mount_point}\n" in drop_in


def test_ok__the_root_is_read_only_but_not_the_data_partition() -> None:
    conf = (STAGE / "01-read-only" / "files" / "overlayroot.local.conf").read_text()
    settings = [line for line in conf.splitlines() if line and not line.startswith("#")]
    # recurse=0 keeps the other mounts (the data partition) out of the RAM overlay.
    assert settings == ['overlayroot="tmpfs:recurse=0"']
    run = (STAGE / "01-read-only" / "00-run.sh").read_text()
    assert "/etc/overlayroot.local.conf" in run
    assert "update-initramfs" in run
    # The root is not expanded over the space the data partition takes.
    assert "s# init=/usr/lib/raspberrypi-sys-mods/firstboot##" in run
