"""Charts as inline SVG: nothing in them refers to anywhere, and each names itself for screen readers."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pygal

from cabinetcloud.dashboard import charts

DAYS = [date(2026, 12, 1) + timedelta(days=n) for n in range(14)]


def test_ok__a_chart_is_svg_with_no_script_no_comment_and_no_address() -> None:
    svg = str(charts.daily("Rentals per day", DAYS, [("rentals", list(range(14)))], no_data="none"))
    assert svg.startswith("<svg ")
    assert 'role="img"' in svg
    assert 'aria-label="Rentals per day"' in svg
    assert "<script" not in svg
    assert "<!--" not in svg
    assert re.findall(r"https?://[^\"' )<]+", svg) == ["http://www.w3.org/2000/svg"]  # the namespace, no address
    assert svg.count("<rect") >= 14


def test_fail__pygal_left_to_its_defaults_would_refer_elsewhere() -> None:
    """What the chart module takes out, so that this test of it can fail."""
    chart = pygal.Bar()
    chart.add("rentals", [1, 2])
    svg = chart.render(is_unicode=True)
    assert "<script" in svg
    assert "//kozea.github.io/pygal.js" in svg


def test_ok__a_chart_of_nothing_says_so() -> None:
    svg = str(charts.daily("Rentals per day", [], [("rentals", [])], no_data="No rentals yet"))
    assert "No rentals yet" in svg
