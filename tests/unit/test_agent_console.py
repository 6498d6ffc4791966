"""The agent console over HTTP and WebSocket: access rules, Origin check, protocol.

The app is built as in production (`Services.start` + `create_public_app`)
with the Rasa double; staff sign in through /admin/login like a browser.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

from bot.admin.users import Role, UserStore
from bot.app import Services, create_public_app
from tests.conftest import ALWAYS_OPEN, copy_base, make_settings
from tests.support.rasa_double import RasaDouble
from tests.unit.test_admin_auth import PASSWORD, Browser

AGENT = "accueil@villebrune.example"
AGENT_2 = "etat-civil@villebrune.example"
EDITOR = "redaction@villebrune.example"
ADMIN = "dsi@villebrune.example"


@dataclass
class Env:
    services: Services
    server: TestServer

    @property
    def base(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    @property
    def origin(self) -> str:
        return self.base


@pytest.fixture(scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory, demo_base: Path) -> AsyncIterator[Env]:
    rasa = TestServer(RasaDouble().app(), host="127.0.0.1")
    await rasa.start_server()
    data_dir = tmp_path_factory.mktemp("console-data")
    # The demo articles, so the console's knowledge-base search has something to find.
    copy_base(demo_base, data_dir)
    settings = make_settings(
        data_dir,
        str(rasa.make_url("")).rstrip("/"),
        GUICHET__RASA__TIMEOUT_S="1",
        GUICHET__HANDOFF__AGENT_HOURS=ALWAYS_OPEN,
    )
    services = await Services.start(settings)
    server = TestServer(create_public_app(services), host="127.0.0.1")
    await server.start_server()
    users = UserStore(services.engine)
    for email, role in (
        (AGENT, Role.AGENT),
        (AGENT_2, Role.AGENT),
        (EDITOR, Role.EDITOR),
        (ADMIN, Role.ADMIN),
    ):
        await users.create(email, PASSWORD, role)
    yield Env(services, server)
    await server.close()
    await services.close()
    await rasa.close()


async def signed_in(env: Env, email: str) -> Browser:
    b = Browser(env.base)
    resp = await b.login(email)
    assert resp.status == 303
    return b


@pytest.fixture
async def agent(env: Env) -> AsyncIterator[Browser]:
    b = await signed_in(env, AGENT)
    yield b
    await b.close()


async def next_frame(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    while True:
        frame = await asyncio.wait_for(ws.receive_json(), 5)
        if frame["type"] == kind:
            return dict(frame)


async def handoff_frame(ws: aiohttp.ClientWebSocketResponse, status: str) -> dict[str, Any]:
    """The citizen's next `handoff` frame of this status (position updates come first)."""
    while True:
        frame = await next_frame(ws, "handoff")
        if frame["status"] == status:
            return frame


async def error_after(ws: aiohttp.ClientWebSocketResponse, frame: Any) -> str:
    await ws.send_json(frame)
    return str((await next_frame(ws, "error"))["message"])


async def console(env: Env, who: Browser) -> aiohttp.ClientWebSocketResponse:
    ws = await who.http.ws_connect("/agent/ws", origin=env.origin)
    hello = await next_frame(ws, "hello")
    assert hello["agent"] in (AGENT, AGENT_2, ADMIN)
    await next_frame(ws, "queue")
    await next_frame(ws, "tickets")
    return ws


# --- access ---
async def test_anonymous_visitors_are_sent_to_sign_in(env: Env) -> None:
    b = Browser(env.base)
    try:
        for path in ("/agent", "/agent/", "/agent/ws", "/agent/static/console.js"):
            resp, _ = await b.get(path)
            assert resp.status == 303, path
            assert resp.headers["Location"].startswith("/admin/login?next=%2Fagent"), path
        # The handshake is refused (the client follows the redirect to the sign-in page).
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await b.http.ws_connect("/agent/ws", origin=env.origin)
        assert refused.value.request_info.real_url.path == "/admin/login"
        assert [r.status for r in refused.value.history] == [303]
    finally:
        await b.close()


async def test_editors_are_refused_agents_and_admins_get_in(env: Env) -> None:
    editor = await signed_in(env, EDITOR)
    try:
        for path in ("/agent", "/agent/ws", "/agent/static/console.js"):
            resp, text = await editor.get(path)
            assert resp.status == 403 and "Accès refusé" in text, path
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await editor.http.ws_connect("/agent/ws", origin=env.origin)
        assert refused.value.status == 403
    finally:
        await editor.close()
    for email in (AGENT, ADMIN):
        b = await signed_in(env, email)
        try:
            resp, text = await b.get("/agent")
            assert resp.status == 200 and '<html lang="fr">' in text
            assert "/agent/static/console.js" in text and "/agent/static/console.css" in text
            assert resp.headers["Cache-Control"] == "no-store"
            assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
            assert resp.headers["X-Frame-Options"] == "DENY"
            ws = await console(env, b)
            await ws.close()
        finally:
            await b.close()


async def test_static_files_are_the_two_console_files_only(env: Env, agent: Browser) -> None:
    resp, text = await agent.get("/agent/static/console.js")
    assert resp.status == 200 and resp.content_type == "text/javascript"
    assert "textContent" in text and "innerHTML" not in text
    resp, _ = await agent.get("/agent/static/console.css")
    assert resp.status == 200 and resp.content_type == "text/css"
    for path in (
        "/agent/static/console.html",
        "/agent/static/..%2Fconsole.html",
        "/agent/static/widget.js",
    ):
        resp, _ = await agent.get(path)
        assert resp.status == 404, path


async def test_cross_origin_websocket_is_refused(env: Env, agent: Browser) -> None:
    for origin in ("http://evil.example", "https://villebrune.example.evil.example"):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await agent.http.ws_connect("/agent/ws", origin=origin)
        assert refused.value.status == 403
    # The same origin is welcome, and so is a client that sends none (not a browser).
    ws = await console(env, agent)
    await ws.close()
    async with agent.http.ws_connect("/agent/ws") as ws:
        assert (await next_frame(ws, "hello"))["agent"] == AGENT


# --- protocol ---
async def test_protocol_errors_get_french_error_frames(env: Env, agent: Browser) -> None:
    ws = await console(env, agent)
    try:
        assert await error_after(ws, [1, 2]) == "Message illisible."
        assert await error_after(ws, {"type": "dance"}) == "Action inconnue."
        assert await error_after(ws, {}) == "Action inconnue."
        for bad_id in (None, "1", True, 1.5):
            frame = {"type": "claim", "handoff_id": bad_id}
            assert await error_after(ws, frame) == "Conversation inconnue.", bad_id
        assert await error_after(ws, {"type": "open", "handoff_id": 99999}) == (
            "Conversation inconnue."
        )
        claimed = {"type": "claim", "handoff_id": 99999}
        await ws.send_json(claimed)
        assert (await next_frame(ws, "claimed"))["ok"] is False
        assert (await next_frame(ws, "error"))["message"] == (
            "Cette conversation a déjà été prise en charge."
        )
        not_held = "Vous ne tenez pas cette conversation."
        for kind in ("hand_back", "close"):
            assert await error_after(ws, {"type": kind, "handoff_id": 99999}) == not_held
        assert await error_after(ws, {"type": "send", "handoff_id": 99999, "text": "x"}) == (
            not_held
        )
        for text in ("", "   ", 12, "x" * 4001):
            message = await error_after(ws, {"type": "send", "handoff_id": 1, "text": text})
            assert message == "Message vide ou trop long (4000 max).", text
        for ticket in (
            {"type": "ticket", "ticket_id": "1", "status": "closed"},
            {"type": "ticket", "ticket_id": 1, "status": "lost"},
            {"type": "ticket", "ticket_id": 99999, "status": "closed"},
        ):
            assert await error_after(ws, ticket) == "Demande de rappel inconnue.", ticket
        await ws.send_json({"type": "kb_search", "query": "  "})
        assert (await next_frame(ws, "kb_results"))["results"] == []
        # Still connected after all that; a frame that is not JSON ends it.
        await ws.send_str("{not json")
        assert (await next_frame(ws, "error"))["message"] == "Message illisible : JSON attendu."
        closing = await asyncio.wait_for(ws.receive(), 5)
        assert closing.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)
        assert ws.close_code == 1007
    finally:
        await ws.close()


async def test_queue_claim_relay_and_hand_back(env: Env, agent: Browser) -> None:
    """What the console page does, frame by frame, with a citizen on the widget's socket."""
    other = await signed_in(env, AGENT_2)
    ws = await console(env, agent)
    ws2 = await console(env, other)
    session = str(uuid.uuid4())
    http = aiohttp.ClientSession(base_url=env.base)
    citizen = await http.ws_connect(f"/ws?session={session}")
    try:
        await next_frame(citizen, "history")
        outcome = await env.services.handoff.request(session, "webchat", "asked")
        assert outcome.queued and outcome.handoff_id is not None
        handoff_id = outcome.handoff_id
        # Both consoles see it arrive, live.
        for socket in (ws, ws2):
            queue = await next_frame(socket, "queue")
            waiting = [h for h in queue["handoffs"] if h["id"] == handoff_id]
            assert waiting and waiting[0]["status"] == "waiting"
            assert waiting[0]["conversation_id"] == session
        # The citizen writes while waiting: the consoles get it.
        await citizen.send_json({"type": "message", "text": "Bonjour, c'est pour un permis."})
        relayed = await next_frame(ws, "message")
        assert relayed["handoff_id"] == handoff_id and relayed["role"] == "user"
        assert relayed["text"] == "Bonjour, c'est pour un permis."

        await ws.send_json({"type": "claim", "handoff_id": handoff_id})
        assert (await next_frame(ws, "claimed"))["ok"] is True
        opened = await next_frame(ws, "conversation")
        assert opened["handoff"]["claimed_by"] == AGENT
        assert [m["role"] for m in opened["transcript"]] == ["user", "system"]
        assert set(opened["context"]) == {"intents", "slots", "articles"}
        joined = await handoff_frame(citizen, "active")
        assert joined["text"] == "Un agent de la mairie a rejoint la conversation."

        # The second agent is too late.
        await ws2.send_json({"type": "claim", "handoff_id": handoff_id})
        assert (await next_frame(ws2, "claimed"))["ok"] is False
        assert (await next_frame(ws2, "error"))["message"] == (
            "Cette conversation a déjà été prise en charge."
        )
        assert await error_after(
            ws2, {"type": "send", "handoff_id": handoff_id, "text": "Moi aussi"}
        ) == ("Vous ne tenez pas cette conversation.")

        # Typing and messages, both ways.
        await ws.send_json({"type": "typing", "handoff_id": handoff_id, "on": True})
        assert (await next_frame(citizen, "typing")) == {
            "type": "typing",
            "on": True,
            "who": "agent",
        }
        await ws.send_json({"type": "send", "handoff_id": handoff_id, "text": " Bonjour ! "})
        pushed = await next_frame(citizen, "agent")
        assert pushed["messages"] == [{"role": "agent", "text": "Bonjour !"}]
        echoed = await next_frame(ws, "message")
        assert echoed["role"] == "agent" and echoed["agent"] == AGENT
        await citizen.send_json({"type": "typing", "on": True})
        typing = await next_frame(ws, "typing")
        assert typing == {"type": "typing", "handoff_id": handoff_id, "role": "user", "on": True}

        await ws.send_json({"type": "kb_search", "query": "carte d'identité"})
        results = (await next_frame(ws, "kb_results"))["results"]
        assert results and results[0]["slug"] == "carte-identite-demande", results
        assert results[0]["title"] and results[0]["url"]
        await ws.send_json({"type": "kb_search", "query": "  "})
        assert (await next_frame(ws, "kb_results"))["results"] == []

        await ws.send_json({"type": "hand_back", "handoff_id": handoff_id})
        back = await handoff_frame(citizen, "bot")
        assert "assistant automatisé" in back["text"]
        queue = await next_frame(ws, "queue")
        assert handoff_id not in [h["id"] for h in queue["handoffs"]]
        held = await env.services.handoff.get(handoff_id)
        assert held is not None and held.outcome == "handed_back"
        # Handed back: the agent can no longer write to the citizen.
        assert await error_after(
            ws, {"type": "send", "handoff_id": handoff_id, "text": "encore"}
        ) == ("Vous ne tenez pas cette conversation.")
    finally:
        await citizen.close()
        await http.close()
        await ws.close()
        await ws2.close()
        await other.close()


async def test_tickets_are_pushed_and_updated(env: Env, agent: Browser) -> None:
    ws = await console(env, agent)
    try:
        ticket = await env.services.handoff.create_ticket(
            None, "webchat", "Camille Martin", "06 12 34 56 78", "question sur un permis"
        )
        pushed = await next_frame(ws, "ticket")
        assert pushed["ticket"]["reference"] == ticket.reference
        for status, assigned in (("assigned", AGENT), ("closed", AGENT), ("open", None)):
            await ws.send_json({"type": "ticket", "ticket_id": ticket.id, "status": status})
            updated = (await next_frame(ws, "ticket"))["ticket"]
            assert updated["id"] == ticket.id
            assert (updated["status"], updated["assigned_to"]) == (status, assigned)
    finally:
        await ws.close()


async def test_a_failing_action_is_reported_and_the_console_stays_up(
    env: Env, agent: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(query: str, k: int = 10) -> list[Any]:
        raise RuntimeError("index unavailable")

    monkeypatch.setattr(env.services.knowledge, "rank", broken)
    ws = await console(env, agent)
    try:
        assert await error_after(ws, {"type": "kb_search", "query": "piscine"}) == (
            "Erreur technique : l’action n’a pas abouti. Réessayez."
        )
        assert await error_after(ws, {"type": "dance"}) == "Action inconnue."
    finally:
        await ws.close()


@dataclass
class GatedRasa:
    """Rasa's REST channel and tracker API; messages wait until the test opens the gate."""

    gate: asyncio.Event
    calls: list[tuple[str, Any]]

    def app(self) -> web.Application:
        async def webhook(request: web.Request) -> web.Response:
            body = await request.json()
            await self.gate.wait()
            self.calls.append(("message", body["message"]))
            return web.json_response([])

        async def events(request: web.Request) -> web.Response:
            body = await request.json()
            self.calls.append(("events", [e.get("name") or e["event"] for e in body]))
            return web.json_response({})

        async def tracker(request: web.Request) -> web.Response:
            return web.json_response({"events": [], "slots": {}})

        async def root(request: web.Request) -> web.Response:
            return web.Response(text="Hello from Rasa: 3.6.21")

        app = web.Application()
        app.router.add_post("/webhooks/rest/webhook", webhook)
        app.router.add_post("/conversations/{cid}/tracker/events", events)
        app.router.add_get("/conversations/{cid}/tracker", tracker)
        app.router.add_get("/", root)
        return app


async def test_a_slow_rasa_does_not_hold_up_the_relay_and_its_tracker_stays_in_order(
    tmp_path: Path,
) -> None:
    rasa = GatedRasa(asyncio.Event(), [])
    rasa_server = TestServer(rasa.app(), host="127.0.0.1")
    await rasa_server.start_server()
    data_dir = tmp_path / "data"
    settings = make_settings(
        data_dir,
        str(rasa_server.make_url("")).rstrip("/"),
        GUICHET__RASA__TIMEOUT_S="30",
        GUICHET__HANDOFF__AGENT_HOURS=ALWAYS_OPEN,
    )
    services = await Services.start(settings)
    server = TestServer(create_public_app(services), host="127.0.0.1")
    await server.start_server()
    await UserStore(services.engine).create(AGENT, PASSWORD, Role.AGENT)
    env = Env(services, server)
    agent = await signed_in(env, AGENT)
    http = aiohttp.ClientSession(base_url=env.base)
    session = str(uuid.uuid4())
    try:
        ws = await console(env, agent)
        citizen = await http.ws_connect(f"/ws?session={session}")
        await next_frame(citizen, "history")
        outcome = await services.handoff.request(session, "webchat", "asked")
        assert outcome.handoff_id is not None
        await ws.send_json({"type": "claim", "handoff_id": outcome.handoff_id})
        assert (await next_frame(ws, "claimed"))["ok"] is True
        # Rasa is stuck on the first message; the agent still gets both at once.
        for text in ("premier message", "second message"):
            await citizen.send_json({"type": "message", "text": text})
            assert (await next_frame(ws, "message"))["text"] == text
        await ws.send_json({"type": "send", "handoff_id": outcome.handoff_id, "text": "Bonjour"})
        pushed = await next_frame(citizen, "agent")
        assert pushed["messages"] == [{"role": "agent", "text": "Bonjour"}]
        assert rasa.calls == []
        # Handing back waits for what was on its way, then resumes with a listen.
        await ws.send_json({"type": "hand_back", "handoff_id": outcome.handoff_id})
        rasa.gate.set()
        await handoff_frame(citizen, "bot")
        assert rasa.calls == [
            ("message", "premier message"),
            ("message", "second message"),
            ("events", ["bot"]),
            ("events", ["resume", "action_listen"]),
        ]
        await citizen.close()
        await ws.close()
    finally:
        await http.close()
        await agent.close()
        await server.close()
        await services.close()
        await rasa_server.close()
