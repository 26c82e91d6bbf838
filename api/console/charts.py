"""Charts as inline SVG drawn on the server by pygal, each with its numbers as a table.

pygal writes the SVG (axes, bars, lines, dots, legends) with its styles inside; the console adds nothing from
elsewhere: no pygal script is referenced (``js=[]``) and the small inline configuration script pygal writes
is removed (the console's pages run only their own scripts).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pygal
from markupsafe import Markup
from pygal.style import Style

PALETTE = ("#2f6690", "#d1495b", "#3a7d44", "#edae49", "#7d5ba6", "#00798c", "#8c6d31", "#e07a5f", "#4a4e69",
           "#66a182", "#c05299", "#5c946e")
STYLE = Style(
    background="transparent", plot_background="#ffffff", foreground="#1f2933", foreground_strong="#1f2933",
    foreground_subtle="#d5dbe1", opacity=".9", opacity_hover="1", colors=PALETTE, guide_stroke_color="#e5e9ee",
    major_guide_stroke_color="#d5dbe1",
    font_family='"Noto Sans CJK SC", "Noto Sans", "DejaVu Sans", sans-serif', title_font_size=15,
    label_font_size=11, major_label_font_size=11, legend_font_size=12, value_font_size=10, tooltip_font_size=11,
)
_SCRIPT = re.compile(r"<script\b.*?</script>", re.S)
_COMMENT = re.compile(r"<!--.*?-->", re.S)
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass
class Chart:
    """A chart's SVG and the same numbers as a table."""

    title: str
    svg: Markup
    columns: list[str]
    rows: list[list[Any]]
    note: str = ""


def _config(**kw: Any) -> dict[str, Any]:
    return {"js": [], "disable_xml_declaration": True, "style": STYLE, "width": 1160, "height": 380,
            "legend_at_bottom": True, "legend_at_bottom_columns": 4, "truncate_legend": 40, "truncate_label": 24,
            "show_minor_x_labels": True, "margin": 12, "spacing": 10, "print_values": False, "no_data_text": "none",
            **kw}


def _svg(chart: Any) -> Markup:
    text = chart.render(is_unicode=True)
    return Markup(_COMMENT.sub("", _SCRIPT.sub("", text)))


def _labels(labels: Sequence[str], **kw: Any) -> dict[str, Any]:
    """Axis options for ``labels``: rotated and thinned out when there are many."""
    if len(labels) > 12:
        every = max(1, len(labels) // 12)
        kw.setdefault("x_label_rotation", 40)
        kw.setdefault("show_minor_x_labels", False)
        kw.setdefault("x_labels_major_every", every)
    return kw


def bars(title: str, x_title: str, labels: Sequence[str], series: Mapping[str, Sequence[float | None]], *,
         stacked: bool = False, y_title: str = "", formatter: Callable[[float], str] | None = None,
         note: str = "", horizontal: bool = False) -> Chart:
    """A bar chart (stacked if asked) of ``series`` over ``labels``; ``horizontal`` for long labels (names)."""
    if horizontal:
        kind = pygal.HorizontalStackedBar if stacked else pygal.HorizontalBar
        rows = len(labels) * (1 if stacked else max(1, len(series) // 2))
        options = {"height": 150 + 34 * max(rows, 2), "truncate_label": 40, "x_title": y_title, "y_title": "",
                   "margin_bottom": 48}  # (room for the legend, which pygal places too low here)
    else:
        kind = pygal.StackedBar if stacked else pygal.Bar
        options = {"x_title": x_title, "y_title": y_title, **_labels(labels)}
    chart = kind(**_config(title=title, **options))
    if formatter is not None:
        chart.value_formatter = formatter
    chart.x_labels = list(labels)
    for name, values in series.items():
        chart.add(name, list(values))
    return Chart(title, _svg(chart), [x_title, *series], _table(labels, series), note)


def lines(title: str, x_title: str, labels: Sequence[str], series: Mapping[str, Sequence[float | None]], *,
          y_title: str = "", note: str = "", percent: bool = False) -> Chart:
    """A line chart of ``series`` over ``labels`` (values 0..1 shown as percentages if ``percent``)."""
    extra: dict[str, Any] = {"range": (0, 1)} if percent else {}
    chart = pygal.Line(**_config(title=title, x_title=x_title, y_title=y_title, dots_size=3, allow_interruptions=True,
                                 **extra, **_labels(labels)))
    if percent:
        chart.value_formatter = lambda v: f"{100 * v:.0f}%"
    chart.x_labels = list(labels)
    for name, values in series.items():
        chart.add(name, list(values))
    table = _table(labels, series, (lambda v: f"{100 * v:.0f}%") if percent else None)
    return Chart(title, _svg(chart), [x_title, *series], table, note)


def week_hours(title: str, counts: Sequence[Sequence[int]], note: str = "") -> Chart:
    """Counts by weekday (rows, Monday first) and hour (0-23) as a punch card."""
    chart = pygal.Dot(**_config(title=title, x_title="hour (Beijing time)", height=320, show_legend=False,
                                x_label_rotation=0))
    chart.x_labels = [str(h) for h in range(24)]
    for day, row in zip(WEEKDAYS, counts):
        chart.add(day, [v or None for v in row])
    rows = [[day, *row, sum(row)] for day, row in zip(WEEKDAYS, counts)]
    return Chart(title, _svg(chart), ["day", *[f"{h:02d}" for h in range(24)], "total"], rows, note)


def _table(labels: Sequence[str], series: Mapping[str, Sequence[float | None]],
           fmt: Callable[[float], str] | None = None) -> list[list[Any]]:
    rows = []
    for i, label in enumerate(labels):
        row: list[Any] = [label]
        for values in series.values():
            v = values[i] if i < len(values) else None
            row.append("–" if v is None else (fmt(v) if fmt else (f"{v:g}" if isinstance(v, float) else v)))
        rows.append(row)
    return rows
