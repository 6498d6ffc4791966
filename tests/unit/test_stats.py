"""Statistics: every figure on a small database whose answer is known.

`collect` runs on a database built with the app's schema and rows of known
dates (`NOW` fixed), and on a Rasa tracker store file in Rasa's real format;
then the page and the CSV are checked through the app, with access rules.
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.admin.stats import (
    Stats,
    collect,
    csv_rows,
    fmt_duration,
    fmt_percent,
    percentile,
    read_top_intents,
    to_csv,
    window,
)
from bot.admin.users import Role, UserStore
from bot.app import Services, create_public_app
from bot.core.db import create_engine
from bot.schema import create_schema
from bot.storage.database import conversations, messages
from bot.storage.handoffs import handoffs, tickets
from knowledge_base.event_store import life_event_settings
from knowledge_base.logbook import kb_feedback, kb_queries
from knowledge_base.store import articles
from tests.conftest import make_settings
from tests.support.rasa_double import RasaDouble
from tests.unit.test_admin_auth import PASSWORD, Browser

# 11:00 in Paris. The 30-day window starts on 14/02 at 00:00 in Paris,
# 13/02 23:00 UTC.
NOW = datetime(2026, 3, 15, 10, 0, tzinfo=UTC)
SINCE = datetime(2026, 2, 13, 23, 0, tzinfo=UTC)
TITLE_A = "Carte d’identité <b>& passeport</b>"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def tracker_file(path: Path, events: list[tuple[str, str, float, str | None]]) -> None:
    """A tracker store as Rasa 3.6's SQLTrackerStore writes it (table `events`)."""
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE events (id INTEGER NOT NULL PRIMARY KEY, sender_id VARCHAR(255) "
            "NOT NULL, type_name VARCHAR(255) NOT NULL, timestamp FLOAT, intent_name "
            "VARCHAR(255), action_name VARCHAR(255), data TEXT)"
        )
        db.execute("CREATE INDEX ix_events_sender_id ON events (sender_id)")
        db.executemany(
            "INSERT INTO events (sender_id, type_name, timestamp, intent_name, action_name, "
            "data) VALUES (?, ?, ?, ?, ?, '{}')",
            [
                (sender, kind, ts, intent if kind == "user" else None, intent)
                for sender, kind, ts, intent in events
            ],
        )


async def seed(engine: AsyncEngine) -> None:
    def conv(cid: str, channel: str, created: str) -> dict[str, Any]:
        return {"id": cid, "channel": channel, "created_at": at(created), "updated_at": at(created)}

    def handoff(
        cid: str, requested: str, claimed: float | None, outcome: str | None
    ) -> dict[str, Any]:
        asked = at(requested)
        return {
            "conversation_id": cid,
            "channel": "webchat",
            "status": "closed" if outcome else ("active" if claimed is not None else "waiting"),
            "reason": "asked",
            "requested_at": asked,
            "claimed_at": asked + timedelta(seconds=claimed) if claimed is not None else None,
            "claimed_by": "agent@mairie.fr" if claimed is not None else None,
            "ended_at": asked + timedelta(minutes=10) if outcome else None,
            "outcome": outcome,
        }

    def ticket(ref: str, status: str, created: str, updated: str) -> dict[str, Any]:
        return {
            "reference": ref,
            "channel": "webchat",
            "name": "Camille",
            "contact": "06 12 34 56 78",
            "subject": "permis",
            "consent_text": "oui",
            "status": status,
            "created_at": at(created),
            "updated_at": at(updated),
        }

    def query(confidence: str, slug: str | None, created: str) -> dict[str, Any]:
        return {
            "question": "q",
            "channel": "webchat",
            "confidence": confidence,
            "top_slug": slug,
            "created_at": at(created),
        }

    def message(cid: str, role: str, data: dict[str, Any], created: str) -> dict[str, Any]:
        return {
            "conversation_id": cid,
            "role": role,
            "text": "…",
            "data": data,
            "created_at": at(created),
        }

    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(conversations),
            [
                conv("c1", "webchat", "2026-03-15 09:00"),
                conv("c2", "webchat", "2026-03-15 08:00"),
                conv("c3", "phone", "2026-03-14 23:30"),  # 15/03 00:30 in Paris
                conv("c4", "webchat", "2026-03-10 12:00"),
                conv("c5", "webchat", "2026-03-10 13:00"),
                conv("c6", "webchat", "2026-02-13 22:30"),  # 13/02 23:30 in Paris: out
                conv("c7", "phone", "2026-02-13 23:30"),  # 14/02 00:30 in Paris: first day
                conv("c8", "webchat", "2026-03-12 09:00"),
            ],
        )
        await conn.execute(
            sa.insert(handoffs),
            [
                handoff("c2", "2026-03-15 08:01", 30, "handed_back"),
                handoff("c3", "2026-03-14 23:31", 90, "closed"),
                handoff("c4", "2026-03-10 12:01", None, "abandoned"),
                handoff("c5", "2026-03-10 13:01", 60, None),  # still with the agent
                handoff("c8", "2026-03-12 09:01", 300, "closed"),
                handoff("c6", "2026-02-13 22:31", 1000, "closed"),  # before the window
            ],
        )
        await conn.execute(
            sa.insert(tickets),
            [
                ticket("RAP-AAAAA1", "open", "2026-03-01 10:00", "2026-03-01 10:00"),
                ticket("RAP-AAAAA2", "closed", "2026-03-02 10:00", "2026-03-05 10:00"),
                # Opened before the window, closed in it.
                ticket("RAP-AAAAA3", "closed", "2026-01-20 10:00", "2026-03-03 10:00"),
                ticket("RAP-AAAAA4", "closed", "2026-01-01 10:00", "2026-01-02 10:00"),
            ],
        )
        await conn.execute(
            sa.insert(articles),
            [
                {
                    "slug": "carte-identite",
                    "title": TITLE_A,
                    "body": "…",
                    "fields": {},
                    "status": "published",
                    "version": 1,
                    "updated_at": NOW,
                    "updated_by": "import",
                }
            ],
        )
        await conn.execute(
            sa.insert(kb_queries),
            [
                query("answer", "carte-identite", "2026-03-14 10:00"),
                query("answer", "carte-identite", "2026-03-13 10:00"),
                query("answer", "carte-identite", "2026-02-20 10:00"),
                query("answer", "encombrants", "2026-03-01 10:00"),  # no article row
                query("answer", "piscine", "2026-01-10 10:00"),  # before the window
                query("ambiguous", "piscine", "2026-03-02 10:00"),
                query("ambiguous", "cantine", "2026-03-03 10:00"),
                query("not_found", None, "2026-03-04 10:00"),
                query("not_found", None, "2026-03-05 10:00"),
                query("not_found", None, "2026-01-05 10:00"),  # before the window
            ],
        )
        # Life-event answers; "deuil" is the former name of "un proche est décédé".
        await conn.execute(
            sa.insert(life_event_settings).values(
                tag="un proche est décédé",
                article_order=[],
                former_names=["deuil"],
                updated_at=NOW,
                updated_by="redaction@villebrune.example",
            )
        )
        await conn.execute(
            sa.insert(messages),
            [
                message("c1", "bot", {"life_event": "je déménage"}, "2026-03-15 09:01"),
                message("c1", "bot", {"life_event": "je déménage"}, "2026-03-15 09:05"),
                message("c1", "bot", {}, "2026-03-15 09:06"),  # another answer
                message("c1", "user", {"life_event": "je déménage"}, "2026-03-15 09:07"),
                message("c3", "bot", {"life_event": "deuil"}, "2026-03-14 23:31"),  # phone
                message("c3", "bot", {"life_event": "un proche est décédé"}, "2026-03-14 23:35"),
                message("c2", "bot", {"life_event": "un proche est décédé"}, "2026-03-15 08:02"),
                message("c6", "bot", {"life_event": "je déménage"}, "2026-02-13 22:31"),  # out
            ],
        )
        await conn.execute(
            sa.insert(kb_feedback),
            [
                {"slug": "carte-identite", "useful": useful, "created_at": at(created)}
                for useful, created in (
                    (True, "2026-03-14 10:01"),
                    (True, "2026-03-13 10:01"),
                    (True, "2026-02-20 10:01"),
                    (False, "2026-03-01 10:01"),
                    (False, "2026-01-10 10:01"),  # before the window
                )
            ],
        )


def rasa_events() -> list[tuple[str, str, float, str | None]]:
    inside = at("2026-03-10 12:00").timestamp()
    before = at("2026-01-10 12:00").timestamp()
    return [
        ("c1", "action", inside, "action_listen"),
        ("c1", "user", inside, "greet"),
        ("c2", "user", inside, "greet"),
        ("c3", "user", inside, "greet"),
        ("c1", "user", inside, "ask_question"),
        ("c2", "user", inside, "ask_question"),
        ("c4", "user", inside, "ask_question"),
        ("c4", "user", before, "ask_question"),  # before the window
        ("c5", "user", inside, "request_human"),
        ("c5", "user", inside, "request_human"),
        ("c5", "user", inside, None),  # a message Rasa could not parse
        ("c5", "bot", inside, None),
        ("c5", "slot", inside, None),
    ]


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'guichet.db'}")
    await create_schema(engine)
    await seed(engine)
    yield engine
    await engine.dispose()


# --- helpers ---
def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([], 0.5) is None
    assert percentile([42.0], 0.9) == 42.0
    values = [float(v) for v in range(10, 101, 10)]
    assert percentile(values, 0.5) == 55.0
    assert percentile(values, 0.9) == pytest.approx(91.0)
    assert percentile([300.0, 30.0, 90.0, 60.0], 0.9) == pytest.approx(237.0)


def test_window_is_whole_days_in_paris() -> None:
    since, days = window(NOW, 30)
    assert since == SINCE
    assert days[0] == date(2026, 2, 14) and days[-1] == date(2026, 3, 15) and len(days) == 30
    # Just after midnight in Paris (still the day before in UTC), today is the Paris day.
    since, days = window(datetime(2026, 3, 14, 23, 30, tzinfo=UTC), 7)
    assert days[-1] == date(2026, 3, 15) and since == datetime(2026, 3, 8, 23, 0, tzinfo=UTC)


def test_french_formats() -> None:
    assert fmt_duration(None) == "—"
    assert fmt_duration(42.4) == "42\u00a0s"
    assert fmt_duration(75) == "1\u00a0min\u00a015\u00a0s"
    assert fmt_duration(3720) == "1\u00a0h\u00a002\u00a0min"
    assert fmt_percent(2 / 7) == "28,6\u00a0%"
    assert fmt_percent(None) == "—"


# --- figures ---
async def test_every_figure(engine: AsyncEngine, tmp_path: Path) -> None:
    tracker = tmp_path / "rasa_tracker.db"
    tracker_file(tracker, rasa_events())
    stats = await collect(engine, tracker, now=NOW)

    assert stats.since == SINCE and stats.until == NOW and len(stats.days) == 30
    # Conversations per day and channel, by day in Paris.
    assert stats.channels == ["webchat", "phone"]
    assert stats.channel_totals == {"webchat": 5, "phone": 2}
    busy = {d: c for d, c in stats.per_day.items() if c}
    assert busy == {
        date(2026, 2, 14): {"phone": 1},
        date(2026, 3, 10): {"webchat": 2},
        date(2026, 3, 12): {"webchat": 1},
        date(2026, 3, 15): {"webchat": 2, "phone": 1},
    }
    # 7 conversations, 5 went to an agent.
    assert (stats.conversations, stats.with_handoff) == (7, 5)
    assert stats.containment_rate == pytest.approx(2 / 7)
    assert stats.handoff_rate == pytest.approx(5 / 7)
    # Waits of the 4 claimed handoffs: 30, 90, 60, 300 s.
    assert (stats.handoffs, stats.claimed) == (5, 4)
    assert stats.wait_median_s == pytest.approx(75.0)
    assert stats.wait_p90_s == pytest.approx(237.0)
    assert stats.outcomes == {"handed_back": 1, "closed": 2, "abandoned": 1, "open": 1}
    assert (stats.tickets_opened, stats.tickets_closed) == (2, 2)
    # Rasa's view: user events of the window only, unparsed ones left out.
    assert stats.top_intents == [("ask_question", 3), ("greet", 3), ("request_human", 2)]
    assert stats.top_articles == [("carte-identite", TITLE_A, 3), ("encombrants", None, 1)]
    assert stats.kb_questions == {"answer": 4, "ambiguous": 2, "not_found": 2}
    assert stats.unanswered == 2
    assert (stats.feedback_useful, stats.feedback_total) == (3, 4)
    assert stats.feedback_ratio == pytest.approx(0.75)
    # Answers by life event in the window, under the current name; of which by phone.
    assert stats.life_events == [("un proche est décédé", 3, 2), ("je déménage", 2, 0)]

    rows = csv_rows(stats)
    lookup = {(m, k): v for m, k, v in rows}
    assert lookup[("conversations_per_day", "2026-03-15/webchat")] == "2"
    assert lookup[("conversations_per_day", "2026-03-15/phone")] == "1"
    assert lookup[("conversations_per_day", "2026-02-15/phone")] == "0"
    assert sum(1 for m, _, _ in rows if m == "conversations_per_day") == 60
    assert lookup[("containment_rate", "")] == "0.2857"
    assert lookup[("handoff_rate", "")] == "0.7143"
    assert lookup[("handoff_wait_s", "median")] == "75"
    assert lookup[("handoff_wait_s", "p90")] == "237"
    assert lookup[("handoff_outcome", "abandoned")] == "1"
    assert lookup[("tickets", "closed")] == "2"
    assert lookup[("top_intent", "greet")] == "3"
    assert lookup[("top_article", "carte-identite")] == "3"
    assert lookup[("kb_unanswered", "")] == "2"
    assert lookup[("feedback_ratio", "")] == "0.75"
    assert lookup[("life_event", "un proche est décédé")] == "3"
    assert lookup[("life_event_phone", "un proche est décédé")] == "2"
    assert lookup[("life_event", "je déménage")] == "2"
    assert ("life_event", "deuil", "1") not in rows


async def test_empty_database_and_no_tracker_store(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    await create_schema(engine)
    try:
        stats = await collect(engine, tmp_path / "absent.db", now=NOW)
    finally:
        await engine.dispose()
    assert stats.conversations == 0 and stats.containment_rate is None
    assert stats.wait_median_s is None and stats.wait_p90_s is None
    assert stats.top_intents is None and stats.feedback_ratio is None
    assert not (tmp_path / "absent.db").exists()  # read-only: never created
    assert ("top_intents", "unavailable", "") in csv_rows(stats)


def test_tracker_store_that_is_not_rasas_is_ignored(tmp_path: Path) -> None:
    odd = tmp_path / "odd.db"
    with sqlite3.connect(odd) as db:
        db.execute("CREATE TABLE something (x INTEGER)")
    assert read_top_intents(odd, SINCE) is None
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 100)
    assert read_top_intents(garbage, SINCE) is None


# --- page and CSV through the app ---
@pytest.fixture(scope="module")
async def app(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Services, str]]:
    rasa = TestServer(RasaDouble().app(), host="127.0.0.1")
    await rasa.start_server()
    data_dir = tmp_path_factory.mktemp("stats-data")
    settings = make_settings(
        data_dir, str(rasa.make_url("")).rstrip("/"), GUICHET__RASA__TIMEOUT_S="1"
    )
    services = await Services.start(settings)
    server = TestServer(create_public_app(services), host="127.0.0.1")
    await server.start_server()
    users = UserStore(services.engine)
    for email, role in (
        ("redaction@villebrune.example", Role.EDITOR),
        ("accueil@villebrune.example", Role.AGENT),
        ("dsi@villebrune.example", Role.ADMIN),
    ):
        await users.create(email, PASSWORD, role)
    # A little activity of today: two conversations, one handed to an agent.
    now = datetime.now(UTC)
    async with services.engine.begin() as conn:
        for cid in ("s1", "s2"):
            await conn.execute(
                sa.insert(conversations).values(
                    id=cid, channel="webchat", created_at=now, updated_at=now
                )
            )
        await conn.execute(
            sa.insert(handoffs).values(
                conversation_id="s2",
                channel="webchat",
                status="closed",
                reason="asked",
                requested_at=now - timedelta(seconds=5),
                claimed_at=now,
                claimed_by="accueil@villebrune.example",
                ended_at=now,
                outcome="closed",
            )
        )
        await conn.execute(
            sa.insert(kb_queries).values(
                question="q",
                channel="webchat",
                confidence="answer",
                top_slug="evil-slug",
                created_at=now,
            )
        )
        await conn.execute(
            sa.insert(messages).values(
                conversation_id="s1",
                role="bot",
                text="Voici les démarches à prévoir…",
                data={"life_event": "<b>je déménage</b>"},
                created_at=now,
            )
        )
    tracker_file(
        data_dir / "rasa_tracker.db",
        [("s1", "user", now.timestamp(), "greet"), ("s2", "user", now.timestamp(), "goodbye")],
    )
    yield services, str(server.make_url("")).rstrip("/")
    await server.close()
    await services.close()
    await rasa.close()


async def test_page_shows_accessible_charts_with_their_numbers(
    app: tuple[Services, str],
) -> None:
    services, base = app
    # An article title with markup: shown as text, never as HTML.
    async with services.engine.begin() as conn:
        await conn.execute(
            sa.insert(articles).values(
                slug="evil-slug",
                title="<script>alert(1)</script> & co",
                body="…",
                fields={},
                status="published",
                version=1,
                updated_at=datetime.now(UTC),
                updated_by="import",
            )
        )
    for email in (
        "redaction@villebrune.example",
        "accueil@villebrune.example",
        "dsi@villebrune.example",
    ):
        b = Browser(base)
        try:
            assert (await b.login(email)).status == 303
            resp, html = await b.get("/admin/stats")
            assert resp.status == 200, email
        finally:
            await b.close()
        # Every role sees the same, whole page.
        assert '<a href="/admin/stats" aria-current="page">Statistiques</a>' in html
        assert "<h1>Statistiques</h1>" in html
        assert "50,0\u00a0% (1 sur 2)" in html  # resolved without an agent
        assert "médiane 5\u00a0s" in html
        svgs = re.findall(r"<svg [^>]*>", html)
        assert len(svgs) == 9
        for svg in svgs:
            assert 'role="img"' in svg and "aria-labelledby=" in svg
        assert html.count("<title id=") == 9 and html.count("<desc id=") == 9
        assert html.count("<table") == 9  # the numbers of each chart
        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html
        # Top intents read from the tracker store file.
        assert 'id="chart-intents"' in html and ">greet<" in html
        # Questions by life event, the event's name as text.
        assert 'id="chart-life-events"' in html and "Questions par moment de vie" in html
        assert "<b>je déménage</b>" not in html
        assert '<th scope="row">&lt;b&gt;je déménage&lt;/b&gt;</th>' in html
        assert resp.headers["Content-Security-Policy"].startswith("default-src 'self'")


async def test_csv_export_and_access_rules(app: tuple[Services, str]) -> None:
    _, base = app
    anonymous = Browser(base)
    try:
        for path in ("/admin/stats", "/admin/stats.csv"):
            resp, _ = await anonymous.get(path)
            assert resp.status == 303 and resp.headers["Location"].startswith("/admin/login")
    finally:
        await anonymous.close()
    b = Browser(base)
    try:
        await b.login("accueil@villebrune.example")
        resp, text = await b.get("/admin/stats.csv?days=7")
        assert resp.status == 200
        assert resp.content_type == "text/csv" and resp.charset == "utf-8"
        assert resp.headers["Content-Disposition"].startswith(
            'attachment; filename="guichet-statistiques-'
        )
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0] == ["metric", "key", "value"]
        lookup = {(m, k): v for m, k, v in rows[1:]}
        assert lookup[("period", "days")] == "7"
        assert lookup[("conversations", "total")] == "2"
        assert lookup[("containment_rate", "")] == "0.5"
        assert lookup[("handoff_wait_s", "median")] == "5"
        assert lookup[("top_intent", "greet")] == "1"
        assert lookup[("top_article", "evil-slug")] == "1"
        assert lookup[("life_event", "<b>je déménage</b>")] == "1"
        # A day of the window with no conversation still has its row.
        assert sum(1 for m, _ in lookup if m == "conversations_per_day") == 7
    finally:
        await b.close()


def test_csv_keys_cannot_become_formulas() -> None:
    since, days = window(NOW, 7)
    stats = Stats(
        since=since,
        until=NOW,
        days=days,
        channels=[],
        per_day={d: {} for d in days},
        conversations=0,
        with_handoff=0,
        handoffs=0,
        claimed=0,
        wait_median_s=None,
        wait_p90_s=None,
        outcomes={},
        tickets_opened=0,
        tickets_closed=0,
        top_intents=[("=HYPERLINK(1)", 2)],
        top_articles=[],
        kb_questions={},
        feedback_useful=0,
        feedback_total=0,
    )
    assert "top_intent,'=HYPERLINK(1),2" in to_csv(stats)
