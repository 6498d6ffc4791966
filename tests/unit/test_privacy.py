"""RGPD: personal data masked before storage and in logs, purged after retention, erasable."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

import bot.core.privacy as privacy
from bot.app import Services, create_public_app
from bot.core.privacy import public_key, redact
from bot.observability.logs import MAX_MESSAGE_CHARS, RedactionFilter
from bot.retention import delete_conversation, purge
from bot.storage.calls import calls
from bot.storage.database import conversations, messages, reports
from bot.storage.handoffs import handoffs, tickets
from knowledge_base.logbook import kb_feedback, kb_queries
from tests.conftest import make_settings
from tests.support.rasa_double import RasaDouble
from tests.support.rasa_tracker import write_rasa_conversations

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("écrivez à camille.martin@exemple.fr svp", "écrivez à [courriel] svp"),
        ("mon 06 12 34 56 78 ou +33 6 12 34 56 78", "mon [téléphone] ou [téléphone]"),
        ("au +33 (0)6 12 34 56 78 ou au (+33) 6 12 34 56 78", "au [téléphone] ou au [téléphone]"),
        ("06.12.34.56.78, 06-12-34-56-78, 0612345678", "[téléphone], [téléphone], [téléphone]"),
        # Other countries: with the international prefix, "+" or "00".
        (
            "+44 20 7946 0958, +49 30 1234567, 0032 470 12 34 56",
            "[téléphone], [téléphone], [téléphone]",
        ),
        # What speech recognition writes for a number said aloud.
        ("zéro six douze trente-quatre cinquante-six soixante-dix-huit", "[téléphone]"),
        ("c'est zero six douze trente quatre cinquante six soixante dix huit", "c'est [téléphone]"),
        ("zéro un quatre-vingt-dix-neuf vingt et un soixante et onze quatre-vingts", "[téléphone]"),
        (
            "plus trente-trois six douze trente-quatre cinquante-six soixante-dix-huit",
            "[téléphone]",
        ),
        ("NIR 1 85 05 78 006 084 36", "NIR [nir]"),
        ("NIR 1-85-05-78-006-084-36 ou 2.85.05.2A.006.084", "NIR [nir] ou [nir]"),
        ("IBAN FR76 3000 6000 0112 3456 7890 189", "IBAN [iban]"),
        ("IBAN FR76-3000-6000-0112-3456-7890-189", "IBAN [iban]"),
        ("mon iban fr7630006000011234567890189 merci", "mon iban [iban] merci"),
        ("iban fr76 3000 6000 0112 3456 7890 188 (une faute)", "iban [iban] (une faute)"),
        # A SIP Call-ID has the shape of a lower-case IBAN, not its check digits.
        ("call fa64ff49d4e757e2 (PCMU)", None),
        ("call ef51c4fef95618cb answered (PCMU)", None),
        ("carte 4970 1012 3456 7890", "carte [carte]"),
        ("carte 4970.1012.3456.7890 ou 4970-1012-3456-7890", "carte [carte] ou [carte]"),
        ("amex 3782 822463 10005", "amex [carte]"),  # 15 digits, 4-6-5
        # Not personal: dates, hours, emergency numbers, postcodes, references, lists.
        ("le 12/09/2026 à 14 h, au 15 ou au 112, 45990, SIG-7K3D9Q", None),
        ("codes 45990 45000 45100, de plus en plus, un deux trois", None),
        ("2 rue des Lilas 45990 Villebrune, le 3 mai 2026 à 10 h 30", None),
    ],
)
def test_redaction(text: str, expected: str | None) -> None:
    assert redact(text) == (expected if expected is not None else text)


def test_public_contacts_can_be_kept() -> None:
    keep = {public_key("01 99 00 12 34"), public_key("contact@villebrune.example")}
    text = "Mairie : 01.99.00.12.34, contact@villebrune.example ; vous : 06 12 34 56 78"
    assert redact(text, keep) == (
        "Mairie : 01.99.00.12.34, contact@villebrune.example ; vous : [téléphone]"
    )


# Inputs that made the old single-regex masking quadratic (e-mail pattern retried
# at every word boundary), and inputs that stress each part of the scanner. Each
# is as large as the largest body the public app accepts.
MAX_BODY = 64 * 1024
ADVERSARIAL: dict[str, Callable[[int], str]] = {
    "dotted words": lambda n: ("a." * n)[:n],
    "at signs": lambda n: ("a@" * n)[:n],
    "local parts": lambda n: ("a.a.a.a@" * n)[:n],
    "one long domain": lambda n: "@" + ("a." * n)[: n - 1],
    "single digits": lambda n: ("1 " * n)[:n],
    "zeros": lambda n: ("0 " * n)[:n],
    "fours": lambda n: ("4444 " * n)[:n],
    "number words": lambda n: ("zéro " * n)[:n],
    "et": lambda n: ("un et " * n)[:n],
    "plus signs": lambda n: ("+1 " * n)[:n],
    "iban prefix": lambda n: ("FR76 " + "AAAA " * n)[:n],
    "corsica": lambda n: ("2A " * n)[:n],
    "parentheses": lambda n: ("( " * n)[:n],
    "real data": lambda n: ("appelez le 06 12 34 56 78 ou jean@x.fr " * n)[:n],
}


def _python_steps(text: str) -> int:
    """Lines of the masking module executed on `text`: its work, counted, not timed."""
    steps = 0
    module = privacy.__file__

    def tracer(frame: Any, event: str, _arg: Any) -> Any:
        nonlocal steps
        if frame.f_code.co_filename != module:
            return None
        if event == "line":
            steps += 1
        return tracer

    sys.settrace(tracer)
    try:
        redact(text)
    finally:
        sys.settrace(None)
    return steps


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_masking_work_grows_linearly_up_to_the_largest_body(name: str) -> None:
    make = ADVERSARIAL[name]
    half, full = make(MAX_BODY // 2), make(MAX_BODY)
    # What is masked is right at the largest size too.
    masked = redact(full)
    assert len(masked) <= len(full) + len(full) // 2
    if name == "real data":
        assert "06 12 34 56 78" not in masked and "jean@x.fr" not in masked
        assert masked.count("[téléphone]") == full.count("06 12 34 56 78")
    if name in ("dotted words", "at signs", "parentheses"):
        assert masked == full
    # Twice the input, about twice the work (a quadratic scanner does 4 times).
    small, large = _python_steps(half), _python_steps(full)
    assert large <= 2.3 * small + 1000, (small, large)


def test_a_log_record_is_masked_and_capped() -> None:
    hostile = "a." * MAX_BODY + " jean.dupont@example.fr"
    record = logging.LogRecord(
        "bot.test",
        logging.INFO,
        __file__,
        1,
        "refused %s from %s",
        (hostile, "06 12 34 56 78"),
        None,
    )
    setattr(record, "detail", "x" * 50_000 + " 06 12 34 56 78")  # noqa: B010
    assert RedactionFilter().filter(record)
    message = record.getMessage()
    assert len(message) < MAX_MESSAGE_CHARS + 100 and "characters cut" in message
    detail = str(getattr(record, "detail"))  # noqa: B009 (an extra: not a declared attribute)
    assert len(detail) < 1100 and "06 12" not in detail
    short = logging.LogRecord(
        "bot.test", logging.INFO, __file__, 1, "tel %s", ("06 12 34 56 78",), None
    )
    RedactionFilter().filter(short)
    assert short.getMessage() == "tel [téléphone]"


@pytest.fixture
async def services(data_dir: Path) -> AsyncIterator[tuple[Services, TestClient, RasaDouble]]:
    double = RasaDouble()
    rasa = TestServer(double.app(), host="127.0.0.1")
    await rasa.start_server()
    services = await Services.start(make_settings(data_dir, str(rasa.make_url("")).rstrip("/")))
    # The start-up retention round first: running beside a test's seeding it would
    # purge some of the old rows before the test's own purge counts them.
    await asyncio.wait_for(services.purged.wait(), timeout=120)
    client = TestClient(TestServer(create_public_app(services), host="127.0.0.1"))
    await client.start_server()
    yield services, client, double
    await client.close()
    await services.close()
    await rasa.close()


async def test_stored_transcripts_and_questions_are_redacted(
    services: tuple[Services, TestClient, RasaDouble], data_dir: Path
) -> None:
    svc, client, _ = services
    session = str(uuid.uuid4())
    # The Rasa stand-in echoes the text: a bot reply repeating the citizen's contact.
    await client.post(
        f"/api/chat/{session}/messages", json={"text": "rappelez-moi au 06 12 34 56 78"}
    )
    # A button payload carrying entities (as the bot's own buttons may).
    await client.post(
        f"/api/chat/{session}/messages",
        json={"text": "Oui", "payload": '/inform{"contact": "jean.dupont@example.fr"}'},
    )
    # The knowledge base logs the question a citizen asked (what the KB action does).
    await svc.knowledge.answer("ma carte 4970 1012 3456 7890 est perdue, 06 12 34 56 78")
    with sqlite3.connect(data_dir / "guichet.db") as db:
        stored = db.execute("SELECT role, text, data FROM messages ORDER BY id").fetchall()
        questions = [r[0] for r in db.execute("SELECT question FROM kb_queries")]
    everything = json.dumps([stored, questions], ensure_ascii=False)
    for secret in ("06 12 34 56 78", "jean.dupont@example.fr", "4970 1012"):
        assert secret not in everything
    assert [(r, t) for r, t, _ in stored[:2]] == [
        ("user", "rappelez-moi au [téléphone]"),
        ("bot", "écho : rappelez-moi au [téléphone]"),
    ]
    assert json.loads(stored[3][2]) == {"payload": '/inform{"contact": "[courriel]"}'}
    assert questions == ["ma carte [carte] est perdue, [téléphone]"]
    # The live answer showed what Rasa said; the stored one is masked, except the
    # town hall's own number, which stays readable in the history.
    session_2 = str(uuid.uuid4())
    resp = await client.post(
        f"/api/chat/{session_2}/messages", json={"text": "la mairie au 01 99 00 12 34"}
    )
    assert (await resp.json())["messages"][0]["text"] == "écho : la mairie au 01 99 00 12 34"
    history = await (await client.get(f"/api/chat/{session_2}/history")).json()
    assert history["messages"][1]["text"] == "écho : la mairie au 01 99 00 12 34"


# --- retention and erasure ---
OLD = datetime.now(UTC) - timedelta(days=120)


async def seed_everything(engine: AsyncEngine, conversation: str, at: datetime) -> None:
    """A conversation with every kind of row the app keeps about it, dated `at`."""
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(conversations).values(
                id=conversation, channel="webchat", created_at=at, updated_at=at
            )
        )
        await conn.execute(
            sa.insert(messages),
            [
                {"conversation_id": conversation, "role": r, "text": "bonjour", "data": {},
                 "created_at": at}
                for r in ("user", "bot")
            ],
        )  # fmt: skip
        await conn.execute(
            sa.insert(handoffs).values(
                conversation_id=conversation, channel="webchat", status="closed",
                reason="asked", requested_at=at, outcome="closed",
            )
        )  # fmt: skip
        await conn.execute(
            sa.insert(tickets).values(
                reference=f"RAP-{conversation[:6].upper()}", conversation_id=conversation,
                channel="webchat", name="Jean", contact="06 12 34 56 78", subject="rappel",
                consent_text="oui", status="closed", created_at=at, updated_at=at,
            )
        )  # fmt: skip
        await conn.execute(
            sa.insert(reports).values(
                reference=f"SIG-{conversation[:6].upper()}", category="voirie",
                location="rue des Lilas", description="nid de poule", contact="jean@x.fr",
                conversation_id=conversation, status="open", created_at=at,
            )
        )  # fmt: skip
        await conn.execute(
            sa.insert(calls).values(
                call_id=f"call-{conversation}", conversation_id=conversation, started_at=at,
                ended_at=at, outcome="hung_up", turns=1, barge_ins=0,
            )
        )  # fmt: skip
        query = await conn.execute(
            sa.insert(kb_queries).values(
                question="horaires ?", channel="webchat", confidence="answer", created_at=at
            )
        )
        await conn.execute(
            sa.insert(kb_feedback).values(
                query_id=query.inserted_primary_key[0],  # type: ignore[index]
                slug="horaires", useful=True,
                created_at=at,
            )
        )  # fmt: skip


async def counts_by_table(engine: AsyncEngine) -> dict[str, int]:
    out = {}
    async with engine.connect() as conn:
        for table in (conversations, messages, handoffs, tickets, reports, calls, kb_queries,
                      kb_feedback):  # fmt: skip
            out[table.name] = int(
                (await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar() or 0
            )
        out["report_contacts"] = int(
            (
                await conn.execute(
                    sa.select(sa.func.count())
                    .select_from(reports)
                    .where(reports.c.contact.is_not(None))
                )
            ).scalar()
            or 0
        )
    return out


EVERY_TABLE_ONCE = {
    "conversations": 1, "messages": 2, "handoffs": 1, "tickets": 1, "reports": 1, "calls": 1,
    "kb_queries": 1, "kb_feedback": 1, "report_contacts": 1,
}  # fmt: skip


async def check_purge_and_erasure(
    engine: AsyncEngine, data_dir: Path, tracker_url: str | None, store_args: dict[str, object]
) -> None:
    """Old rows go (reports stay without their contact), recent ones stay; then one
    conversation is erased everywhere, Rasa's tracker included."""
    old, recent = str(uuid.uuid4()), str(uuid.uuid4())
    await seed_everything(engine, old, OLD)
    await seed_everything(engine, recent, datetime.now(UTC))
    tables = write_rasa_conversations(
        store_args,
        {
            old: [("bonjour", OLD.timestamp())],
            recent: [("bonjour", datetime.now(UTC).timestamp())],
        },
    )
    assert "events" in tables
    counts = await purge(engine, data_dir, 90, tracker_url)
    assert counts == {
        "messages": 2, "conversations": 1, "handoffs": 1, "tickets": 1, "kb_feedback": 1,
        "kb_queries": 1, "calls": 1, "report_contacts": 1, "notifications": 0,
        "rasa_events": 2,
    }  # fmt: skip
    left = await counts_by_table(engine)
    # The old report is kept for the services' follow-up, without the contact.
    assert left == {**EVERY_TABLE_ONCE, "reports": 2}
    erased = await delete_conversation(engine, data_dir, recent, tracker_url)
    assert erased == {
        "messages": 2, "handoffs": 1, "tickets": 1, "reports": 1, "calls": 1,
        "conversations": 1, "notifications": 0, "rasa_events": 2,
    }  # fmt: skip
    left = await counts_by_table(engine)
    assert left["reports"] == 1 and left["report_contacts"] == 0
    assert {k: left[k] for k in ("conversations", "messages", "handoffs", "tickets", "calls")} == {
        "conversations": 0, "messages": 0, "handoffs": 0, "tickets": 0, "calls": 0,
    }  # fmt: skip
    # Nothing of either conversation is left in Rasa's store.
    assert await delete_conversation(engine, data_dir, old, tracker_url) == {
        "messages": 0, "handoffs": 0, "tickets": 0, "reports": 1, "calls": 0,
        "conversations": 0, "notifications": 0, "rasa_events": 0,
    }  # fmt: skip


async def test_purge_and_erasure_cover_every_table_and_rasas_tracker(
    services: tuple[Services, TestClient, RasaDouble], data_dir: Path
) -> None:
    svc, _, _ = services
    tracker = data_dir / "rasa_tracker.db"
    await check_purge_and_erasure(
        svc.engine, data_dir, None, {"dialect": "sqlite", "db": str(tracker)}
    )


async def test_the_cli_exports_then_erases_a_conversation(
    services: tuple[Services, TestClient, RasaDouble], data_dir: Path
) -> None:
    _, client, _ = services
    recent = str(uuid.uuid4())
    await client.post(f"/api/chat/{recent}/messages", json={"text": "bonjour"})
    write_rasa_conversations(
        {"dialect": "sqlite", "db": str(data_dir / "rasa_tracker.db")},
        {recent: [("bonjour", datetime.now(UTC).timestamp())]},
    )
    env = {"GUICHET_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tools.privacy", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )

    data = json.loads((await asyncio.to_thread(cli, "export", recent)).stdout)
    assert data["messages"][0]["text"] == "bonjour"
    assert [e["type"] for e in data["rasa_events"]][-2:] == ["user", "bot"]
    erased = json.loads((await asyncio.to_thread(cli, "delete", recent)).stdout)["deleted"]
    assert erased["messages"] == 3 and erased["conversations"] == 1
    assert erased["rasa_events"] >= 2
    history = await (await client.get(f"/api/chat/{recent}/history")).json()
    assert history["messages"] == []
