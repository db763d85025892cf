"""The report charts drawn as SVG from a figures dict of indicators(): departures per month, the funnel by state, targets against actual.

One way to draw each chart, for the dashboard, the printable page and the PDF (WeasyPrint draws the same SVG), so the
shapes carry their colours as attributes rather than in a stylesheet. The figures may be fresh from indicators() or a
submitted report's frozen copy read back from JSON (days as ISO text): both are read the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from html import escape
from typing import Any

from workflows.case import STATE_BY_NAME

WIDTH, ROW, LABEL_W, TEXT_W = 640, 26, 190, 110
BAR_FILL, TARGET_STROKE, AXIS = "#b3261e", "#1b5e20", "#999"
TRAININGS = {
    "language_orientation": ("Ngoại ngữ, định hướng", "Language, orientation"),
    "vocational": ("Học nghề", "Vocational"),
    "in_depth": ("Đào tạo chuyên sâu", "In depth"),
}


@dataclass(frozen=True)
class Bar:
    """One bar of a horizontal chart: its value on its own scale, the text beside it, and the target mark if any."""

    key: str
    label: str
    value: float
    text: str
    scale: float
    target: float | None = None


def day_of(value: date | str) -> date:
    """Return a period day given as a date or as ISO text (a frozen report's JSON)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def months_of(start: date | str, end: date | str) -> list[str]:
    """Return every month (YYYY-MM) a period touches, in order."""
    first, last = day_of(start), day_of(end)
    months, year, month = [], first.year, first.month
    while (year, month) <= (last.year, last.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _svg(name: str, title: str, height: int, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
        f'class="chart" data-chart="{name}" role="img" aria-label="{escape(title)}" font-family="DejaVu Sans, sans-serif" '
        f'font-size="12"><title>{escape(title)}</title>{"".join(body)}</svg>'
    )


def columns_svg(name: str, title: str, points: list[tuple[str, str, int]]) -> str:
    """Draw a column per point (key, label, count), the count above each column and every few labels below."""
    top, plot_h, bottom = 20, 160, 24
    peak = max((n for _, _, n in points), default=0) or 1
    step = (WIDTH - 20) / max(len(points), 1)
    every = max(1, -(-len(points) // 12))  # at most about 12 labels under the axis
    body = [f'<line x1="10" y1="{top + plot_h}" x2="{WIDTH - 10}" y2="{top + plot_h}" stroke="{AXIS}"/>']
    for i, (key, label, n) in enumerate(points):
        x, h = 10 + i * step, plot_h * n / peak
        middle = x + step / 2
        body.append(
            f'<g data-key="{escape(key)}" data-value="{n}"><rect x="{x + step * 0.15:.1f}" y="{top + plot_h - h:.1f}" '
            f'width="{step * 0.7:.1f}" height="{h:.1f}" fill="{BAR_FILL}"/>'
            f'<text x="{middle:.1f}" y="{top + plot_h - h - 4:.1f}" text-anchor="middle">{n}</text></g>'
        )
        if i % every == 0:
            body.append(f'<text x="{middle:.1f}" y="{top + plot_h + 16}" text-anchor="middle" font-size="10">{escape(label)}</text>')
    return _svg(name, title, top + plot_h + bottom, body)


def bars_svg(name: str, title: str, bars: list[Bar]) -> str:
    """Draw a horizontal bar per row, each on its own scale, with a target mark where the row has one."""
    span = WIDTH - LABEL_W - TEXT_W - 20
    body = []
    for i, bar in enumerate(bars):
        y, width = 8 + i * ROW, span * min(bar.value / bar.scale, 1) if bar.scale else 0
        mark = ""
        if bar.target is not None and bar.scale:
            tx = LABEL_W + span * min(bar.target / bar.scale, 1)
            mark = f'<line x1="{tx:.1f}" y1="{y - 3}" x2="{tx:.1f}" y2="{y + ROW - 5}" stroke="{TARGET_STROKE}" stroke-width="3"/>'
        body.append(
            f'<g data-key="{escape(bar.key)}" data-value="{bar.value:g}"><text x="{LABEL_W - 8}" y="{y + 14}" text-anchor="end">'
            f'{escape(bar.label)}</text><rect x="{LABEL_W}" y="{y + 2}" width="{width:.1f}" height="{ROW - 10}" fill="{BAR_FILL}"/>'
            f'{mark}<text x="{LABEL_W + span + 8}" y="{y + 14}">{escape(bar.text)}</text></g>'
        )
    return _svg(name, title, 16 + len(bars) * ROW, body)


def departures_per_month(figures: Mapping[str, Any], lang: str) -> str:
    """Draw the unit's departures in each month of the period (months without any at zero)."""
    by_month = figures["total"]["departures"].get("by_month", {})
    points = [(m, f"{m[5:]}/{m[:4]}", int(by_month.get(m, 0))) for m in months_of(figures["start"], figures["end"])]
    return columns_svg("departures_per_month", _t(lang, "Xuất cảnh theo tháng", "Departures per month"), points)


def funnel_by_state(figures: Mapping[str, Any], lang: str) -> str:
    """Draw the cases open at the end of the period by the state they were in, in the workflow's order."""
    backlog = figures["total"]["backlog"]
    peak = max(backlog.values(), default=0) or 1
    bars = [
        Bar(state, _t(lang, STATE_BY_NAME[state].label_vi, STATE_BY_NAME[state].label_en), n, str(n), peak) for state, n in backlog.items()
    ]
    return bars_svg("funnel_by_state", _t(lang, "Hồ sơ đang mở theo bước", "Open cases by state"), bars)


def targets_against_actual(figures: Mapping[str, Any], lang: str) -> str:
    """Draw the departures against the year's target and each training share against its target (the green mark)."""
    total = figures["total"]
    departures, target = int(total["departures"]["total"]), int(total["plan"]["departures_more_than"])
    bars = [
        Bar(
            "departures",
            _t(lang, "Xuất cảnh", "Departures"),
            departures,
            f"{departures} / > {target}",
            max(departures, target + 1) * 1.1,
            target,
        )
    ]
    for row in total["training"]:
        percent = row["percent"]
        shown = "—" if percent is None else f"{percent:g}%"
        name = TRAININGS.get(row["training"], (row["training"], row["training"]))
        bars.append(Bar(row["training"], _t(lang, *name), percent or 0, f"{shown} / {row['target_percent']}%", 100, row["target_percent"]))
    return bars_svg("targets_against_actual", _t(lang, "Chỉ tiêu và thực hiện", "Targets against actual"), bars)


def report_charts(figures: Mapping[str, Any], lang: str = "vi") -> dict[str, str]:
    """Return the three report charts of a figures dict as SVG text, by name."""
    return {
        "departures_per_month": departures_per_month(figures, lang),
        "funnel_by_state": funnel_by_state(figures, lang),
        "targets_against_actual": targets_against_actual(figures, lang),
    }


def _t(lang: str, vi: str, en: str) -> str:
    return en if lang == "en" else vi
