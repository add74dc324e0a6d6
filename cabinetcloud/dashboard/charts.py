"""Charts of usage per day as SVG, drawn on the server with pygal and inlined in the page.

pygal's default configuration links its tooltip script from the internet (`js`) and its SVG carries
an inline script and comments naming its web site: the script list is emptied, and the inline script
and comments are taken out of the tree, so a chart refers to nothing anywhere (the page's
Content-Security-Policy would block a script anyway). What a tooltip would say is in each bar's
<title>, which browsers show on hover and screen readers read.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import date
from typing import Final

import pygal
from markupsafe import Markup
from pygal.style import Style

# The page's own colours and fonts (dashboard.css), so a chart reads as part of the page.
STYLE: Final = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#1b1f24",
    foreground_strong="#1b1f24",
    foreground_subtle="#4a5360",
    colors=("#0b5cad", "#1d6b2f", "#a3221b", "#7a4b00"),
    font_family='system-ui, "Noto Sans CJK SC", "WenQuanYi Micro Hei", sans-serif',
    label_font_size=12,
    major_label_font_size=12,
    legend_font_size=13,
    value_font_size=12,
    tooltip_font_size=12,
    no_data_font_size=20,
)


def _without_scripts_or_comments(root: ET.Element) -> None:
    for parent in root.iter():
        for child in list(parent):
            # A comment's tag is the Comment factory, not a name.
            if not isinstance(child.tag, str) or child.tag in ("script", "{http://www.w3.org/2000/svg}script"):
                parent.remove(child)


def daily(
    label: str,
    days: Sequence[date],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    no_data: str,
) -> Markup:
    """Bars per day, one colour per series; `label` names the chart for screen readers."""
    chart = pygal.Bar(
        js=[],
        style=STYLE,
        width=900,
        height=300,
        disable_xml_declaration=True,
        show_legend=len(series) > 1,
        legend_at_bottom=True,
        no_data_text=no_data,
        x_label_rotation=0,
        show_minor_x_labels=len(days) <= 14,
        x_labels_major_every=7 if len(days) > 14 else None,
        print_values=False,
        margin=8,
    )
    chart.x_labels = [day.strftime("%m-%d") for day in days]
    for name, values in series:
        chart.add(name, list(values))
    root = chart.render_tree()
    _without_scripts_or_comments(root)
    root.set("role", "img")
    root.set("aria-label", label)
    return Markup(ET.tostring(root, encoding="unicode"))
