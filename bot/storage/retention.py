"""RGPD: purge after the retention period; export or erase one conversation.

Covers the app database and Rasa's SQL tracker store (SQLite file in the data
directory), which keeps the raw dialogue.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

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


async def purge(engine: AsyncEngine, data_dir: Path, retention_days: int) -> dict[str, int]:
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
        await conn.execute(sa.delete(kb_feedback).where(kb_feedback.c.query_id.in_(old_queries)))
        counts["kb_feedback"] = (
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
    counts["rasa_events"] = await asyncio.to_thread(
        _rasa_tracker,
        data_dir / "rasa_tracker.db",
        "DELETE FROM events WHERE timestamp < ?",
        (cutoff.timestamp(),),
    )
    return counts


def _rows(result: Any) -> list[dict[str, Any]]:
    out = []
    for row in result.mappings():
        out.append(
            {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in dict(row).items()}
        )
    return out


async def export_conversation(
    engine: AsyncEngine, data_dir: Path, conversation_id: str
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
    data["rasa_events"] = await asyncio.to_thread(_tracker_events, data_dir, conversation_id)
    return data


def _tracker_events(data_dir: Path, conversation_id: str) -> list[dict[str, Any]]:
    path = data_dir / "rasa_tracker.db"
    if not path.exists():
        return []
    with sqlite3.connect(path, timeout=10) as db:
        try:
            rows = db.execute(
                "SELECT type_name, timestamp, data FROM events WHERE sender_id = ? ORDER BY id",
                (conversation_id,),
            ).fetchall()
        except sqlite3.OperationalError:
            return []
    return [{"type": t, "timestamp": ts, "data": d} for t, ts, d in rows]


async def delete_conversation(
    engine: AsyncEngine, data_dir: Path, conversation_id: str
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
    counts["rasa_events"] = await asyncio.to_thread(
        _rasa_tracker,
        data_dir / "rasa_tracker.db",
        "DELETE FROM events WHERE sender_id = ?",
        (conversation_id,),
    )
    return counts
