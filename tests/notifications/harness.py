"""The notification pieces wired as the app wires them (bot.app.start_notifications),
on a SQLite base in a temporary directory, with the sender task running."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.app import start_notifications
from bot.core.db import create_engine
from bot.domain.reports import ReportService
from bot.notifications.compose import Notifier
from bot.notifications.outbox import OutboxStore
from bot.notifications.sender import NotificationSender
from bot.schema import create_schema
from bot.settings import Settings
from bot.storage.handoffs import TicketStore
from bot.storage.reports import NewReport, ReportStore, StoredReport
from tests.conftest import make_settings


@dataclass
class Harness:
    settings: Settings
    notifier: Notifier
    outbox: OutboxStore
    sender: NotificationSender
    reports: ReportService
    tickets: TicketStore

    @property
    def db(self) -> Path:
        return self.settings.data_dir / "guichet.db"

    def rows(self, where: str = "1=1", params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with sqlite3.connect(self.db) as conn:
            conn.row_factory = sqlite3.Row
            return conn.execute(
                f"SELECT * FROM notification_outbox WHERE {where} ORDER BY id", params
            ).fetchall()

    async def report(
        self, contact: str | None, category: str = "voirie", mark: str = ""
    ) -> StoredReport:
        return await self.reports.submit(
            NewReport(
                category=category,
                location=f"12 rue des Lilas {mark}".strip(),
                description=f"Nid de poule profond <devant> le n° 12 {mark}".strip(),
                contact=contact,
                conversation_id=f"conv-{mark or 'x'}",
            )
        )


@asynccontextmanager
async def harness(data_dir: Path, run_sender: bool = True, **env: str) -> AsyncIterator[Harness]:
    settings = make_settings(data_dir, "http://127.0.0.1:9", **env)
    engine = create_engine(settings.database_url)
    await create_schema(engine)
    notifier, outbox, sender = start_notifications(settings, engine)
    assert notifier is not None and outbox is not None and sender is not None
    task = asyncio.create_task(sender.run()) if run_sender else None
    try:
        yield Harness(
            settings,
            notifier,
            outbox,
            sender,
            ReportService(ReportStore(engine, notifier)),
            TicketStore(engine, notifier),
        )
    finally:
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await sender.close()
        await engine.dispose()
