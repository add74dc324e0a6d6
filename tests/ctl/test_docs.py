"""docs/cabinetctl.md agrees with the code: the JSON shapes, the JSON examples, the endpoints, the commands."""

from __future__ import annotations

import re

from starlette.routing import Route

from cabinetd.api.control import shapes
from cabinetd.api.control.answers import Desk
from cabinetd.api.control.app import build_control_app
from cabinetd.api.control.badges import BadgeWatch
from cabinetd.ctl import COMMANDS
from tests.flows.rig import ROOT

MANUAL = (ROOT / "docs" / "cabinetctl.md").read_text()


def _section(title: str) -> str:
    found = re.search(rf"^## {title}\n(.*?)(?=^## )", MANUAL, re.M | re.S)
    assert found is not None, title
    return found[1]


def test_ok__the_json_output_section_is_generated_from_the_shapes() -> None:
    found = re.search(r"<!-- shapes:begin -->\n(.*)\n<!-- shapes:end -->", MANUAL, re.S)
    assert found is not None
    assert found[1] == shapes.describe()


def test_ok__every_json_example_has_its_documented_shape() -> None:
    examples = re.findall(r"<!-- shape: (\w+) -->\n```json\n(.*?)```", MANUAL, re.S)
    assert [name for name, _ in examples] == ["LockTest", "ActionDone", "Status"]
    for name, text in examples:
        model = getattr(shapes, name)
        assert issubclass(model, shapes.Shape)
        model.model_validate_json(text)


def test_ok__the_control_api_table_lists_every_endpoint() -> None:
    desk = Desk(None, None, None, None)  # type: ignore[arg-type]  # routes only, never called
    app = build_control_app(desk, BadgeWatch())
    served = {
        (method, route.path.replace("{slot:int}", "{n}"))
        for route in app.routes
        if isinstance(route, Route)
        for method in (route.methods or set()) - {"HEAD"}
    }
    listed = set(re.findall(r"^\| (GET|POST) `([^`]+)`", _section("CONTROL API"), re.M))
    assert listed == served


def test_ok__the_synopsis_names_every_command() -> None:
    synopsis = _section("SYNOPSIS")
    for command, sub in COMMANDS:
        words = f"cabinetctl {command} {sub}" if sub else f"cabinetctl {command}"
        assert words in synopsis, words
