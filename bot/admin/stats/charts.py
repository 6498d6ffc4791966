"""The statistics' charts: inline SVG drawn on the server by templates/charts.svg from
the geometry computed here, text escaped like any page's; each chart has a title and
a description, and its numbers are in a table next to it. Also the numbers and
labels as the page and its charts print them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.admin.pages import CHANNEL_LABELS, Markup, render
from bot.admin.stats.queries import Stats

# Chart colours, each 4.5:1 or more against white (labels sit next to them).
PALETTE = ("#000091", "#18753c", "#695240", "#ce0500", "#3a3a3a")


# --- formatting ---
def fmt_percent(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 100:.1f}".replace(".", ",") + "\u00a0%"


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = round(seconds)
    if s < 60:
        return f"{s}\u00a0s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}\u00a0min\u00a0{s:02d}\u00a0s"
    h, m = divmod(m, 60)
    return f"{h}\u00a0h\u00a0{m:02d}\u00a0min"


def _short(text: str, limit: int = 34) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def channel_label(channel: str) -> str:
    return CHANNEL_LABELS.get(channel, channel)


# --- SVG charts (the geometry; templates/charts.svg draws it) ---
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif"


@dataclass(frozen=True)
class Bar:
    lx: int
    ty: str
    short: str
    bx: int
    y: int
    w: str
    h: int
    color: str
    label: str
    text: str
    vx: str


@dataclass(frozen=True)
class HBarChart:
    id: str
    title: str
    desc: str
    width: int
    height: int
    bars: list[Bar]
    empty_x: int
    empty_y: int
    kind: str = "hbar"


@dataclass(frozen=True)
class LegendItem:
    x: int
    tx: int
    color: str
    label: str


@dataclass(frozen=True)
class GridLine:
    left: int
    right: int
    y: str
    tx: int
    ty: str
    value: int


@dataclass(frozen=True)
class Segment:
    x: str
    y: str
    w: str
    h: str
    color: str


@dataclass(frozen=True)
class DayColumn:
    tip: str
    segments: list[Segment]
    date: str  # empty: no date under this bar
    date_x: str
    date_y: int


@dataclass(frozen=True)
class DailyChart:
    id: str
    title: str
    desc: str
    width: int
    height: int
    legend: list[LegendItem]
    grid: list[GridLine]
    columns: list[DayColumn]
    kind: str = "daily"


def draw(chart: HBarChart | DailyChart) -> Markup:
    return render("charts.svg", chart=chart, font=FONT)


def hbar_chart(
    chart_id: str,
    title: str,
    rows: Sequence[tuple[str, float, str]],
    *,
    color: str = PALETTE[0],
) -> Markup:
    """Horizontal bars: (label, value, value as text) per row."""
    width, label_w, value_w, bar_h, gap, pad = 640, 250, 90, 22, 10, 12
    height = pad * 2 + max(1, len(rows)) * (bar_h + gap) - gap
    top = max((v for _, v, _ in rows), default=0) or 1
    span = width - label_w - value_w - 10
    bars: list[Bar] = []
    for i, (label, value, text) in enumerate(rows):
        y = pad + i * (bar_h + gap)
        w = max(0.0, value) / top * span
        bars.append(
            Bar(
                lx=label_w - 8,
                ty=f"{y + bar_h / 2 + 4.5:.1f}",
                short=_short(label),
                bx=label_w,
                y=y,
                w=f"{w:.1f}",
                h=bar_h,
                color=color,
                label=label,
                text=text,
                vx=f"{label_w + w + 6:.1f}",
            )
        )
    desc = "; ".join(f"{label} : {text}" for label, _, text in rows) or "Aucune donnée."
    return draw(HBarChart(chart_id, title, desc, width, height, bars, pad, pad + 15))


def daily_chart(stats: Stats) -> Markup:
    """Stacked vertical bars: conversations per day, one colour per channel."""
    # Drawn at about its real size in the 84rem-wide staff layout.
    width, height = 1240, 260
    left, right, top, bottom = 44, 10, 34, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(stats.days)
    totals = [sum(stats.per_day[d].values()) for d in stats.days]
    peak = max(totals, default=0)
    # Even, so the middle grid line falls on a whole number of conversations.
    scale_max = 1 if peak <= 1 else peak + peak % 2
    slot = plot_w / max(1, n)
    bar_w = max(2.0, slot * 0.7)
    colors = {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(stats.channels)}
    legend: list[LegendItem] = []
    x = left
    for channel in stats.channels:
        legend.append(LegendItem(x, x + 16, colors[channel], channel_label(channel)))
        x += 24 + 8 * len(channel_label(channel))
    # Horizontal grid with values.
    grid = [
        GridLine(
            left,
            width - right,
            f"{top + plot_h - fraction * plot_h:.1f}",
            left - 6,
            f"{top + plot_h - fraction * plot_h + 4:.1f}",
            int(scale_max * fraction),
        )
        for fraction in ((0, 0.5, 1) if scale_max > 1 else (0, 1))
    ]
    columns: list[DayColumn] = []
    for i, day in enumerate(stats.days):
        counts = stats.per_day[day]
        x0 = left + i * slot + (slot - bar_w) / 2
        y = float(top + plot_h)
        detail = ", ".join(
            f"{channel_label(c)} {counts[c]}" for c in stats.channels if counts.get(c)
        )
        tip = f"{day:%d/%m} : {totals[i]} conversation{'s' if totals[i] > 1 else ''}" + (
            f" ({detail})" if detail else ""
        )
        segments: list[Segment] = []
        for channel in stats.channels:
            count = counts.get(channel, 0)
            if not count:
                continue
            h = count / scale_max * plot_h
            y -= h
            segments.append(
                Segment(f"{x0:.1f}", f"{y:.1f}", f"{bar_w:.1f}", f"{h:.1f}", colors[channel])
            )
        # A date under every 5th bar, and under the last one (today).
        dated = i % 5 == 0 or i == n - 1
        columns.append(
            DayColumn(
                tip,
                segments,
                f"{day:%d/%m}" if dated else "",
                f"{x0 + bar_w / 2:.1f}",
                height - bottom + 18,
            )
        )
    busiest = max(range(n), key=lambda i: totals[i]) if n else 0
    desc = (
        f"{sum(totals)} conversations du {stats.days[0]:%d/%m/%Y} au {stats.days[-1]:%d/%m/%Y}"
        + (f" ; jour le plus chargé : {stats.days[busiest]:%d/%m} ({peak})." if peak else ".")
        if n
        else "Aucune donnée."
    )
    return draw(
        DailyChart(
            "chart-days",
            "Conversations par jour et par canal",
            desc,
            width,
            height,
            legend,
            grid,
            columns,
        )
    )
