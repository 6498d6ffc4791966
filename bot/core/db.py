"""Database engine and the shared table metadata: SQLite by default, PostgreSQL scaled out.

The bottom of the project: it imports nothing of it. Each area declares its tables
beside the store that writes them, on this `metadata`; `bot/schema.py` (the top)
gathers them all and migrates. SQLAlchemy Core keeps one code path for both engines;
only the URL changes (`database.url`).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

metadata = sa.MetaData()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the app read while Rasa or a CLI writes; foreign keys are off by default.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def create_engine(url: str) -> AsyncEngine:
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("postgresql"):
        # Several app instances share the server: keep each one's share small, and
        # give up quickly when the server is away (readiness says so, the app retries).
        kwargs.update(pool_size=10, max_overflow=10, pool_timeout=5)
        if "+asyncpg" in url:
            kwargs["connect_args"] = {"timeout": 5, "command_timeout": 30}
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine
