"""A cabinet installs without the fleet service's dependencies, and each side loads only its own."""

from __future__ import annotations

import ast
import configparser
import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OWN = {"cabinetd", "cabinetcloud", "cabinetproto"}


def _requirements(section: str) -> set[str]:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    text = config["options"]["install_requires"] if section == "" else config["options.extras_require"][section]
    names = {re.split(r"[\[<>=~! ]", line.strip(), maxsplit=1)[0].lower() for line in text.splitlines() if line.strip()}
    return {name.replace("_", "-") for name in names}


def _third_party_imports(package: str) -> set[str]:
    found: set[str] = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return {name for name in found if name not in OWN and name not in sys.stdlib_module_names}


def _with_their_dependencies(names: set[str]) -> set[str]:
    # A module of pydantic_core is installed by pydantic; asking for pydantic is enough.
    out = set(names)
    for name in names:
        for requirement in importlib.metadata.requires(name) or []:
            if "extra ==" not in requirement:
                out.add(re.split(r"[\[<>=~!; (]", requirement, maxsplit=1)[0].lower().replace("_", "-"))
    return out


def _distributions(modules: set[str]) -> set[str]:
    providers = importlib.metadata.packages_distributions()
    return {dist.lower().replace("_", "-") for module in modules for dist in providers.get(module, [module])}


@pytest.mark.parametrize(
    ("packages", "sections"),
    [
        (("cabinetd", "cabinetproto"), ("",)),
        (("cabinetcloud", "cabinetproto"), ("", "cloud")),
    ],
)
def test_ok__every_import_is_installed_by_the_side_that_needs_it(
    packages: tuple[str, ...], sections: tuple[str, ...]
) -> None:
    allowed = _with_their_dependencies(set().union(*(_requirements(section) for section in sections)))
    needed = _distributions(set().union(*(_third_party_imports(package) for package in packages)))
    assert needed - allowed == set()


def test_ok__the_cabinet_does_not_require_the_cloud_server_side() -> None:
    assert _requirements("") & {"fastapi", "sqlalchemy", "psycopg"} == set()
    assert {"fastapi", "sqlalchemy", "psycopg"} <= _requirements("cloud")


def _loaded_after(statement: str) -> set[str]:
    script = f"import sys\n{statement}\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True, cwd=ROOT)
    return set(out.stdout.split())


@pytest.mark.slow  # a fresh interpreter importing the whole side
def test_ok__a_cabinet_loads_nothing_of_the_cloud() -> None:
    loaded = _loaded_after("import cabinetd.__main__, cabinetd.cabinet, cabinetd.ctl")
    assert loaded & {"cabinetcloud", "fastapi", "sqlalchemy", "psycopg"} == set()


@pytest.mark.slow  # a fresh interpreter importing the whole side
def test_ok__the_cloud_loads_nothing_of_the_cabinet() -> None:
    loaded = _loaded_after("import cabinetcloud.__main__, cabinetcloud.app")
    assert loaded & {"cabinetd", "transitions", "sqlite_utils", "gpiozero", "serial", "usb"} == set()
