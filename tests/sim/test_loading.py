"""The simulator is loaded by a simulated cabinet only: a real one never imports it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _modules_after(statement: str) -> set[str]:
    script = f"import sys\n{statement}\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True, cwd=ROOT)
    return set(out.stdout.split())


@pytest.mark.slow  # a fresh interpreter importing the whole side
def test_ok__a_real_cabinet_does_not_load_the_simulator() -> None:
    loaded = _modules_after("import cabinetd.cabinet, cabinetd.__main__")
    assert {name for name in loaded if name == "cabinetd.sim" or name.startswith("cabinetd.sim.")} == set()
    assert "gpiozero.pins.mock" not in loaded
    assert "cabinetd.cabinet" in loaded, "the import itself must have happened"


@pytest.mark.slow  # a fresh interpreter importing the whole side
def test_ok__a_simulated_cabinet_loads_it() -> None:
    statement = (
        "from cabinetd import configfile\n"
        "from cabinetd.cabinet import Cabinet\n"
        "import tempfile, pathlib\n"
        "tmp = pathlib.Path(tempfile.mkdtemp())\n"
        "site = tmp / 'site.toml'\n"
        "site.write_text(f'[cabinet]\\nstate_dir = \"{tmp}\"\\n[api]\\ncontrol_socket = \"{tmp}/c.sock\"\\n')\n"
        "cabinet = Cabinet(configfile.load([pathlib.Path('config/sim.toml'), site]))\n"
        "cabinet.close()"
    )
    assert "cabinetd.sim.world" in _modules_after(statement)
