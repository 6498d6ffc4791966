"""One row per phone call: when, how it ended. No audio and no caller number
(RGPD: the number is kept only in a callback ticket, with consent)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.db import metadata

calls = sa.Table(
    "calls",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("call_id", sa.String(200), nullable=False, unique=True),
    sa.Column("conversation_id", sa.String(64), nullable=False, index=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
    # answered_by_bot | transferred | callback | hung_up | error
    sa.Column("outcome", sa.String(16), nullable=True, index=True),
    sa.Column("turns", sa.Integer, nullable=False, default=0),
    sa.Column("barge_ins", sa.Integer, nullable=False, default=0),
    sa.Column("ticket_reference", sa.String(16), nullable=True),
)


class CallStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def started(self, call_id: str, conversation_id: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                sa.insert(calls).values(
                    call_id=call_id[:200],
                    conversation_id=conversation_id,
                    started_at=datetime.now(UTC),
                    turns=0,
                    barge_ins=0,
                )
            )

    async def ended(
        self,
        call_id: str,
        outcome: str,
        turns: int,
        barge_ins: int,
        ticket_reference: str | None = None,
    ) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                sa.update(calls)
                .where(calls.c.call_id == call_id[:200])
                .values(
                    ended_at=datetime.now(UTC),
                    outcome=outcome,
                    turns=turns,
                    barge_ins=barge_ins,
                    ticket_reference=ticket_reference,
                )
            )
