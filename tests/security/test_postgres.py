"""Hostile input and the RGPD purge on PostgreSQL, the scaled-out database: what
SQLite forgives (an id past 32 bits, a slug past its column's 120 characters)
must still be a clear 400, and Rasa's tracker store there is purged and erased
like the SQLite one."""

# The imported fixtures are named again as test parameters, as pytest wants.
# ruff: noqa: F811

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg
import pytest

from bot.core.db import create_engine
from bot.schema import create_schema
from bot.storage.transcripts import StoredMessage, TranscriptStore

# The PostgreSQL server and per-test database of the migration tests.
from tests.scaled.test_migrations import pg_database, postgres  # noqa: F401
from tests.security.conftest import AppFactory
from tests.security.test_public_api import post
from tests.unit.test_privacy import check_purge_and_erasure
from tools.scaled import DB_USER, HOST, Service

pytestmark = pytest.mark.timeout(600)


async def new_database(postgres: Service) -> str:
    name = f"sec_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(
        host=HOST, port=postgres.ports["postgres"], user=DB_USER, database="postgres"
    )
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def test_feedback_out_of_range_is_a_400_on_postgresql(
    make_app: AppFactory, pg_database: str
) -> None:
    app = await make_app(GUICHET__DATABASE__URL=pg_database)
    session = str(uuid.uuid4())
    query_id = await app.services.knowledge.queries.record("q", "webchat", "answer", "a")
    await TranscriptStore(app.services.engine).append(
        session,
        "webchat",
        [StoredMessage("bot", "réponse", {"feedback": {"query_id": query_id, "slug": "a"}})],
    )
    for body in (
        {"query_id": 2**31, "slug": "a", "useful": True},  # past PostgreSQL's INTEGER
        {"query_id": 2**63 - 1, "slug": "a", "useful": True},
        {"query_id": None, "slug": "a" * 121, "useful": True},  # past VARCHAR(120)
        {"query_id": None, "slug": "-".join(["a"] * 200), "useful": True},
    ):
        status, _, data = await post(app, f"/api/chat/{session}/feedback", body)
        assert status == 400 and data["error"]["code"] == "bad_feedback", body
    body = {"query_id": query_id, "slug": "a", "useful": True}
    assert (await post(app, f"/api/chat/{session}/feedback", body))[0] == 200


async def test_purge_and_erasure_of_a_postgresql_tracker_store(
    postgres: Service, pg_database: str, tmp_path: Path
) -> None:
    port = postgres.ports["postgres"]
    rasa_db = await new_database(postgres)
    engine = create_engine(pg_database)
    try:
        await create_schema(engine)
        await check_purge_and_erasure(
            engine,
            tmp_path,
            f"postgresql://{DB_USER}@{HOST}:{port}/{rasa_db}",
            {"dialect": "postgresql", "host": HOST, "port": port, "db": rasa_db,
             "username": DB_USER},
        )  # fmt: skip
    finally:
        await engine.dispose()
