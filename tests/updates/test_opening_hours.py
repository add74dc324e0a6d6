"""`[updates] opening_hours`: its format, its errors (named by key path), and which times are open."""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path

import pytest

from cabinetd import configfile
from cabinetd.config import UpdatesSection
from cabinetd.configfile import ConfigError
from cabinetd.openinghours import HoursError, OpeningHours
from tests.flows.rig import ROOT


@pytest.mark.parametrize(
    ("hours", "at", "open_"),
    [
        ("08:00-22:00", time(7, 59), False),
        ("08:00-22:00", time(8, 0), True),
        ("08:00-22:00", time(21, 59), True),
        ("08:00-22:00", time(22, 0), False),
        ("08:00-12:30, 14:00-21:00", time(13, 0), False),
        ("08:00-12:30, 14:00-21:00", time(14, 30), True),
        ("18:00-02:00", time(1, 0), True),
        ("18:00-02:00", time(3, 0), False),
        ("10:00-24:00", time(23, 59), True),
        ("00:00-24:00", time(4, 0), True),
    ],
)
def test_ok__open_or_closed(hours: str, at: time, open_: bool) -> None:
    assert OpeningHours.parse(hours).open_at(at) is open_


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        ("8:00-22:00", "'8:00-22:00' is not a range of opening hours like '08:00-22:00'"),
        ("08:00-25:00", "'08:00-25:00': hours run from 00:00 to 24:00"),
        ("08:00-24:30", "'08:00-24:30': hours run from 00:00 to 24:00"),
        ("08:00-08:00", "'08:00-08:00' starts where it ends; write 00:00-24:00 for a store open all day"),
        ("08:00-22:00,", "'' is not a range of opening hours like '08:00-22:00'"),
    ],
)
def test_fail__not_opening_hours(hours: str, message: str) -> None:
    with pytest.raises(HoursError) as raised:
        OpeningHours.parse(hours)
    assert str(raised.value) == message


def test_fail__the_config_error_names_the_file_and_key(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text('[updates]\nopening_hours = "8-22"\n')
    with pytest.raises(ConfigError) as raised:
        configfile.load([ROOT / "config" / "sim.toml", site])
    assert (
        str(raised.value) == f"{site}: updates.opening_hours: '8-22' is not a range of opening hours like '08:00-22:00'"
    )


def test_ok__every_updates_key_is_documented() -> None:
    documented = (ROOT / "docs" / "configuration.md").read_text()
    for key in UpdatesSection.model_fields:
        assert re.search(rf"^\| `updates\.{key}` \|", documented, re.M), key
