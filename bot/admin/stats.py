"""Statistics at /admin/stats (page with charts) and /admin/stats.csv (export).

Everything is computed over a window of whole days in the town's time zone
(the last 30 by default, today included):

- conversations per day and channel (table `conversations`, by creation);
- containment rate: conversations of the window without any handoff, over
  all of them; the handoff rate is the rest;
- waits before an agent took a conversation (claimed_at - requested_at of
  the handoffs requested in the window): median and 90th percentile;
- outcomes of those handoffs (handed back, closed, abandoned, still open);
- callback tickets opened in the window, and closed in it;
- top intents, read from Rasa's own tracker store (SQLite file
  `rasa_tracker.db` in the data directory, table `events`), opened read-only;
  the page says so when it is missing;
- knowledge base: articles most often given as the answer, questions left
  without answer, and the share of "useful" votes;
- questions by life event: the bot's answers that gave an event's procedures
  (`life_event` in the stored reply, actions/life_event.py), chat and phone, under
  the event's current name (a renamed or merged event's former names count for it).

Charts are inline SVG built here, on the server, from escaped text only; each
has a title and a description, and its numbers are in a table next to it.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import math
import sqlite3
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.admin.auth import current_session, require_role
from bot.admin.context import admin_context
from bot.admin.pages import CHANNEL_LABELS, TIMEZONE, Markup, render, render_page
from bot.admin.users import Role, StaffSession
from bot.storage.database import conversations, messages
from bot.storage.handoffs import handoffs, tickets
from knowledge_base.event_store import LifeEventStore
from knowledge_base.logbook import kb_feedback, kb_queries
from knowledge_base.store import articles

log = logging.getLogger(__name__)

DEFAULT_DAYS = 30
ALLOWED_DAYS = (7, 30, 90)
TOP = 10
TRACKER_FILE = "rasa_tracker.db"
OUTCOMES = ("handed_back", "closed", "abandoned", "open")
OUTCOME_LABELS = {
    "handed_back": "Rendues à l’assistant",
    "closed": "Closes par l’agent",
    "abandoned": "Abandonnées (citoyen parti de la file)",
    "open": "Encore ouvertes",
}
CONFIDENCES = ("answer", "ambiguous", "not_found")
CONFIDENCE_LABELS = {
    "answer": "Réponse directe",
    "ambiguous": "Suggestions proposées",
    "not_found": "Sans réponse",
}
# Chart colours, each 4.5:1 or more against white (labels sit next to them).
PALETTE = ("#000091", "#18753c", "#695240", "#ce0500", "#3a3a3a")


# --- figures ---
@dataclass(frozen=True)
class Stats:
    since: datetime  # start of the first day, UTC
    until: datetime  # when computed, UTC
    days: list[date]
    channels: list[str]
    per_day: dict[date, dict[str, int]]
    conversations: int
    with_handoff: int
    handoffs: int
    claimed: int
    wait_median_s: float | None
    wait_p90_s: float | None
    outcomes: dict[str, int]
    tickets_opened: int
    tickets_closed: int
    # None: Rasa's tracker store could not be read.
    top_intents: list[tuple[str, int]] | None
    top_articles: list[tuple[str, str | None, int]]
    kb_questions: dict[str, int]
    feedback_useful: int
    feedback_total: int
    channel_totals: dict[str, int] = field(default_factory=dict)
    # (event, answers, of which on the phone), most asked first.
    life_events: list[tuple[str, int, int]] = field(default_factory=list)

    @property
    def containment_rate(self) -> float | None:
        return ratio(self.conversations - self.with_handoff, self.conversations)

    @property
    def handoff_rate(self) -> float | None:
        return ratio(self.with_handoff, self.conversations)

    @property
    def unanswered(self) -> int:
        return self.kb_questions.get("not_found", 0)

    @property
    def feedback_ratio(self) -> float | None:
        return ratio(self.feedback_useful, self.feedback_total)


def ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def window(now: datetime, days: int) -> tuple[datetime, list[date]]:
    """Start (UTC) of the first of `days` whole local days ending today, and the days."""
    today = now.astimezone(TIMEZONE).date()
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, time(0), tzinfo=TIMEZONE).astimezone(UTC)
    return start, [first + timedelta(days=i) for i in range(days)]


def _aware(value: datetime) -> datetime:
    # SQLite gives naive datetimes back; the app stores UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def read_top_intents(path: Path, since: datetime, limit: int = TOP) -> list[tuple[str, int]] | None:
    """Most frequent user intents in Rasa's tracker store; None when it cannot be read.

    Blocking (sqlite3): run it in a thread. The file is opened read-only, so
    this never creates it nor takes a write lock on Rasa's database.
    """
    if not path.is_file():
        return None
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=2)
    except sqlite3.Error as exc:
        log.info("rasa tracker store not readable: %s", exc)
        return None
    try:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(events)")}
        if not {"type_name", "intent_name"} <= columns:
            return None
        query = (
            "SELECT intent_name, COUNT(*) AS n FROM events "
            "WHERE type_name = 'user' AND intent_name IS NOT NULL AND intent_name != ''"
        )
        params: tuple[Any, ...] = ()
        if "timestamp" in columns:
            query += " AND timestamp >= ?"
            params = (since.timestamp(),)
        query += " GROUP BY intent_name ORDER BY n DESC, intent_name LIMIT ?"
        rows = conn.execute(query, (*params, limit)).fetchall()
    except sqlite3.Error as exc:
        log.info("rasa tracker store not readable: %s", exc)
        return None
    finally:
        conn.close()
    return [(str(name), int(n)) for name, n in rows]


async def collect(
    engine: AsyncEngine,
    tracker_db: Path,
    *,
    days: int = DEFAULT_DAYS,
    now: datetime | None = None,
) -> Stats:
    now = now or datetime.now(UTC)
    since, day_list = window(now, days)
    in_window = conversations.c.created_at >= since
    has_handoff = sa.exists().where(handoffs.c.conversation_id == conversations.c.id)
    async with engine.connect() as conn:
        per_day: dict[date, dict[str, int]] = {d: {} for d in day_list}
        channel_totals: dict[str, int] = defaultdict(int)
        rows = await conn.execute(
            sa.select(conversations.c.created_at, conversations.c.channel).where(in_window)
        )
        for created_at, channel in rows:
            day = _aware(created_at).astimezone(TIMEZONE).date()
            if day in per_day:
                per_day[day][channel] = per_day[day].get(channel, 0) + 1
                channel_totals[channel] += 1
        total, with_handoff = (
            await conn.execute(
                sa.select(
                    sa.func.count(),
                    sa.func.coalesce(sa.func.sum(sa.case((has_handoff, 1), else_=0)), 0),
                ).where(in_window)
            )
        ).one()

        requested = handoffs.c.requested_at >= since
        waits = [
            (_aware(claimed) - _aware(asked)).total_seconds()
            for asked, claimed in await conn.execute(
                sa.select(handoffs.c.requested_at, handoffs.c.claimed_at).where(
                    requested, handoffs.c.claimed_at.is_not(None)
                )
            )
        ]
        outcomes = dict.fromkeys(OUTCOMES, 0)
        handoff_count = 0
        for outcome, n in await conn.execute(
            sa.select(handoffs.c.outcome, sa.func.count())
            .where(requested)
            .group_by(handoffs.c.outcome)
        ):
            key = outcome or "open"
            outcomes[key] = outcomes.get(key, 0) + int(n)
            handoff_count += int(n)

        opened = await conn.scalar(
            sa.select(sa.func.count()).select_from(tickets).where(tickets.c.created_at >= since)
        )
        closed = await conn.scalar(
            sa.select(sa.func.count())
            .select_from(tickets)
            .where(tickets.c.status == "closed", tickets.c.updated_at >= since)
        )

        asked_kb = kb_queries.c.created_at >= since
        kb_questions = dict.fromkeys(CONFIDENCES, 0)
        for confidence, n in await conn.execute(
            sa.select(kb_queries.c.confidence, sa.func.count())
            .where(asked_kb)
            .group_by(kb_queries.c.confidence)
        ):
            kb_questions[confidence] = int(n)
        n_answers = sa.func.count().label("n")
        top_articles = [
            (slug, title, int(n))
            for slug, title, n in await conn.execute(
                sa.select(kb_queries.c.top_slug, articles.c.title, n_answers)
                .select_from(
                    kb_queries.outerjoin(articles, articles.c.slug == kb_queries.c.top_slug)
                )
                .where(
                    asked_kb,
                    kb_queries.c.confidence == "answer",
                    kb_queries.c.top_slug.is_not(None),
                )
                .group_by(kb_queries.c.top_slug, articles.c.title)
                .order_by(n_answers.desc(), kb_queries.c.top_slug)
                .limit(TOP)
            )
        ]
        useful, votes = (
            await conn.execute(
                sa.select(
                    sa.func.coalesce(
                        sa.func.sum(sa.case((kb_feedback.c.useful.is_(True), 1), else_=0)), 0
                    ),
                    sa.func.count(),
                ).where(kb_feedback.c.created_at >= since)
            )
        ).one()

        life_events = await count_life_events(conn, since)

    top_intents = await asyncio.to_thread(read_top_intents, tracker_db, since)
    channels = sorted(channel_totals, key=lambda c: (-channel_totals[c], c))
    return Stats(
        since=since,
        until=now,
        days=day_list,
        channels=channels,
        per_day=per_day,
        conversations=int(total),
        with_handoff=int(with_handoff),
        handoffs=handoff_count,
        claimed=len(waits),
        wait_median_s=percentile(waits, 0.5),
        wait_p90_s=percentile(waits, 0.9),
        outcomes=outcomes,
        tickets_opened=int(opened or 0),
        tickets_closed=int(closed or 0),
        top_intents=top_intents,
        top_articles=top_articles,
        kb_questions=kb_questions,
        feedback_useful=int(useful),
        feedback_total=int(votes),
        channel_totals=dict(channel_totals),
        life_events=life_events,
    )


async def count_life_events(conn: AsyncConnection, since: datetime) -> list[tuple[str, int, int]]:
    """Answers of the window that gave a life event's procedures, by event and channel."""
    event = messages.c.data["life_event"].as_string()
    rows = await conn.execute(
        sa.select(event, conversations.c.channel, sa.func.count())
        .select_from(messages.join(conversations, conversations.c.id == messages.c.conversation_id))
        .where(messages.c.role == "bot", messages.c.created_at >= since, event.is_not(None))
        .group_by(event, conversations.c.channel)
    )
    current = {
        former: tag
        for tag, settings in (await LifeEventStore.load_in(conn)).items()
        for former in settings.former
    }
    totals: dict[str, list[int]] = {}
    for tag, channel, n in rows:
        if not tag:
            continue
        counts = totals.setdefault(current.get(tag, tag), [0, 0])
        counts[0] += int(n)
        counts[1] += int(n) if channel == "phone" else 0
    return sorted(((t, n, p) for t, (n, p) in totals.items()), key=lambda r: (-r[1], r[0]))


# --- CSV export (tidy, long format) ---
def _number(value: float | None, digits: int = 4) -> str:
    if value is None:
        return ""
    text = f"{value:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def csv_rows(stats: Stats) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = [
        ("period", "since", stats.since.isoformat()),
        ("period", "until", stats.until.isoformat()),
        ("period", "days", str(len(stats.days))),
    ]
    for day in stats.days:
        for channel in stats.channels:
            count = stats.per_day[day].get(channel, 0)
            rows.append(("conversations_per_day", f"{day.isoformat()}/{channel}", str(count)))
    rows += [
        ("conversations", "total", str(stats.conversations)),
        ("conversations", "with_handoff", str(stats.with_handoff)),
        ("containment_rate", "", _number(stats.containment_rate)),
        ("handoff_rate", "", _number(stats.handoff_rate)),
        ("handoffs", "requested", str(stats.handoffs)),
        ("handoffs", "claimed", str(stats.claimed)),
        ("handoff_wait_s", "median", _number(stats.wait_median_s, 1)),
        ("handoff_wait_s", "p90", _number(stats.wait_p90_s, 1)),
    ]
    rows += [("handoff_outcome", k, str(v)) for k, v in stats.outcomes.items()]
    rows += [
        ("tickets", "opened", str(stats.tickets_opened)),
        ("tickets", "closed", str(stats.tickets_closed)),
    ]
    if stats.top_intents is None:
        rows.append(("top_intents", "unavailable", ""))
    rows += [("top_intent", name, str(n)) for name, n in stats.top_intents or []]
    rows += [("top_article", slug, str(n)) for slug, _, n in stats.top_articles]
    rows += [("kb_questions", k, str(v)) for k, v in stats.kb_questions.items()]
    for tag, n, phone in stats.life_events:
        rows += [("life_event", tag, str(n)), ("life_event_phone", tag, str(phone))]
    rows += [
        ("kb_unanswered", "", str(stats.unanswered)),
        ("feedback", "useful", str(stats.feedback_useful)),
        ("feedback", "total", str(stats.feedback_total)),
        ("feedback_ratio", "", _number(stats.feedback_ratio)),
    ]
    return rows


def _cell(value: str) -> str:
    # A spreadsheet must not take a key for a formula.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def to_csv(stats: Stats) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(("metric", "key", "value"))
    for metric, key, value in csv_rows(stats):
        writer.writerow((metric, _cell(key), value))
    return out.getvalue()


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


# --- page ---
@dataclass(frozen=True)
class Table:
    caption: str
    head: Sequence[str]
    rows: Sequence[Sequence[object]]


@dataclass(frozen=True)
class Section:
    heading: str
    id: str
    intro: str
    chart: Markup | None
    table: Table | None  # None: no figures, `intro` says why


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def stats_html(session: StaffSession, stats: Stats) -> str:
    days = len(stats.days)
    channel_head = [channel_label(c) for c in stats.channels]
    daily_rows = [
        [
            f"{d:%d/%m/%Y}",
            *(stats.per_day[d].get(c, 0) for c in stats.channels),
            sum(stats.per_day[d].values()),
        ]
        for d in stats.days
    ]
    daily_table = Table(
        "Conversations par jour et par canal", ["Jour", *channel_head, "Total"], daily_rows
    )

    outcome_rows = [(OUTCOME_LABELS[k], stats.outcomes.get(k, 0)) for k in OUTCOMES]
    handoff_section = Section(
        "Issue des conversations transmises à un agent",
        "h-outcomes",
        f"{_count(stats.handoffs, 'demande', 'demandes')} de mise en relation sur la période.",
        hbar_chart(
            "chart-outcomes",
            "Issue des conversations transmises à un agent",
            [(label, n, str(n)) for label, n in outcome_rows],
        ),
        Table("Issue des mises en relation", ["Issue", "Nombre"], outcome_rows),
    )
    wait_rows = [
        ("Médiane", stats.wait_median_s or 0, fmt_duration(stats.wait_median_s)),
        ("90e centile", stats.wait_p90_s or 0, fmt_duration(stats.wait_p90_s)),
    ]
    wait_section = Section(
        "Attente avant la prise en charge",
        "h-waits",
        f"Sur {_count(stats.claimed, 'conversation prise', 'conversations prises')} en charge ; "
        "9 sur 10 ont attendu moins que le 90e centile.",
        hbar_chart("chart-waits", "Attente avant la prise en charge", wait_rows, color=PALETTE[2]),
        Table(
            "Attente avant la prise en charge",
            ["Mesure", "Durée"],
            [(a, c) for a, _, c in wait_rows],
        ),
    )
    ticket_rows = [("Ouvertes", stats.tickets_opened), ("Closes", stats.tickets_closed)]
    ticket_section = Section(
        "Demandes de rappel",
        "h-tickets",
        "Demandes créées sur la période, et demandes closes sur la période.",
        hbar_chart(
            "chart-tickets",
            "Demandes de rappel ouvertes et closes",
            [(label, n, str(n)) for label, n in ticket_rows],
            color=PALETTE[1],
        ),
        Table("Demandes de rappel", ["Demandes", "Nombre"], ticket_rows),
    )
    if stats.top_intents is None:
        intent_section = Section(
            "Intentions les plus fréquentes",
            "h-intents",
            f"L’historique de Rasa (fichier {TRACKER_FILE} du dossier de données) "
            "est introuvable ou illisible : les intentions ne peuvent pas être comptées.",
            None,
            None,
        )
    else:
        intent_section = Section(
            "Intentions les plus fréquentes",
            "h-intents",
            "Ce que l’assistant a compris des messages des habitants (10 premières).",
            hbar_chart(
                "chart-intents",
                "Intentions les plus fréquentes",
                [(name, n, str(n)) for name, n in stats.top_intents],
            ),
            Table("Intentions les plus fréquentes", ["Intention", "Messages"], stats.top_intents),
        )
    article_rows = [(title or slug, n) for slug, title, n in stats.top_articles]
    article_section = Section(
        "Articles les plus utilisés dans les réponses",
        "h-articles",
        "Articles donnés comme réponse directe (10 premiers).",
        hbar_chart(
            "chart-articles",
            "Articles les plus utilisés dans les réponses",
            [(label, n, str(n)) for label, n in article_rows],
            color=PALETTE[1],
        ),
        Table("Articles les plus utilisés", ["Article", "Réponses"], article_rows),
    )
    kb_rows = [(CONFIDENCE_LABELS[k], stats.kb_questions.get(k, 0)) for k in CONFIDENCES]
    kb_section = Section(
        "Questions posées à la base de connaissances",
        "h-kb",
        "Les questions sans réponse sont listées dans « Questions sans réponse ».",
        hbar_chart(
            "chart-kb",
            "Questions posées à la base de connaissances",
            [(label, n, str(n)) for label, n in kb_rows],
        ),
        Table("Questions à la base de connaissances", ["Résultat", "Questions"], kb_rows),
    )
    event_section = Section(
        "Questions par moment de vie",
        "h-life-events",
        "Réponses de l’assistant qui ont donné les démarches d’un moment de vie, sur le "
        "chat et au téléphone (10 premiers dans le graphique).",
        hbar_chart(
            "chart-life-events",
            "Questions par moment de vie",
            [(tag, n, str(n)) for tag, n, _ in stats.life_events[:TOP]],
            color=PALETTE[2],
        ),
        Table(
            "Questions par moment de vie",
            ["Moment de vie", "Questions", "Dont au téléphone"],
            stats.life_events,
        ),
    )
    feedback_rows = [
        ("Utile", stats.feedback_useful),
        ("Pas utile", stats.feedback_total - stats.feedback_useful),
    ]
    feedback_section = Section(
        "Avis des habitants sur les réponses",
        "h-feedback",
        f"{fmt_percent(stats.feedback_ratio)} d’avis « utile » sur "
        f"{_count(stats.feedback_total, 'avis', 'avis')}.",
        hbar_chart(
            "chart-feedback",
            "Avis des habitants sur les réponses",
            [(label, n, str(n)) for label, n in feedback_rows],
            color=PALETTE[1],
        ),
        Table("Avis des habitants", ["Avis", "Nombre"], feedback_rows),
    )

    def share(part: int, rate: float | None) -> str:
        return f"{fmt_percent(rate)} ({part} sur {stats.conversations})"

    by_channel = ", ".join(f"{channel_label(c)} {stats.channel_totals[c]}" for c in stats.channels)
    summary = [
        (
            "Conversations",
            f"{stats.conversations}" + (f" ({by_channel})" if stats.channels else ""),
        ),
        (
            "Résolues sans agent",
            share(stats.conversations - stats.with_handoff, stats.containment_rate),
        ),
        ("Transmises à un agent", share(stats.with_handoff, stats.handoff_rate)),
        (
            "Attente avant prise en charge",
            f"médiane {fmt_duration(stats.wait_median_s)}, "
            f"90e centile {fmt_duration(stats.wait_p90_s)}",
        ),
        ("Demandes de rappel", f"{stats.tickets_opened} ouvertes, {stats.tickets_closed} closes"),
        (
            "Questions sans réponse",
            f"{stats.unanswered} sur "
            f"{_count(sum(stats.kb_questions.values()), 'question', 'questions')}",
        ),
        (
            "Avis « utile » des habitants",
            f"{fmt_percent(stats.feedback_ratio)} "
            f"({stats.feedback_useful} sur {stats.feedback_total})",
        ),
    ]
    return render_page(
        "stats.html",
        session=session,
        title="Statistiques",
        active="stats",
        days=days,
        first=f"{stats.days[0]:%d/%m/%Y}",
        last=f"{stats.days[-1]:%d/%m/%Y}",
        computed_at=stats.until,
        periods=ALLOWED_DAYS,
        summary=summary,
        daily=daily_chart(stats),
        daily_table=daily_table,
        sections=[
            handoff_section,
            wait_section,
            ticket_section,
            intent_section,
            article_section,
            kb_section,
            event_section,
            feedback_section,
        ],
    )


# --- handlers ---
def _days(request: web.Request) -> int:
    raw = request.query.get("days", "")
    return int(raw) if raw.isdigit() and int(raw) in ALLOWED_DAYS else DEFAULT_DAYS


async def _collect(request: web.Request) -> Stats:
    context = admin_context(request)
    return await collect(context.engine, context.data_dir / TRACKER_FILE, days=_days(request))


@require_role(Role.EDITOR, Role.AGENT, Role.ADMIN)
async def stats_page(request: web.Request) -> web.StreamResponse:
    stats = await _collect(request)
    return web.Response(text=stats_html(current_session(request), stats), content_type="text/html")


@require_role(Role.EDITOR, Role.AGENT, Role.ADMIN)
async def stats_csv(request: web.Request) -> web.StreamResponse:
    stats = await _collect(request)
    name = f"guichet-statistiques-{stats.until.astimezone(TIMEZONE):%Y-%m-%d}.csv"
    return web.Response(
        text=to_csv(stats),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
