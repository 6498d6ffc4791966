"""Staff's settings of the life events (/admin "Moments de vie"), in the app database.

The events themselves are the articles' `life_events` tags; a row here only holds
what staff set for one of them: the order of its articles and the names it had
before a rename or a merge (knowledge_base/life_events.py reads both). A rename or
a merge writes these rows in the same transaction as the articles' new tags
(`KnowledgeBase.move_life_event`), so the two never disagree.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.core.db import metadata
from knowledge_base.life_events import EventSettings

MAX_EVENT_NAME = 200

life_event_settings = sa.Table(
    "life_event_settings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    # Text: a tag imported with an article may be longer than a name staff type.
    sa.Column("tag", sa.Text, nullable=False, unique=True),
    sa.Column("article_order", sa.JSON, nullable=False),  # slugs, first first
    sa.Column("former_names", sa.JSON, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_by", sa.String(120), nullable=False),
)


def _strings(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


class LifeEventStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def load(self) -> dict[str, EventSettings]:
        async with self._engine.connect() as conn:
            return await self.load_in(conn)

    @staticmethod
    async def load_in(conn: AsyncConnection) -> dict[str, EventSettings]:
        rows = (await conn.execute(sa.select(life_event_settings))).all()
        return {
            r.tag: EventSettings(_strings(r.article_order), _strings(r.former_names)) for r in rows
        }

    @staticmethod
    async def put_in(conn: AsyncConnection, tag: str, settings: EventSettings, author: str) -> None:
        values = {
            "article_order": list(settings.order),
            "former_names": list(settings.former),
            "updated_at": datetime.now(UTC),
            "updated_by": author,
        }
        updated = await conn.execute(
            sa.update(life_event_settings).where(life_event_settings.c.tag == tag).values(values)
        )
        if updated.rowcount == 0:
            await conn.execute(sa.insert(life_event_settings).values(tag=tag, **values))

    @staticmethod
    async def delete_in(conn: AsyncConnection, tag: str) -> None:
        await conn.execute(sa.delete(life_event_settings).where(life_event_settings.c.tag == tag))

    async def put(self, tag: str, settings: EventSettings, author: str) -> None:
        async with self._engine.begin() as conn:
            await self.put_in(conn, tag, settings, author)
