"""Handoffs to a human and callback tickets: durable, so a restart loses neither."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.core.db import metadata

handoffs = sa.Table(
    "handoffs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("conversation_id", sa.String(64), nullable=False, index=True),
    sa.Column("channel", sa.String(32), nullable=False),
    # waiting -> active -> (waiting again if the agent drops) -> closed
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("claimed_by", sa.String(120), nullable=True),
    sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
    # handed_back | closed | abandoned
    sa.Column("outcome", sa.String(16), nullable=True),
    sa.Column("close_reason", sa.Text, nullable=True),
)

tickets = sa.Table(
    "tickets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("reference", sa.String(16), nullable=False, unique=True),
    sa.Column("conversation_id", sa.String(64), nullable=True, index=True),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("contact", sa.Text, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    # The exact sentence the citizen agreed to (RGPD: proof of consent).
    sa.Column("consent_text", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),  # open|assigned|closed
    sa.Column("assigned_to", sa.String(120), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

OPEN = ("waiting", "active")


@dataclass(frozen=True)
class Handoff:
    id: int
    conversation_id: str
    channel: str
    status: str
    reason: str
    requested_at: datetime
    claimed_at: datetime | None
    claimed_by: str | None
    ended_at: datetime | None
    outcome: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "conversation_id": self.conversation_id,
            "channel": self.channel,
            "status": self.status,
            "reason": self.reason,
            "requested_at": self.requested_at.isoformat(),
            "claimed_at": self.claimed_at.isoformat() if self.claimed_at else None,
            "claimed_by": self.claimed_by,
        }


@dataclass(frozen=True)
class Ticket:
    id: int
    reference: str
    conversation_id: str | None
    channel: str
    name: str
    contact: str
    subject: str
    status: str
    assigned_to: str | None
    created_at: datetime
    # How the citizen was sent the acknowledgement: email, sms, or None.
    acknowledgement: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "reference": self.reference,
            "conversation_id": self.conversation_id,
            "channel": self.channel,
            "name": self.name,
            "contact": self.contact,
            "subject": self.subject,
            "status": self.status,
            "assigned_to": self.assigned_to,
            "created_at": self.created_at.isoformat(),
        }


def _aware(value: datetime | None) -> datetime | None:
    # SQLite returns naive datetimes; everything here is stored in UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _handoff(row: Any) -> Handoff:
    return Handoff(
        row.id,
        row.conversation_id,
        row.channel,
        row.status,
        row.reason,
        _aware(row.requested_at),  # type: ignore[arg-type]
        _aware(row.claimed_at),
        row.claimed_by,
        _aware(row.ended_at),
        row.outcome,
    )


def _ticket(row: Any) -> Ticket:
    return Ticket(
        row.id,
        row.reference,
        row.conversation_id,
        row.channel,
        row.name,
        row.contact,
        row.subject,
        row.status,
        row.assigned_to,
        _aware(row.created_at),  # type: ignore[arg-type]
    )


class DuplicateTicketReference(Exception):
    pass


class HandoffStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def open_for(self, conversation_id: str) -> Handoff | None:
        query = sa.select(handoffs).where(
            handoffs.c.conversation_id == conversation_id, handoffs.c.status.in_(OPEN)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query.order_by(handoffs.c.id.desc()))).first()
        return _handoff(row) if row else None

    async def get(self, handoff_id: int) -> Handoff | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(sa.select(handoffs).where(handoffs.c.id == handoff_id))
            ).first()
        return _handoff(row) if row else None

    async def create(self, conversation_id: str, channel: str, reason: str) -> Handoff:
        """A waiting handoff, or the conversation's open one if it already has one."""
        async with self._engine.begin() as conn:
            existing = (
                await conn.execute(
                    sa.select(handoffs).where(
                        handoffs.c.conversation_id == conversation_id,
                        handoffs.c.status.in_(OPEN),
                    )
                )
            ).first()
            if existing:
                return _handoff(existing)
            result = await conn.execute(
                sa.insert(handoffs).values(
                    conversation_id=conversation_id,
                    channel=channel,
                    status="waiting",
                    reason=reason,
                    requested_at=datetime.now(UTC),
                )
            )
            row = (
                await conn.execute(
                    sa.select(handoffs).where(handoffs.c.id == result.inserted_primary_key[0])  # type: ignore[index]
                )
            ).one()
        return _handoff(row)

    async def claim(self, handoff_id: int, agent: str) -> bool:
        """Atomic: of many agents claiming at once, exactly one gets True."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                sa.update(handoffs)
                .where(handoffs.c.id == handoff_id, handoffs.c.status == "waiting")
                .values(status="active", claimed_by=agent, claimed_at=datetime.now(UTC))
            )
        return result.rowcount == 1

    async def requeue(self, handoff_id: int, agent: str) -> bool:
        """The agent left: back to the queue, keeping its place (requested_at)."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                sa.update(handoffs)
                .where(
                    handoffs.c.id == handoff_id,
                    handoffs.c.status == "active",
                    handoffs.c.claimed_by == agent,
                )
                .values(status="waiting", claimed_by=None, claimed_at=None)
            )
        return result.rowcount == 1

    async def end(
        self,
        handoff_id: int,
        outcome: str,
        close_reason: str | None = None,
        agent: str | None = None,
    ) -> bool:
        conditions = [handoffs.c.id == handoff_id, handoffs.c.status.in_(OPEN)]
        if agent is not None:
            conditions.append(handoffs.c.claimed_by == agent)
        async with self._engine.begin() as conn:
            result = await conn.execute(
                sa.update(handoffs)
                .where(*conditions)
                .values(
                    status="closed",
                    outcome=outcome,
                    close_reason=close_reason,
                    ended_at=datetime.now(UTC),
                )
            )
        return result.rowcount == 1

    async def open_handoffs(self) -> list[Handoff]:
        query = (
            sa.select(handoffs)
            .where(handoffs.c.status.in_(OPEN))
            .order_by(handoffs.c.requested_at, handoffs.c.id)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_handoff(r) for r in rows]

    async def recent_wait_seconds(self, limit: int = 20) -> list[float]:
        query = (
            sa.select(handoffs.c.requested_at, handoffs.c.claimed_at)
            .where(handoffs.c.claimed_at.is_not(None))
            .order_by(handoffs.c.id.desc())
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            (_aware(r.claimed_at) - _aware(r.requested_at)).total_seconds()  # type: ignore[operator]
            for r in rows
        ]


class Notifier(Protocol):
    """Who is told of a new ticket and of its status changes, inside the store's
    transaction (so a ticket is never stored without its acknowledgement queued).
    bot/notifications/compose.py implements it; the store knows nothing more of it."""

    async def ticket_received(
        self, conn: AsyncConnection, ticket: Ticket, consent_text: str | None = None
    ) -> str | None:
        """Enqueue the acknowledgement in `conn` (the ticket's transaction); the channel
        it goes by, or None."""

    async def ticket_status_changed(self, conn: AsyncConnection, ticket: Ticket) -> None: ...

    def committed(self) -> None:
        """Called after the transaction: queued messages may go now."""


class TicketStore:
    def __init__(self, engine: AsyncEngine, notifier: Notifier | None = None) -> None:
        self._engine = engine
        # Acknowledgement, routing and status messages, written in the ticket's transaction.
        self._notifier = notifier

    async def insert(
        self,
        reference: str,
        conversation_id: str | None,
        channel: str,
        name: str,
        contact: str,
        subject: str,
        consent_text: str,
    ) -> Ticket:
        now = datetime.now(UTC)
        try:
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    sa.insert(tickets).values(
                        reference=reference,
                        conversation_id=conversation_id,
                        channel=channel,
                        name=name,
                        contact=contact,
                        subject=subject,
                        consent_text=consent_text,
                        status="open",
                        created_at=now,
                        updated_at=now,
                    )
                )
                row = (
                    await conn.execute(
                        sa.select(tickets).where(tickets.c.id == result.inserted_primary_key[0])  # type: ignore[index]
                    )
                ).one()
                ticket = _ticket(row)
                if self._notifier is not None:
                    acknowledged = await self._notifier.ticket_received(conn, ticket, consent_text)
                    ticket = replace(ticket, acknowledgement=acknowledged)
        except IntegrityError as exc:
            raise DuplicateTicketReference(reference) from exc
        if self._notifier is not None:
            self._notifier.committed()
        return ticket

    async def list(self, include_closed: bool = False, limit: int = 200) -> list[Ticket]:
        query = sa.select(tickets).order_by(tickets.c.id.desc()).limit(limit)
        if not include_closed:
            query = query.where(tickets.c.status != "closed")
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_ticket(r) for r in rows]

    async def update_status(
        self, ticket_id: int, status: str, assigned_to: str | None
    ) -> Ticket | None:
        async with self._engine.begin() as conn:
            before = (
                await conn.execute(sa.select(tickets.c.status).where(tickets.c.id == ticket_id))
            ).scalar()
            await conn.execute(
                sa.update(tickets)
                .where(tickets.c.id == ticket_id)
                .values(status=status, assigned_to=assigned_to, updated_at=datetime.now(UTC))
            )
            row = (await conn.execute(sa.select(tickets).where(tickets.c.id == ticket_id))).first()
            changed = row is not None and before != status and self._notifier is not None
            if changed and self._notifier is not None:
                # The citizen is told by the channel they gave (status_changed decides).
                await self._notifier.ticket_status_changed(conn, _ticket(row))
        if changed and self._notifier is not None:
            self._notifier.committed()
        return _ticket(row) if row else None
