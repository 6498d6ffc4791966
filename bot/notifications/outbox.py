"""The outbox: messages to send, written in the transaction of the request they belong to.

States (one row per message):

    pending --claim--> sending --ok--> sent
       ^                  |  \\--permanent error or too many attempts--> failed
       |                  |
       +--temporary error-+  (next_attempt_at moved on by the back-off)
       +--claim older than claim_timeout_s (the sending process died)

A claim is one conditional UPDATE (`state = 'pending'`), so of several sender
tasks or app instances exactly one sends a given row, and it carries a fresh
token: a process that lost its claim (timeout) cannot mark the row afterwards.
The window that stays at-least-once is between the transport accepting a
message and the `sent` commit: a crash there sends it again after the claim
timeout (e-mails keep their Message-ID, so mail clients show one message).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.core.db import metadata

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
CHANNELS = ("email", "sms")

outbox = sa.Table(
    "notification_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    # Stable and unique: one message per (request, purpose, recipient); also the
    # e-mail's Message-ID, so a message sent again is recognisably the same.
    sa.Column("key", sa.String(200), nullable=False, unique=True),
    # acknowledgement | routing | status | call_link
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("channel", sa.String(8), nullable=False),
    # The citizen's or the department's address or number: personal data, purged
    # with the request (bot/retention.py calls purge_notifications).
    sa.Column("recipient", sa.Text, nullable=False),
    sa.Column("subject", sa.Text, nullable=True),
    sa.Column("body_text", sa.Text, nullable=False),
    sa.Column("body_html", sa.Text, nullable=True),
    sa.Column("reply_to", sa.Text, nullable=True),
    sa.Column("reference", sa.String(16), nullable=True, index=True),
    sa.Column("conversation_id", sa.String(64), nullable=True, index=True),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("claim_token", sa.String(32), nullable=True),
    sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    # What went wrong last, never with the recipient in it.
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class NewMessage:
    key: str
    kind: str
    channel: str
    recipient: str
    body_text: str
    subject: str | None = None
    body_html: str | None = None
    reply_to: str | None = None
    reference: str | None = None
    conversation_id: str | None = None
    # None: as soon as possible; later: held (a link asked for during a call).
    not_before: datetime | None = None


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    key: str
    kind: str
    channel: str
    recipient: str
    subject: str | None
    body_text: str
    body_html: str | None
    reply_to: str | None
    reference: str | None
    attempts: int
    claim_token: str
    created_at: datetime


def _aware(value: datetime | None) -> datetime | None:
    # SQLite returns naive datetimes; everything here is stored in UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


async def enqueue(conn: AsyncConnection, messages: list[NewMessage]) -> None:
    """Add messages inside the caller's transaction: they exist iff the request does."""
    if not messages:
        return
    now = datetime.now(UTC)
    await conn.execute(
        sa.insert(outbox),
        [
            {
                "key": m.key,
                "kind": m.kind,
                "channel": m.channel,
                "recipient": m.recipient,
                "subject": m.subject,
                "body_text": m.body_text,
                "body_html": m.body_html,
                "reply_to": m.reply_to,
                "reference": m.reference,
                "conversation_id": m.conversation_id,
                "state": PENDING,
                "attempts": 0,
                "next_attempt_at": m.not_before or now,
                "created_at": now,
            }
            for m in messages
        ],
    )


class OutboxStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, messages: list[NewMessage]) -> int:
        """Messages that belong to no stored request (a link asked for during a call);
        one already there under the same key is left alone. Returns how many were added."""
        async with self._engine.begin() as conn:
            keys = [m.key for m in messages]
            existing = set(
                (await conn.execute(sa.select(outbox.c.key).where(outbox.c.key.in_(keys))))
                .scalars()
                .all()
            )
            new = [m for m in messages if m.key not in existing]
            await enqueue(conn, new)
        return len(new)

    async def claim_due(self, channel: str, limit: int = 10) -> list[OutboxMessage]:
        """Claim up to `limit` due messages of one channel, oldest first."""
        now = datetime.now(UTC)
        due = (
            sa.select(outbox.c.id)
            .where(
                outbox.c.channel == channel,
                outbox.c.state == PENDING,
                outbox.c.next_attempt_at <= now,
            )
            .order_by(outbox.c.next_attempt_at, outbox.c.id)
            .limit(limit)
        )
        claimed: list[OutboxMessage] = []
        async with self._engine.connect() as conn:
            ids = [r.id for r in (await conn.execute(due)).all()]
        for message_id in ids:
            token = secrets.token_hex(8)
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    sa.update(outbox)
                    .where(outbox.c.id == message_id, outbox.c.state == PENDING)
                    .values(
                        state=SENDING,
                        claim_token=token,
                        claimed_at=now,
                        attempts=outbox.c.attempts + 1,
                    )
                )
                if result.rowcount != 1:
                    continue  # another sender took it
                row = (await conn.execute(sa.select(outbox).where(outbox.c.id == message_id))).one()
            claimed.append(_message(row))
        return claimed

    async def mark_sent(self, message: OutboxMessage) -> bool:
        return await self._finish(message, state=SENT, sent_at=datetime.now(UTC), last_error=None)

    async def mark_failed(self, message: OutboxMessage, error: str) -> bool:
        return await self._finish(message, state=FAILED, last_error=error[:500])

    async def retry_later(self, message: OutboxMessage, delay_s: float, error: str) -> bool:
        return await self._finish(
            message,
            state=PENDING,
            next_attempt_at=datetime.now(UTC) + timedelta(seconds=delay_s),
            last_error=error[:500],
        )

    async def _finish(self, message: OutboxMessage, **values: Any) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                sa.update(outbox)
                .where(
                    outbox.c.id == message.id,
                    outbox.c.state == SENDING,
                    outbox.c.claim_token == message.claim_token,
                )
                .values(claim_token=None, **values)
            )
        return result.rowcount == 1

    async def release_stale_claims(self, older_than_s: float) -> int:
        """Claims of a process that died mid-send go back to pending (sent again)."""
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
        async with self._engine.begin() as conn:
            result = await conn.execute(
                sa.update(outbox)
                .where(outbox.c.state == SENDING, outbox.c.claimed_at < cutoff)
                .values(
                    state=PENDING,
                    claim_token=None,
                    next_attempt_at=datetime.now(UTC),
                    last_error="claim expired: the sending process stopped mid-send",
                )
            )
        return int(result.rowcount)

    async def release_held(self, conversation_id: str, kind: str) -> int:
        """Held messages of a conversation (links asked for during a call) go now."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                sa.update(outbox)
                .where(
                    outbox.c.conversation_id == conversation_id,
                    outbox.c.kind == kind,
                    outbox.c.state == PENDING,
                    outbox.c.attempts == 0,
                )
                .values(next_attempt_at=datetime.now(UTC))
            )
        return int(result.rowcount)

    async def next_due_in(self, channel: str) -> float | None:
        """Seconds until the next pending message of the channel is due (None: none)."""
        async with self._engine.connect() as conn:
            first = (
                await conn.execute(
                    sa.select(sa.func.min(outbox.c.next_attempt_at)).where(
                        outbox.c.channel == channel, outbox.c.state == PENDING
                    )
                )
            ).scalar()
        first = _aware(first)
        if first is None:
            return None
        return max(0.0, (first - datetime.now(UTC)).total_seconds())

    async def counts(self) -> dict[str, int]:
        """Messages per state (for operators and tests)."""
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(outbox.c.state, sa.func.count()).group_by(outbox.c.state)
                )
            ).all()
        return {state: int(n) for state, n in rows}


def _message(row: Any) -> OutboxMessage:
    return OutboxMessage(
        id=row.id,
        key=row.key,
        kind=row.kind,
        channel=row.channel,
        recipient=row.recipient,
        subject=row.subject,
        body_text=row.body_text,
        body_html=row.body_html,
        reply_to=row.reply_to,
        reference=row.reference,
        attempts=row.attempts,
        claim_token=row.claim_token,
        created_at=_aware(row.created_at),  # type: ignore[arg-type]
    )


async def purge_notifications(
    engine: AsyncEngine, cutoff: datetime | None = None, conversation_id: str | None = None
) -> int:
    """RGPD: delete messages (they hold contacts and the request's text) created before
    `cutoff`, when the request's own contacts go, or all those of one conversation."""
    if conversation_id is not None:
        condition = outbox.c.conversation_id == conversation_id
    elif cutoff is not None:
        condition = outbox.c.created_at < cutoff
    else:
        raise ValueError("purge_notifications needs a cutoff or a conversation id")
    async with engine.begin() as conn:
        return int((await conn.execute(sa.delete(outbox).where(condition))).rowcount)
