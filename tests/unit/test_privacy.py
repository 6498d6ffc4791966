"""RGPD: personal data masked before storage, purged after retention, erasable."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer

from bot.app import Services, create_public_app
from bot.domain.privacy import redact
from bot.storage.database import conversations
from bot.storage.retention import delete_conversation, purge
from tests.conftest import make_settings
from tests.support.rasa_double import RasaDouble

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("écrivez à camille.martin@exemple.fr svp", "écrivez à [courriel] svp"),
        ("mon 06 12 34 56 78 ou +33 6 12 34 56 78", "mon [téléphone] ou [téléphone]"),
        ("NIR 1 85 05 78 006 084 36", "NIR [nir]"),
        ("IBAN FR76 3000 6000 0112 3456 7890 189", "IBAN [iban]"),
        ("carte 4970 1012 3456 7890", "carte [carte]"),
        # Not personal: dates, hours, emergency numbers, postcodes, references.
        ("le 12/09/2026 à 14 h, au 15 ou au 112, 45990, SIG-7K3D9Q", None),
    ],
)
def test_redaction(text: str, expected: str | None) -> None:
    assert redact(text) == (expected if expected is not None else text)


@pytest.fixture
async def services(data_dir: Path) -> AsyncIterator[tuple[Services, TestClient]]:
    double = RasaDouble()
    rasa = TestServer(double.app(), host="127.0.0.1")
    await rasa.start_server()
    services = await Services.start(make_settings(data_dir, str(rasa.make_url("")).rstrip("/")))
    client = TestClient(TestServer(create_public_app(services), host="127.0.0.1"))
    await client.start_server()
    yield services, client
    await client.close()
    await services.close()
    await rasa.close()


async def test_stored_transcripts_and_questions_are_redacted(
    services: tuple[Services, TestClient], data_dir: Path
) -> None:
    _, client = services
    session = str(uuid.uuid4())
    await client.post(
        f"/api/chat/{session}/messages", json={"text": "rappelez-moi au 06 12 34 56 78"}
    )
    with sqlite3.connect(data_dir / "guichet.db") as db:
        stored = [r[0] for r in db.execute("SELECT text FROM messages WHERE role = 'user'")]
    assert stored == ["rappelez-moi au [téléphone]"]


async def test_purge_and_erasure(services: tuple[Services, TestClient], data_dir: Path) -> None:
    svc, client = services
    old, recent = str(uuid.uuid4()), str(uuid.uuid4())
    for session in (old, recent):
        await client.post(f"/api/chat/{session}/messages", json={"text": "bonjour"})
    async with svc.engine.begin() as conn:
        await conn.execute(
            sa.update(conversations)
            .where(conversations.c.id == old)
            .values(updated_at=datetime.now(UTC) - timedelta(days=120))
        )
    tracker = data_dir / "rasa_tracker.db"
    with sqlite3.connect(tracker) as db:
        db.execute(
            "CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id TEXT, type_name TEXT,"
            " timestamp REAL, data TEXT)"
        )
        db.executemany(
            "INSERT INTO events (sender_id, type_name, timestamp, data)"
            " VALUES (?, 'user', ?, '{}')",
            [
                (old, (datetime.now(UTC) - timedelta(days=120)).timestamp()),
                (recent, datetime.now(UTC).timestamp()),
            ],
        )
    counts = await purge(svc.engine, data_dir, 90)
    # The Rasa stand-in answers twice per turn: 1 user + 2 bot messages.
    assert counts["conversations"] == 1 and counts["messages"] == 3
    assert counts["rasa_events"] == 1
    with sqlite3.connect(data_dir / "guichet.db") as db:
        left = {r[0] for r in db.execute("SELECT conversation_id FROM messages")}
    assert left == {recent}
    # The CLI exports, then erases, the recent conversation.
    env = {"GUICHET_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin"}
    exported = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot.privacy", "export", recent],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(exported.stdout)
    assert data["messages"][0]["text"] == "bonjour" and data["rasa_events"]
    erased = await delete_conversation(svc.engine, data_dir, recent)
    assert erased["messages"] == 3 and erased["conversations"] == 1
    assert erased["rasa_events"] == 1
    history = await (await client.get(f"/api/chat/{recent}/history")).json()
    assert history["messages"] == []
