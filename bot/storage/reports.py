"""Reports of problems on the public space ("signalements")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.storage.database import reports


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


class ReportStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def insert(self, report: NewReport, reference: str) -> StoredReport:
        """Insert with the given reference; raises DuplicateReference on collision."""
        now = datetime.now(UTC)
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
        except IntegrityError as exc:
            raise DuplicateReference(reference) from exc
        return StoredReport(**report.__dict__, reference=reference, status="open", created_at=now)

    async def get(self, reference: str) -> StoredReport | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(sa.select(reports).where(reports.c.reference == reference))
            ).first()
        if row is None:
            return None
        return StoredReport(
            category=row.category,
            location=row.location,
            description=row.description,
            contact=row.contact,
            conversation_id=row.conversation_id,
            reference=row.reference,
            status=row.status,
            created_at=row.created_at,
        )


class DuplicateReference(Exception):
    pass
