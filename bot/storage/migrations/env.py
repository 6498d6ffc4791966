"""Alembic environment of the app database (see bot/schema.py).

Called with a connection in `config.attributes["connection"]` at start-up, or
on its own (`python -m bot.schema revision ...`) with the URL of the
settings, through the async engine the app uses.
"""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic import context

from bot.schema import all_tables

config = context.config
target_metadata = all_tables()


def run_with(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        # SQLite cannot ALTER most things: alembic rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    from bot.core.db import create_engine

    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        async with engine.begin() as conn:
            await conn.run_sync(run_with)
    finally:
        await engine.dispose()


connection = config.attributes.get("connection")
if connection is not None:
    run_with(connection)
elif context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(run_online())
