"""Two app instances and two Rasa servers behind nginx, sharing PostgreSQL, Redis
and a Chroma server: what one instance does, the other sees."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import aiohttp
import asyncpg
import pytest

from bot.admin.users import Role
from tests.scaled.conftest import Staff, staff_member
from tests.support.chat import Chat, texts
from tools.scaled import DB_USER, HOST, RASA_DB, ScaledStack

pytestmark = [pytest.mark.scaled, pytest.mark.timeout(900)]

# Bounds, not expectations: a failing push ends the test instead of hanging it.
FRAME_WAIT_S = 20.0
RASA_WAIT_S = 30.0


async def next_frame(
    ws: aiohttp.ClientWebSocketResponse, kind: str, wait_s: float = FRAME_WAIT_S
) -> dict[str, Any]:
    deadline = time.monotonic() + wait_s
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no {kind!r} frame within {wait_s:.0f} s")
        frame = await asyncio.wait_for(ws.receive_json(), remaining)
        if frame["type"] == kind:
            return dict(frame)


async def queue_with(ws: aiohttp.ClientWebSocketResponse, conversation: str) -> dict[str, Any]:
    """The first `queue` frame listing this conversation."""
    while True:
        frame = await next_frame(ws, "queue")
        mine = [h for h in frame["handoffs"] if h["conversation_id"] == conversation]
        if mine:
            return dict(mine[0])


async def console(
    http: aiohttp.ClientSession, base: str, staff: Staff
) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(f"{base}/agent/ws", headers=staff.headers)
    assert (await next_frame(ws, "hello"))["agent"] == staff.email
    await next_frame(ws, "queue")
    await next_frame(ws, "tickets")
    return ws


async def test_a_conversation_through_nginx(
    scaled: ScaledStack, http: aiohttp.ClientSession
) -> None:
    session = str(uuid.uuid4())
    # The widget's WebSocket through nginx (upgrade headers), then HTTP turns that
    # nginx spreads over both instances.
    async with http.ws_connect(f"{scaled.public_url}/ws?session={session}") as ws:
        assert (await next_frame(ws, "history"))["messages"] == []
        await ws.send_json({"type": "message", "text": "bonjour"})
        hello = await next_frame(ws, "bot", RASA_WAIT_S)
        assert "assistant" in texts(hello["messages"])
    chat = Chat(scaled.public_url, session)
    hours = texts(await chat.say("quels sont les horaires de la mairie ?"))
    assert "du lundi au vendredi" in hours
    cni = await chat.say("comment refaire ma carte d'identité")
    # A knowledge-base answer (direct or "Vouliez-vous dire"), through an action run by
    # one of the apps behind nginx's action endpoint.
    assert "carte-identite-demande" in json.dumps(cni), cni
    # Every instance reads the same transcript, in order.
    for base in scaled.app_urls:
        history = await Chat(base, session).history()
        assert [m["role"] for m in history] == ["user", "bot", "user", "bot", "user", "bot"]
        assert history[0]["text"] == "bonjour"


async def test_rasa_trackers_are_stored_in_postgresql(
    scaled: ScaledStack, http: aiohttp.ClientSession
) -> None:
    session = str(uuid.uuid4())
    await Chat(scaled.public_url, session).say("bonjour")
    conn = await asyncpg.connect(
        host=HOST, port=scaled.ports.postgres, user=DB_USER, database=RASA_DB, timeout=10
    )
    try:
        rows = await conn.fetch(
            "SELECT type_name, intent_name FROM events WHERE sender_id = $1 ORDER BY id", session
        )
    finally:
        await conn.close()
    assert ("user", "greet") in [(r["type_name"], r["intent_name"]) for r in rows]
    assert "bot" in [r["type_name"] for r in rows]
    # Nothing went to the single-process SQLite files.
    assert not (scaled.data_dir / "rasa_tracker.db").exists()
    assert not (scaled.data_dir / "guichet.db").exists()


async def test_handoff_queue_and_pushes_cross_instances(
    scaled: ScaledStack, http: aiohttp.ClientSession
) -> None:
    app_a, app_b = scaled.app_urls
    agent = await staff_member(scaled, Role.AGENT)
    colleague = await staff_member(scaled, Role.AGENT)
    # The agent's console on instance A, a colleague's on B, the citizen's widget on B.
    ws_a = await console(http, app_a, agent)
    ws_b = await console(http, app_b, colleague)
    session = str(uuid.uuid4())
    citizen = await http.ws_connect(f"{app_b}/ws?session={session}")
    try:
        await next_frame(citizen, "history")
        await citizen.send_json({"type": "message", "text": "je veux parler à un agent"})
        queued = await next_frame(citizen, "bot", RASA_WAIT_S)
        # Queued, not offered a callback: B knows an agent is connected to A.
        assert "Je vous mets en relation avec un agent" in texts(queued["messages"])

        # The queue, on both consoles, whichever instance ran the action.
        waiting_a = await queue_with(ws_a, session)
        waiting_b = await queue_with(ws_b, session)
        assert waiting_a["status"] == waiting_b["status"] == "waiting"
        handoff_id = waiting_a["id"]
        assert waiting_b["id"] == handoff_id

        # Citizen (B) -> agent (A).
        await citizen.send_json({"type": "message", "text": "C'est pour un acte de naissance."})
        relayed = await next_frame(ws_a, "message")
        assert relayed["role"] == "user" and relayed["text"] == "C'est pour un acte de naissance."

        # The agent on A takes it: the citizen on B is told, the colleague on B sees it go.
        await ws_a.send_json({"type": "claim", "handoff_id": handoff_id})
        assert (await next_frame(ws_a, "claimed"))["ok"] is True
        while (frame := await next_frame(citizen, "handoff"))["status"] != "active":
            pass
        assert frame["text"] == "Un agent de la mairie a rejoint la conversation."
        active = await queue_with(ws_b, session)
        while active["status"] != "active":
            active = await queue_with(ws_b, session)
        assert active["claimed_by"] == agent.email

        # Agent (A) -> citizen (B), pushed live through Redis.
        await ws_a.send_json({"type": "send", "handoff_id": handoff_id, "text": "Bonjour !"})
        pushed = await next_frame(citizen, "agent")
        assert pushed["messages"] == [{"role": "agent", "text": "Bonjour !"}]

        await ws_a.send_json({"type": "close", "handoff_id": handoff_id, "reason": "done"})
        while (frame := await next_frame(citizen, "handoff"))["status"] != "closed":
            pass
    finally:
        for ws in (citizen, ws_a, ws_b):
            await ws.close()


async def test_an_article_saved_on_one_instance_is_found_on_the_other(
    scaled: ScaledStack, http: aiohttp.ClientSession
) -> None:
    app_a, app_b = scaled.app_urls
    editor = await staff_member(scaled, Role.ADMIN)
    slug = f"ruches-{uuid.uuid4().hex[:6]}"
    form = {
        "csrf_token": editor.csrf,
        "slug": slug,
        "title": "Déclarer des ruches d'abeilles",
        "category": "Environnement",
        "synonyms": "apiculture, ruchers",
        "status": "published",
        "body": "Tout apiculteur déclare ses ruches chaque année entre septembre et décembre.",
        "summary": "création",
    }
    async with http.post(
        f"{app_a}/admin/articles/new", data=form, headers=editor.headers, allow_redirects=False
    ) as resp:
        assert resp.status == 303, await resp.text()
    # Instance B follows the shared database (and reuses the vector A wrote to Chroma).
    ws = await console(http, app_b, editor)
    try:
        deadline = time.monotonic() + 30
        found: list[str] = []
        while slug not in found:
            assert time.monotonic() < deadline, f"{slug} not searchable on B: {found}"
            await ws.send_json({"type": "kb_search", "query": "déclarer mes ruches apiculture"})
            found = [r["slug"] for r in (await next_frame(ws, "kb_results"))["results"]]
            if slug not in found:
                await asyncio.sleep(0.5)
    finally:
        await ws.close()
