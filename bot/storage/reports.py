"""Reports of problems on the public space ("signalements")."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.storage.database import reports

# open: just arrived (acknowledged automatically); then staff mark it received
# (taken into account by the service), in_progress and done.
REPORT_STATUSES = ("open", "received", "in_progress", "done")


@dataclass(frozen=True)
class NewReport:
    category: str
    location: str
    description: str
    contact: str | None
    conversation_id: str | None


@dataclass(frozen=True)
class StoredReport(NewReport):
    reference: str
    status: str
    created_at: datetime
    # How the citizen was sent the acknowledgement: email, sms, or None.
    acknowledgement: str | None = None


def _aware(value: datetime) -> datetime:
    # SQLite returns naive datetimes; everything here is stored in UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


class Notifier(Protocol):
    """Who is told of a new report and of its status changes, inside the store's
    transaction (so a report is never stored without its acknowledgement queued).
    bot/notifications/compose.py implements it; the store knows nothing more of it."""

    async def report_received(self, conn: AsyncConnection, report: StoredReport) -> str | None:
        """Enqueue the acknowledgement in `conn` (the report's transaction); the channel
        it goes by, or None."""

    async def report_status_changed(self, conn: AsyncConnection, report: StoredReport) -> None: ...

    def committed(self) -> None:
        """Called after the transaction: queued messages may go now."""


class ReportStore:
    def __init__(self, engine: AsyncEngine, notifier: Notifier | None = None) -> None:
        self._engine = engine
        # Acknowledgement and routing messages, written in the report's transaction.
        self._notifier = notifier

    async def insert(self, report: NewReport, reference: str) -> StoredReport:
        """Insert with the given reference; raises DuplicateReference on collision."""
        now = datetime.now(UTC)
        stored = StoredReport(**report.__dict__, reference=reference, status="open", created_at=now)
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    sa.insert(reports).values(
                        reference=reference,
                        category=report.category,
                        location=report.location,
                        description=report.description,
                        contact=report.contact,
                        conversation_id=report.conversation_id,
                        status="open",
                        created_at=now,
                    )
                )
                if self._notifier is not None:
                    channel = await self._notifier.report_received(conn, stored)
                    stored = replace(stored, acknowledgement=channel)
        except IntegrityError as exc:
            # Only a reference already taken is worth another try; any other refusal
            # (a constraint, a trigger) would fail again, and must be seen as it is.
            if await self.get(reference) is not None:
                raise DuplicateReference(reference) from exc
            raise
        if self._notifier is not None:
            self._notifier.committed()
        return stored

    async def get(self, reference: str) -> StoredReport | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(sa.select(reports).where(reports.c.reference == reference))
            ).first()
        return _stored(row) if row is not None else None

    async def list(self, include_done: bool = False, limit: int = 200) -> list[StoredReport]:
        query = sa.select(reports).order_by(reports.c.id.desc()).limit(limit)
        if not include_done:
            query = query.where(reports.c.status != "done")
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_stored(r) for r in rows]

    async def update_status(self, reference: str, status: str) -> StoredReport | None:
        """Staff moved the report on; the citizen is told in the same transaction.
        None when there is no such report; unchanged when it already had that status."""
        if status not in REPORT_STATUSES:
            raise ValueError(f"unknown report status {status!r}")
        async with self._engine.begin() as conn:
            result = await conn.execute(
                sa.update(reports)
                .where(reports.c.reference == reference, reports.c.status != status)
                .values(status=status)
            )
            row = (
                await conn.execute(sa.select(reports).where(reports.c.reference == reference))
            ).first()
            if row is None:
                return None
            stored = _stored(row)
            if result.rowcount == 1 and self._notifier is not None:
                await self._notifier.report_status_changed(conn, stored)
        if result.rowcount == 1 and self._notifier is not None:
            self._notifier.committed()
        return stored


def _stored(row: Any) -> StoredReport:
    return StoredReport(
        category=row.category,
        location=row.location,
        description=row.description,
        contact=row.contact,
        conversation_id=row.conversation_id,
        reference=row.reference,
        status=row.status,
        created_at=_aware(row.created_at),
    )


class DuplicateReference(Exception):
    pass
