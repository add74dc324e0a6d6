"""`cabinetd-update` as cabinetd-update.service runs it: the daemon's configuration read for the
updates directory, the release key, the bound and the health endpoint."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.updater.rig import Rig

ROOT = Path(__file__).resolve().parents[2]
MAIN = "import sys; from cabinetd.updater.cli import main; sys.exit(main(sys.argv[1:]))"


def run_helper(rig: Rig, *args: str) -> subprocess.CompletedProcess[str]:
    config_dir = rig.base / "etc"
    (config_dir / "conf.d").mkdir(parents=True, exist_ok=True)
    (config_dir / "conf.d" / "50-updates.toml").write_text(
        f'[api]\nport = {rig.port}\n\n[updates]\ndirectory = "{rig.updates}"\nrelease_key = "{rig.public_key}"\n'
        "healthy_within_s = 10\n"
    )
    argv = [sys.executable, "-c", MAIN, "--config", str(ROOT / "config" / "sim.toml"), *args]
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "CABINETD_CONFIG_DIR": str(config_dir)},
        timeout=120,
        check=False,
    )


def test_ok__the_console_script_installs_a_release(rig: Rig) -> None:
    rig.hand_over(rig.build("1.1"), "rel-11", "1.1")
    done = run_helper(rig, f"--state-dir={rig.state}", f"--dpkg-root={rig.root}")
    assert done.returncode == 0, done.stderr
    assert rig.outcome()["outcome"] == "installed"
    assert rig.installed() == ("1.1", "ii ")
    assert "INFO cabinetd.updater.install: release rel-11: installed" in done.stderr


def test_fail__the_console_script_without_its_updates_directory(rig: Rig) -> None:
    rig.updates.rmdir()
    done = run_helper(rig, f"--state-dir={rig.state}", f"--dpkg-root={rig.root}")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        f"ERROR cabinetd-update: cannot open the updates directory {rig.updates}: No such file or directory"
    )
