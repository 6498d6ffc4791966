"""What the knowledge base was asked and how citizens rated the answers.

Feeds the "questions without answer" list staff write missing articles from,
and the statistics. Questions are stored as typed, without the session id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.db import metadata
from bot.core.privacy import redact

kb_queries = sa.Table(
    "kb_queries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("confidence", sa.String(16), nullable=False, index=True),
    sa.Column("top_slug", sa.String(120), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
)

kb_feedback = sa.Table(
    "kb_feedback",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("query_id", sa.Integer, sa.ForeignKey("kb_queries.id"), nullable=True),
    sa.Column("slug", sa.String(120), nullable=False, index=True),
    sa.Column("useful", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

lexicon_groups = sa.Table(
    "lexicon_groups",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("expressions", sa.JSON, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class LoggedQuery:
    id: int
    question: str
    channel: str
    confidence: str
    top_slug: str | None
    created_at: datetime


class QueryLog:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record(
        self, question: str, channel: str, confidence: str, top_slug: str | None
    ) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                sa.insert(kb_queries).values(
                    question=redact(question)[:2000],
                    channel=channel,
                    confidence=confidence,
                    top_slug=top_slug,
                    created_at=datetime.now(UTC),
                )
            )
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    async def feedback(self, query_id: int | None, slug: str, useful: bool) -> None:
        try:
            await self._feedback(query_id, slug, useful)
        except sa.exc.IntegrityError:
            # No such logged question (purged by the retention job, or a forged id):
            # the vote still counts for the article, without the link.
            await self._feedback(None, slug, useful)

    async def _feedback(self, query_id: int | None, slug: str, useful: bool) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                sa.insert(kb_feedback).values(
                    query_id=query_id, slug=slug, useful=useful, created_at=datetime.now(UTC)
                )
            )

    async def unanswered(self, limit: int = 100) -> list[LoggedQuery]:
        query = (
            sa.select(kb_queries)
            .where(kb_queries.c.confidence == "not_found")
            .order_by(kb_queries.c.id.desc())
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            LoggedQuery(r.id, r.question, r.channel, r.confidence, r.top_slug, r.created_at)
            for r in rows
        ]


class LexiconStore:
    async def load(self, engine: AsyncEngine) -> list[list[str]]:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(sa.select(lexicon_groups).order_by(lexicon_groups.c.id))
            ).all()
        return [list(r.expressions) for r in rows]

    async def replace(self, engine: AsyncEngine, groups: list[list[str]]) -> None:
        now = datetime.now(UTC)
        async with engine.begin() as conn:
            await conn.execute(sa.delete(lexicon_groups))
            if groups:
                await conn.execute(
                    sa.insert(lexicon_groups),
                    [{"expressions": g, "updated_at": now} for g in groups],
                )
