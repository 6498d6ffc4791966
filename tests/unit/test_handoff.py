"""Handoff to a person: queue, atomic claim, routing while held, restart."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import Services, create_public_app
from bot.core.db import create_engine
from bot.domain.availability import AgentHours, easter, french_public_holidays, parse_ranges
from bot.schema import create_schema
from bot.storage.handoffs import HandoffStore
from tests.conftest import ALWAYS_OPEN, make_settings
from tests.support.rasa_double import RasaDouble


def test_public_holidays_and_hours() -> None:
    assert easter(2026) == date(2026, 4, 5)
    holidays = french_public_holidays(2026)
    assert date(2026, 4, 6) in holidays  # lundi de Pâques
    assert date(2026, 5, 14) in holidays  # Ascension
    assert date(2026, 5, 25) in holidays  # lundi de Pentecôte
    assert len(holidays) == 11
    hours = AgentHours(weekly={"mon": parse_ranges(["08:30-12:00"], "t")})
    assert hours.is_open(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))  # 10:00 in Paris
    assert not hours.is_open(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))  # 13:00 in Paris
    assert not hours.is_open(datetime(2026, 4, 6, 8, 0, tzinfo=UTC))  # Easter Monday
    with pytest.raises(ValueError, match="range"):
        parse_ranges(["8h-12h"], "t")


async def test_many_agents_claiming_at_once_exactly_one_wins(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    await create_schema(engine)
    store = HandoffStore(engine)
    handoff = await store.create("conv-123456789", "webchat", "asked")
    # Creating again returns the same open handoff, not a second one.
    assert (await store.create("conv-123456789", "webchat", "asked")).id == handoff.id
    results = await asyncio.gather(*(store.claim(handoff.id, f"agent{i}@m.fr") for i in range(30)))
    assert sum(results) == 1
    winner = await store.get(handoff.id)
    assert winner is not None and winner.status == "active"
    assert winner.claimed_by == f"agent{results.index(True)}@m.fr"
    await engine.dispose()


@pytest.fixture
async def rasa() -> AsyncIterator[tuple[RasaDouble, str]]:
    double = RasaDouble()
    server = TestServer(double.app(), host="127.0.0.1")
    await server.start_server()
    yield double, str(server.make_url("")).rstrip("/")
    await server.close()


async def start(data_dir: Path, rasa_url: str) -> tuple[Services, TestClient]:
    settings = make_settings(
        data_dir,
        rasa_url,
        GUICHET__HANDOFF__AGENT_HOURS=ALWAYS_OPEN,
        GUICHET__HANDOFF__GRACE_PERIOD_S="0.2",
    )
    services = await Services.start(settings)
    client = TestClient(TestServer(create_public_app(services), host="127.0.0.1"))
    await client.start_server()
    return services, client


async def next_frame(ws, kind: str) -> dict:  # type: ignore[no-untyped-def]
    while True:
        frame = await asyncio.wait_for(ws.receive_json(), 5)
        if frame["type"] == kind:
            return frame


async def test_held_conversation_is_relayed_both_ways_and_survives_restart(
    rasa: tuple[RasaDouble, str], data_dir: Path
) -> None:
    services, client = await start(data_dir, rasa[1])
    session = str(uuid.uuid4())
    handoff = services.handoff
    # No agent connected: nobody can take it, the citizen is told why.
    assert (await handoff.request(session, "webchat", "asked")).unavailable_reason == "no_agent"
    handoff.agent_connected("agent@mairie.fr")
    outcome = await handoff.request(session, "webchat", "asked")
    assert outcome.queued and outcome.position == 1 and outcome.estimated_wait_s
    async with client.ws_connect(f"/ws?session={session}") as ws:
        await next_frame(ws, "history")
        await ws.send_json({"type": "message", "text": "bonjour, j'attends un agent"})
        bot = await next_frame(ws, "bot")
        assert bot["messages"] == []  # the bot stays silent while a person holds it
        assert await handoff.claim(outcome.handoff_id, "agent@mairie.fr") is not None  # type: ignore[arg-type]
        joined = await next_frame(ws, "handoff")
        assert joined["status"] == "active" and "agent" in joined["text"]
        assert await handoff.agent_message(
            outcome.handoff_id, "agent@mairie.fr", "Bonjour, je vous écoute."
        )  # type: ignore[arg-type]
        pushed = await next_frame(ws, "agent")
        assert pushed["messages"][0]["text"] == "Bonjour, je vous écoute."
    # Rasa logged the citizen's message (paused) and got the agent's as a bot event
    # (appended in the background).
    assert [r["message"] for r in rasa[0].received] == ["bonjour, j'attends un agent"]
    agent_event = {"event": "bot", "text": "Bonjour, je vous écoute."}
    async with asyncio.timeout(5):
        while agent_event not in rasa[0].events.get(session, []):  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    # Restart: the handoff and the transcript are still there.
    await client.close()
    await services.close()
    services, client = await start(data_dir, rasa[1])
    held = await services.handoff.open_for(session)
    assert held is not None and held.status == "active"
    history = await (await client.get(f"/api/chat/{session}/history")).json()
    roles = [m["role"] for m in history["messages"]]
    assert roles.count("agent") == 1 and "user" in roles
    # The agent is not connected after the restart: after the grace period the
    # conversation goes back to the queue.
    await services.handoff.requeue_orphans()
    async with asyncio.timeout(5):
        while True:
            held = await services.handoff.open_for(session)
            assert held is not None
            if held.status == "waiting":
                break
            await asyncio.sleep(0.02)
    await client.close()
    await services.close()


async def test_leaving_the_queue_and_callback_tickets(
    rasa: tuple[RasaDouble, str], data_dir: Path
) -> None:
    services, client = await start(data_dir, rasa[1])
    session = str(uuid.uuid4())
    services.handoff.agent_connected("agent@mairie.fr")
    await services.handoff.request(session, "webchat", "asked")
    resp = await client.post(
        f"/api/chat/{session}/messages", json={"text": "Quitter", "payload": "/leave_queue"}
    )
    assert "quitté la file" in (await resp.json())["messages"][0]["text"]
    assert await services.handoff.open_for(session) is None
    ticket = await services.handoff.create_ticket(
        session, "webchat", "Camille Martin", "06 12 34 56 78", "question sur un permis"
    )
    assert ticket.reference.startswith("RAP-") and ticket.status == "open"
    updated = await services.handoff.update_ticket(ticket.id, "closed", "agent@mairie.fr")
    assert updated is not None and updated.status == "closed"
    assert [t.id for t in await services.handoff.tickets()] == []
    await client.close()
    await services.close()
