"""The alembic migrations build exactly the tables the code declares, on SQLite and
PostgreSQL, and adopt a database created by the old `metadata.create_all`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from bot.core.db import create_engine
from bot.schema import alembic_config, all_tables, create_schema, schema_differences
from tests.scaled.conftest import require_scaled_binaries
from tools.scaled import DB_USER, HOST, Service, free_port, postgres_service, scratch_dirs

pytestmark = pytest.mark.timeout(300)

TABLES = {
    "conversations", "messages", "reports", "handoffs", "tickets", "calls",
    "staff_users", "staff_sessions", "articles", "article_versions",
    "kb_queries", "kb_feedback", "lexicon_groups", "notification_outbox",
    "life_event_settings",
}  # fmt: skip


async def revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).scalar()
    finally:
        await engine.dispose()


async def check_migrated(url: str) -> None:
    engine = create_engine(url)
    try:
        await create_schema(engine)
        await create_schema(engine)  # idempotent: a restart migrates nothing
        assert await schema_differences(engine) == []
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
        assert names == TABLES | {"alembic_version"}
    finally:
        await engine.dispose()


def test_every_table_of_the_app_is_in_the_metadata() -> None:
    assert set(all_tables().tables) == TABLES


async def test_sqlite_is_migrated_to_the_models(tmp_path: Path) -> None:
    await check_migrated(f"sqlite+aiosqlite:///{tmp_path / 'guichet.db'}")


async def test_a_sqlite_base_made_by_create_all_is_adopted(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'guichet.db'}"
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(all_tables().create_all)
            await conn.execute(
                sa.text(
                    "INSERT INTO conversations (id, channel, created_at, updated_at) "
                    "VALUES ('kept', 'webchat', '2026-01-01', '2026-01-01')"
                )
            )
        await create_schema(engine)
        assert await schema_differences(engine) == []
        async with engine.connect() as conn:
            kept = (await conn.execute(sa.text("SELECT id FROM conversations"))).scalar()
        assert kept == "kept"
    finally:
        await engine.dispose()
    # Stamped with the initial revision, then upgraded to the latest.
    assert await revision(url) == ScriptDirectory.from_config(alembic_config()).get_current_head()


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    require_scaled_binaries()
    data_dir = tmp_path_factory.mktemp("pg-migrations")
    service = postgres_service(data_dir, free_port(), data_dir / "logs")
    try:
        service.start()
        service.wait_ready(60)
        yield service
    finally:
        service.stop()
        for leftover in scratch_dirs(data_dir):
            import shutil

            shutil.rmtree(leftover, ignore_errors=True)


@pytest.fixture
async def pg_database(postgres: Service) -> AsyncIterator[str]:
    name = f"schema_{uuid.uuid4().hex[:8]}"
    port = postgres.ports["postgres"]
    conn = await asyncpg.connect(host=HOST, port=port, user=DB_USER, database="postgres")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
        yield f"postgresql+asyncpg://{DB_USER}@{HOST}:{port}/{name}"
        await conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def test_postgresql_is_migrated_to_the_models(pg_database: str) -> None:
    await check_migrated(pg_database)


async def test_app_instances_starting_together_migrate_once(pg_database: str) -> None:
    import asyncio

    engines = [create_engine(pg_database) for _ in range(3)]
    try:
        await asyncio.gather(*(create_schema(e) for e in engines))
        assert await schema_differences(engines[0]) == []
    finally:
        for engine in engines:
            await engine.dispose()
