"""RGPD: purge after the retention period; export or erase one conversation.

Covers the app database and Rasa's SQL tracker store, which keeps the raw
dialogue: the SQLite file in the data directory, or the database of
`rasa.tracker_url` (PostgreSQL when scaled out).
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from bot.notifications.outbox import purge_notifications
from bot.storage.calls import calls
from bot.storage.database import conversations, messages, reports
from bot.storage.handoffs import handoffs, tickets
from knowledge_base.logbook import kb_feedback, kb_queries


def _rasa_tracker(path: Path, sql: str, params: tuple[Any, ...]) -> int:
    if not path.exists():
        return 0
    with sqlite3.connect(path, timeout=10) as db:
        try:
            return db.execute(sql, params).rowcount
        except sqlite3.OperationalError:  # no events table yet
            return 0


def _tracker_file(data_dir: Path, tracker_url: str | None) -> Path | None:
    """The SQLite file of Rasa's tracker store, or None when it is on a server."""
    if not tracker_url:
        return data_dir / "rasa_tracker.db"
    url = sa.engine.make_url(tracker_url)
    if url.get_backend_name() == "sqlite":
        return Path(url.database or "")
    return None


def async_tracker_url(tracker_url: str) -> str:
    """Rasa's URL (sync driver psycopg2) as the app's async driver reaches it."""
    url = sa.engine.make_url(tracker_url)
    return url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


async def _tracker_sql(
    data_dir: Path, tracker_url: str | None, sql: str, params: dict[str, Any]
) -> list[Any] | int:
    """Run one statement on Rasa's tracker store: rows for a SELECT, else a row count."""
    path = _tracker_file(data_dir, tracker_url)
    if path is not None:
        # sqlite3 wants positional parameters, in the order of the statement.
        ordered = tuple(params[k] for k in sorted(params, key=lambda k: sql.index(":" + k)))
        positional = sql
        for key in params:
            positional = positional.replace(":" + key, "?")
        if sql.lstrip().upper().startswith("SELECT"):
            return await asyncio.to_thread(_tracker_rows, path, positional, ordered)
        return await asyncio.to_thread(_rasa_tracker, path, positional, ordered)
    assert tracker_url is not None
    engine = create_async_engine(async_tracker_url(tracker_url), poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            if not await conn.run_sync(lambda c: sa.inspect(c).has_table("events")):
                return [] if sql.lstrip().upper().startswith("SELECT") else 0
            result = await conn.execute(sa.text(sql), params)
            if result.returns_rows:
                return list(result.all())
            return int(result.rowcount)
    finally:
        await engine.dispose()


def _tracker_rows(path: Path, sql: str, params: tuple[Any, ...]) -> list[Any]:
    if not path.exists():
        return []
    with sqlite3.connect(path, timeout=10) as db:
        try:
            return db.execute(sql, params).fetchall()
        except sqlite3.OperationalError:
            return []


async def purge(
    engine: AsyncEngine, data_dir: Path, retention_days: int, tracker_url: str | None = None
) -> dict[str, int]:
    """Delete what is older than the retention period; returns counts per table."""
    cutoff = datetime.now(UTC) - timedelta(days=retention_days)
    counts: dict[str, int] = {}
    async with engine.begin() as conn:
        old = sa.select(conversations.c.id).where(conversations.c.updated_at < cutoff)
        counts["messages"] = (
            await conn.execute(sa.delete(messages).where(messages.c.conversation_id.in_(old)))
        ).rowcount
        counts["conversations"] = (
            await conn.execute(sa.delete(conversations).where(conversations.c.updated_at < cutoff))
        ).rowcount
        counts["handoffs"] = (
            await conn.execute(
                sa.delete(handoffs).where(
                    handoffs.c.status == "closed", handoffs.c.requested_at < cutoff
                )
            )
        ).rowcount
        counts["tickets"] = (
            await conn.execute(
                sa.delete(tickets).where(
                    tickets.c.status == "closed", tickets.c.updated_at < cutoff
                )
            )
        ).rowcount
        old_queries = sa.select(kb_queries.c.id).where(kb_queries.c.created_at < cutoff)
        # Votes on purged questions go with them (whatever their own date), then old votes.
        counts["kb_feedback"] = (
            await conn.execute(
                sa.delete(kb_feedback).where(kb_feedback.c.query_id.in_(old_queries))
            )
        ).rowcount + (
            await conn.execute(sa.delete(kb_feedback).where(kb_feedback.c.created_at < cutoff))
        ).rowcount
        counts["kb_queries"] = (
            await conn.execute(sa.delete(kb_queries).where(kb_queries.c.created_at < cutoff))
        ).rowcount
        counts["calls"] = (
            await conn.execute(sa.delete(calls).where(calls.c.started_at < cutoff))
        ).rowcount
        # Reports stay for the services' follow-up, without the citizen's contact.
        counts["report_contacts"] = (
            await conn.execute(
                sa.update(reports)
                .where(reports.c.created_at < cutoff, reports.c.contact.is_not(None))
                .values(contact=None)
            )
        ).rowcount
    # Acknowledgements, routing and status messages hold contacts: they go too.
    counts["notifications"] = await purge_notifications(engine, cutoff=cutoff)
    deleted = await _tracker_sql(
        data_dir,
        tracker_url,
        "DELETE FROM events WHERE timestamp < :cutoff",
        {"cutoff": cutoff.timestamp()},
    )
    counts["rasa_events"] = deleted if isinstance(deleted, int) else 0
    return counts


def _rows(result: Any) -> list[dict[str, Any]]:
    out = []
    for row in result.mappings():
        out.append(
            {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in dict(row).items()}
        )
    return out


async def export_conversation(
    engine: AsyncEngine, data_dir: Path, conversation_id: str, tracker_url: str | None = None
) -> dict[str, Any]:
    """Everything stored about one conversation (right of access)."""
    async with engine.connect() as conn:
        data: dict[str, Any] = {"conversation_id": conversation_id}
        for name, table, column in (
            ("conversation", conversations, conversations.c.id),
            ("messages", messages, messages.c.conversation_id),
            ("handoffs", handoffs, handoffs.c.conversation_id),
            ("tickets", tickets, tickets.c.conversation_id),
            ("reports", reports, reports.c.conversation_id),
            ("calls", calls, calls.c.conversation_id),
        ):
            data[name] = _rows(
                await conn.execute(sa.select(table).where(column == conversation_id))
            )
    rows = await _tracker_sql(
        data_dir,
        tracker_url,
        "SELECT type_name, timestamp, data FROM events WHERE sender_id = :sender ORDER BY id",
        {"sender": conversation_id},
    )
    data["rasa_events"] = [
        {"type": t, "timestamp": ts, "data": d}
        for t, ts, d in (rows if isinstance(rows, list) else [])
    ]
    return data


async def delete_conversation(
    engine: AsyncEngine, data_dir: Path, conversation_id: str, tracker_url: str | None = None
) -> dict[str, int]:
    """Erase one conversation everywhere (right to erasure)."""
    counts: dict[str, int] = {}
    async with engine.begin() as conn:
        for name, table, column in (
            ("messages", messages, messages.c.conversation_id),
            ("handoffs", handoffs, handoffs.c.conversation_id),
            ("tickets", tickets, tickets.c.conversation_id),
            ("reports", reports, reports.c.conversation_id),
            ("calls", calls, calls.c.conversation_id),
            ("conversations", conversations, conversations.c.id),
        ):
            counts[name] = (
                await conn.execute(sa.delete(table).where(column == conversation_id))
            ).rowcount
    counts["notifications"] = await purge_notifications(engine, conversation_id=conversation_id)
    deleted = await _tracker_sql(
        data_dir,
        tracker_url,
        "DELETE FROM events WHERE sender_id = :sender",
        {"sender": conversation_id},
    )
    counts["rasa_events"] = deleted if isinstance(deleted, int) else 0
    return counts
