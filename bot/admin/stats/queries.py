"""The figures of /admin/stats and /admin/stats.csv, read from the database.

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
"""

from __future__ import annotations

import asyncio
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
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.admin.pages import TIMEZONE
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
CONFIDENCES = ("answer", "ambiguous", "not_found")


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
