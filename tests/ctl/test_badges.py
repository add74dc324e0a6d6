"""`badge watch`: every badge read while it runs, masked but for the last four characters."""

from __future__ import annotations

import asyncio
import re

import pytest

from cabinetd.api.control import shapes
from cabinetd.api.control.badges import mask
from cabinetd.ctl import main
from cabinetd.ctl.client import EXIT_OK
from tests.ctl.conftest import Ctl


@pytest.mark.parametrize(
    ("badge", "shown"),
    [("0004A1B2C3", "******B2C3"), ("A1B2C3", "**B2C3"), ("12345", "*2345"), ("C3D4", "****"), ("", "")],
)
def test_ok__masked_but_for_the_last_four(badge: str, shown: str) -> None:
    assert mask(badge) == shown


async def _watch(ctl: Ctl, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    """Run `badge watch` for 1.5 s; present badges once it waits for them."""
    capsys.readouterr()
    args = ["--socket", str(ctl.socket), "badge", "watch", "--for", "1.5", *extra]
    watcher = asyncio.create_task(asyncio.to_thread(main, args))
    await ctl.rig.until(lambda: ctl.rig.cabinet.badges.watching > 0)
    for badge in ("A1B2C3", "00FFEEDD99", "D4E5F6"):
        ctl.rig.sim.badge(badge)
        await asyncio.sleep(0.1)  # apart by more than the reader's repeat window
    code = await watcher
    return code, capsys.readouterr().out


async def test_ok__badge_watch_prints_each_read_masked(ctl: Ctl, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = await _watch(ctl, capsys)
    assert code == EXIT_OK
    lines = [re.sub(r"^\d\d:\d\d:\d\d", "HH:MM:SS", line) for line in out.splitlines()]
    assert lines == [
        "watching the badge reader for 1.5 s (Ctrl-C stops)",
        # The ids as the reader gives them (printed on the card: 0010597059, 4293844377, 0013952502).
        "HH:MM:SS      ******7059  anna (Anna, staff)  [sim://badge]",
        "HH:MM:SS      ******4377  not on the roster  [sim://badge]",
        "HH:MM:SS      ******2502  tom (Tom, technician)  [sim://badge]",
        "3 badge reads in 1.5 s",
    ]
    assert "0010597059" not in out
    assert "4293844377" not in out


async def test_ok__badge_watch_json_is_one_read_a_line(ctl: Ctl, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = await _watch(ctl, capsys, "--json")
    assert code == EXIT_OK
    reads = [shapes.BadgeRead.model_validate_json(line) for line in out.splitlines()]
    assert [(r.badge, r.staff, r.role) for r in reads] == [
        ("******7059", "anna", "staff"), ("******4377", None, None), ("******2502", "tom", "technician"),
    ]
    assert [r.seq for r in reads] == sorted(r.seq for r in reads)
