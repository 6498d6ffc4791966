"""Hostile input and the RGPD purge on PostgreSQL, the scaled-out database: what
SQLite forgives (an id past 32 bits, a slug past its column's 120 characters)
must still be a clear 400, and Rasa's tracker store there is purged and erased
like the SQLite one."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from bot.scaled import DB_USER, HOST, Service, free_port, postgres_service, scratch_dirs
from bot.storage.database import create_engine, create_schema
from bot.storage.transcripts import StoredMessage, TranscriptStore
from tests.scaled.conftest import require_scaled_binaries
from tests.security.conftest import AppFactory
from tests.security.test_public_api import post
from tests.unit.test_privacy import check_purge_and_erasure

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    require_scaled_binaries()
    data_dir = tmp_path_factory.mktemp("pg-security")
    service = postgres_service(data_dir, free_port(), data_dir / "logs")
    try:
        service.start()
        service.wait_ready(120)
        yield service
    finally:
        service.stop()
        for leftover in scratch_dirs(data_dir):
            shutil.rmtree(leftover, ignore_errors=True)


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


@pytest.fixture
async def pg_url(postgres: Service) -> AsyncIterator[str]:
    name = await new_database(postgres)
    yield f"postgresql+asyncpg://{DB_USER}@{HOST}:{postgres.ports['postgres']}/{name}"


async def test_feedback_out_of_range_is_a_400_on_postgresql(
    make_app: AppFactory, pg_url: str
) -> None:
    app = await make_app(GUICHET__DATABASE__URL=pg_url)
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
    postgres: Service, pg_url: str, tmp_path: Path
) -> None:
    port = postgres.ports["postgres"]
    rasa_db = await new_database(postgres)
    engine = create_engine(pg_url)
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
