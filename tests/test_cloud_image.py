"""deploy/cloud/Containerfile, the fleet service's OCI image recipe: not built here (no container engine
in CI), so its parts are checked against the project instead: what it copies exists and is the whole
package, it installs the `cloud` extra under the pinned versions, and the command, port and health
check it names are the service's own."""

from __future__ import annotations

import configparser
import json
import shlex
from pathlib import Path

from cabinetcloud.__main__ import _parser
from cabinetcloud.app import create_app
from cabinetcloud.storage import Storage

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "deploy" / "cloud" / "Containerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined and comments dropped."""
    found: list[tuple[str, str]] = []
    pending = ""
    for raw in RECIPE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, rest = line.partition(" ")
        found.append((keyword.upper(), rest.strip()))
    assert not pending, "the recipe ends inside a continued line"
    return found


def args_of(keyword: str) -> list[str]:
    return [rest for key, rest in instructions() if key == keyword]


def setup_cfg() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    return parser


def test_ok__both_stages_use_the_python_the_project_needs() -> None:
    images = [rest.split()[0] for rest in args_of("FROM")]
    assert len(images) == 2
    assert len(set(images)) == 1, "build and run stages on different interpreters"
    required = setup_cfg()["options"]["python_requires"].strip().removeprefix(">=")
    assert images[0].startswith(f"docker.io/library/python:{required}-slim-"), images[0]


def test_ok__it_copies_every_package_of_the_distribution_and_nothing_missing() -> None:
    copied = []
    for rest in args_of("COPY"):
        parts = rest.split()
        if parts[0].startswith("--from="):
            continue
        copied += parts[:-1]
    for source in copied:
        assert (ROOT / source).exists(), f"the recipe copies {source}, which the repository does not have"
    included = setup_cfg()["options.packages.find"]["include"].split()
    assert {name for name in included if "." not in name} <= set(copied)


def test_ok__it_installs_the_cloud_extra_under_the_pinned_versions() -> None:
    run = " ".join(args_of("RUN"))
    assert "--constraint constraints.txt" in run
    assert "'.[cloud]'" in run
    assert "cloud" in setup_cfg()["options.extras_require"]


def test_ok__the_command_port_and_health_check_are_the_services_own(tmp_path: Path) -> None:
    entrypoint = json.loads(args_of("ENTRYPOINT")[0])
    command = json.loads(args_of("CMD")[0])
    scripts = setup_cfg()["options.entry_points"]["console_scripts"]
    assert f"{entrypoint[0]} = cabinetcloud.__main__:main" in scripts
    parsed = _parser().parse_args(command)  # the image's default command, as cabinet-cloud reads it
    assert (parsed.command, parsed.host) == ("serve", "0.0.0.0")
    assert args_of("EXPOSE") == [str(parsed.port)]
    check = args_of("HEALTHCHECK")[0]
    assert f"http://127.0.0.1:{parsed.port}/health" in check
    storage = Storage(f"sqlite:///{tmp_path / 'fleet.sqlite3'}")
    storage.migrate()
    paths = {getattr(route, "path", None) for route in create_app(storage).routes}
    assert "/health" in paths
    storage.dispose()


def test_ok__it_runs_as_an_unprivileged_user_with_its_data_on_a_volume() -> None:
    assert args_of("USER") == ["cabinet-cloud"]
    assert args_of("VOLUME") == ["/var/lib/cabinet-cloud"]
    env = " ".join(args_of("ENV"))
    assert "CABINET_CLOUD_DB=sqlite:////var/lib/cabinet-cloud/fleet.sqlite3" in env
    created = next(rest for rest in args_of("RUN") if "useradd" in rest)
    assert "--system" in shlex.split(created)

