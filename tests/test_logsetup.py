"""Logging: text for people, one JSON object a line for machines, both on stderr."""

from __future__ import annotations

import json
import logging

import pytest

from cabinetd import logsetup


@pytest.fixture(autouse=True)
def keep_root_logger() -> object:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_ok__json_format_is_one_object_a_line(capsys: pytest.CaptureFixture[str]) -> None:
    logsetup.configure("info", "json")
    logging.getLogger("cabinetd.test").info("slot %d: door %s", 7, "opened")
    logging.getLogger("cabinetd.test").debug("not shown at info")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["level"] == "info"
    assert record["logger"] == "cabinetd.test"
    assert record["msg"] == "slot 7: door opened"


def test_ok__text_format_names_level_and_logger(capsys: pytest.CaptureFixture[str]) -> None:
    logsetup.configure("warning", "text")
    logging.getLogger("cabinetd.test").warning("badge reader %s: disconnected", "sim://badge")
    assert capsys.readouterr().err.rstrip().endswith("WARNING cabinetd.test: badge reader sim://badge: disconnected")
