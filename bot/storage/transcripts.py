"""Conversation transcripts: what each side said, in order."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.storage.database import conversations, messages


@dataclass(frozen=True)
class StoredMessage:
    role: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    id: int | None = None  # set on messages read back


def _insert_ignore(dialect: str) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(conversations).on_conflict_do_nothing(index_elements=["id"])
    if dialect == "sqlite":
        return sqlite.insert(conversations).on_conflict_do_nothing(index_elements=["id"])
    return sa.insert(conversations)


class TranscriptStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def append(self, conversation_id: str, channel: str, items: list[StoredMessage]) -> None:
        """Store messages of one turn atomically, creating the conversation if new."""
        if not items:
            return
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            updated = await conn.execute(
                sa.update(conversations)
                .where(conversations.c.id == conversation_id)
                .values(updated_at=now)
            )
            if updated.rowcount == 0:
                # Another app instance may create the same conversation at the same
                # moment (an agent's reply and the citizen's turn): insert-or-nothing.
                insert = _insert_ignore(conn.dialect.name).values(
                    id=conversation_id, channel=channel, created_at=now, updated_at=now
                )
                await conn.execute(insert)
            await conn.execute(
                sa.insert(messages),
                [
                    {
                        "conversation_id": conversation_id,
                        "role": m.role,
                        "text": m.text,
                        "data": m.data,
                        "created_at": m.created_at or now,
                    }
                    for m in items
                ],
            )

    async def history(self, conversation_id: str, limit: int) -> list[StoredMessage]:
        """The last `limit` messages, oldest first."""
        query = (
            sa.select(
                messages.c.id,
                messages.c.role,
                messages.c.text,
                messages.c.data,
                messages.c.created_at,
            )
            .where(messages.c.conversation_id == conversation_id)
            .order_by(messages.c.id.desc())
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            StoredMessage(
                role=r.role, text=r.text, data=dict(r.data or {}), created_at=r.created_at, id=r.id
            )
            for r in reversed(rows)
        ]

    async def expected_slot(self, conversation_id: str) -> str | None:
        """The form slot the bot's last message asked for (its `expects`), if any."""
        query = (
            sa.select(messages.c.data)
            .where(messages.c.conversation_id == conversation_id, messages.c.role == "bot")
            .order_by(messages.c.id.desc())
            .limit(1)
        )
        async with self._engine.connect() as conn:
            data = (await conn.execute(query)).scalar()
        expects = (data or {}).get("expects") if isinstance(data, dict) else None
        return expects if isinstance(expects, str) else None

    async def mark_voted(self, message_id: int | None) -> None:
        """Note on a bot answer that the citizen rated it (one vote per answer).

        Callers hold the conversation's turn lock, so read-then-write is safe."""
        if message_id is None:
            return
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(sa.select(messages.c.data).where(messages.c.id == message_id))
            ).first()
            if row is not None:
                await conn.execute(
                    sa.update(messages)
                    .where(messages.c.id == message_id)
                    .values(data={**(row.data or {}), "voted": True})
                )
