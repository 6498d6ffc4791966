"""Agent console channel: /agent (page) and /agent/ws (live queue and chats).

Frames (JSON):
  agent -> server  {"type":"open"|"claim"|"hand_back", "handoff_id"}
                   {"type":"send", "handoff_id", "text"}
                   {"type":"typing", "handoff_id", "on"}
                   {"type":"close", "handoff_id", "reason"}
                   {"type":"ticket", "ticket_id", "status": "assigned"|"closed"|"open"}
                   {"type":"reports"}, {"type":"report", "reference", "status":
                    "received"|"in_progress"|"done"} (the citizen is told: bot/notifications)
                   {"type":"kb_search", "query"}
  server -> agent  {"type":"hello", "agent", "agents_online"}
                   {"type":"queue", "handoffs":[...]}, {"type":"tickets", "tickets":[...]}
                   {"type":"reports", "reports":[...]}, {"type":"report", "report"} pushed live
                   {"type":"conversation", "handoff", "transcript", "context"}
                   {"type":"message"|"typing"|"ticket", ...} pushed live
                   {"type":"claimed", "handoff_id", "ok"}, {"type":"kb_results", "results"}
                   {"type":"error", "message": "<French>"}
Only staff with the agent or admin role get in (the shared StaffAuth); the
WebSocket also checks Origin, so another site cannot open it with the cookie.
The session is checked again before every frame and every SESSION_RECHECK_S:
a console whose session ended (signed out, expired, account deactivated or its
role changed, here or from another process) is closed with code 4401.
The page's script and stylesheet are served from /agent/static/ (those two
files only, bot/core/static.py), to the same roles; the CSS both staff front ends
share is /admin/static/staff.css. Headers, the CSP included: bot/security/headers.py.

One module (about 420 lines), as each Rasa connector is one file: the frames above
and their handlers are the channel's whole wire protocol; what they do is in the
services they call (handoff, reports, tickets, knowledge base).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from bot.admin.auth import SESSION_COOKIE, StaffAuth, current_session, require_role
from bot.admin.users import Role, StaffSession
from bot.conversation.events import AGENTS_TOPIC, EventBus
from bot.conversation.handoff import HandoffService
from bot.conversation.handoff_events import (
    AgentMessage,
    CitizenMessage,
    CitizenTyping,
    HandoffEvent,
    QueueChanged,
    ReportChanged,
    TicketChanged,
)
from bot.conversation.rasa_client import RasaClient
from bot.conversation.service import ConversationService
from bot.core.static import CSS, JS, StaticFiles
from bot.domain.reports import CATEGORIES, ReportService
from bot.storage.reports import REPORT_STATUSES, StoredReport
from knowledge_base.service import KnowledgeBase

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web" / "agent"
PAGE = WEB_DIR / "console.html"
# The only files /agent/static/ serves (no directory listing, no other file).
STATIC_FILES = StaticFiles(WEB_DIR, {"console.js": JS, "console.css": CSS})
MAX_AGENT_TEXT = 4000
AGENT_ROLES = frozenset({Role.AGENT, Role.ADMIN})
# How often an idle console's session is checked again (frames are checked each).
SESSION_RECHECK_S = 5.0
SESSION_ENDED = 4401  # WebSocket close code (4000-4999: the application's own)


@dataclass(frozen=True)
class ConsoleDependencies:
    """What the console uses of the app, and nothing more."""

    bus: EventBus  # pushes to every open console
    handoff: HandoffService
    reports: ReportService
    rasa: RasaClient  # the tracker: what the bot understood
    conversation: ConversationService  # transcripts of held conversations
    knowledge: KnowledgeBase  # the agents' search


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser
    host = request.headers.get("X-Forwarded-Host", request.host)
    return origin.split("://", 1)[-1] == host


async def conversation_context(
    services: ConsoleDependencies, conversation_id: str
) -> dict[str, Any]:
    """What the bot understood: intents per message, slots, articles it showed."""
    context: dict[str, Any] = {"intents": [], "slots": {}, "articles": []}
    try:
        tracker = await services.rasa.tracker(conversation_id)
    except Exception as exc:  # the console still works without Rasa's view
        log.info("tracker unavailable for the console: %s", exc)
        tracker = {}
    for event in tracker.get("events", []):
        if event.get("event") == "user":
            intent = (event.get("parse_data") or {}).get("intent") or {}
            context["intents"].append(
                {
                    "text": event.get("text"),
                    "intent": intent.get("name"),
                    "confidence": round(float(intent.get("confidence") or 0), 2),
                }
            )
    context["slots"] = {
        k: v
        for k, v in (tracker.get("slots") or {}).items()
        if v not in (None, [], "") and not k.startswith(("requested_slot", "session_started"))
    }
    return context


class AgentConsole:
    def __init__(
        self, services: ConsoleDependencies, auth: StaffAuth, recheck_s: float | None = None
    ) -> None:
        self._services = services
        self._auth = auth
        self._recheck_s = recheck_s or SESSION_RECHECK_S
        self._sockets: dict[str, set[web.WebSocketResponse]] = {}  # session token hash -> open
        auth.on_session_closed.append(self._session_closed)

    async def _session_closed(self, token_hash: str) -> None:
        for ws in list(self._sockets.get(token_hash, ())):
            await ws.close(code=SESSION_ENDED, message=b"signed out")

    async def _still_signed_in(self, token: str) -> StaffSession | None:
        session = await self._auth.users.session(token)
        if session is None or not session.user.has_role(AGENT_ROLES):
            return None
        return session

    async def _watch_session(self, ws: web.WebSocketResponse, token: str) -> None:
        """Close the console when its session ends, even if no frame comes."""
        while not ws.closed:
            await asyncio.sleep(self._recheck_s)
            try:
                alive = await self._still_signed_in(token)
            except Exception:  # the database is away: check again next time
                log.warning("agent console session re-check failed", exc_info=True)
                continue
            if alive is None:
                log.info("agent console closed: its staff session ended")
                await ws.close(code=SESSION_ENDED, message=b"session ended")

    async def page(self, request: web.Request) -> web.StreamResponse:
        # Its CSP and other headers: bot/security/headers.py, like every page.
        response = web.FileResponse(PAGE)
        response.content_type = "text/html"
        return response

    async def static(self, request: web.Request) -> web.StreamResponse:
        return await STATIC_FILES.handler(request)

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        if not _same_origin(request):
            return web.json_response({"error": "cross-origin WebSocket refused"}, status=403)
        session = current_session(request)
        agent = session.user.email
        token = request.cookies.get(SESSION_COOKIE, "")
        handoff = self._services.handoff
        ws = web.WebSocketResponse(heartbeat=20, max_msg_size=64 * 1024)
        await ws.prepare(request)
        handoff.agent_connected(agent)
        self._sockets.setdefault(session.token_hash, set()).add(ws)
        watcher = asyncio.create_task(self._watch_session(ws, token))
        try:
            async with self._services.bus.subscribe(AGENTS_TOPIC) as pushes:
                await ws.send_json(
                    {"type": "hello", "agent": agent, "agents_online": handoff.agents_online()}
                )
                await ws.send_json({"type": "queue", "handoffs": await handoff.queue_snapshot()})
                tickets = [t.to_json() for t in await handoff.tickets()]
                await ws.send_json({"type": "tickets", "tickets": tickets})
                await self._send_reports(ws)
                forwarder = asyncio.create_task(self._forward(ws, pushes))
                try:
                    async for msg in ws:
                        if msg.type != WSMsgType.TEXT:
                            continue
                        if await self._still_signed_in(token) is None:
                            # Signed out, deactivated, expired: nothing more is done.
                            await ws.close(code=SESSION_ENDED, message=b"session ended")
                            break
                        try:
                            frame = json.loads(msg.data)
                        except ValueError:
                            await ws.send_json(
                                {"type": "error", "message": "Message illisible : JSON attendu."}
                            )
                            await ws.close(code=1007, message=b"frame is not JSON")
                            break
                        try:
                            await self._handle(ws, agent, frame)
                        except Exception:
                            # One failed action (database, search...) must not drop the
                            # agent's console.
                            log.exception("agent console action failed")
                            if ws.closed:
                                break
                            await ws.send_json(
                                {
                                    "type": "error",
                                    "message": "Erreur technique : l’action n’a pas abouti. "
                                    "Réessayez.",
                                }
                            )
                finally:
                    forwarder.cancel()
                    await asyncio.gather(forwarder, return_exceptions=True)
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            sockets = self._sockets.get(session.token_hash, set())
            sockets.discard(ws)
            if not sockets:
                self._sockets.pop(session.token_hash, None)
            handoff.agent_disconnected(agent)
        return ws

    async def _forward(
        self, ws: web.WebSocketResponse, pushes: asyncio.Queue[HandoffEvent]
    ) -> None:
        while not ws.closed:
            frame = console_frame(await pushes.get())
            if frame is None:
                continue
            try:
                await ws.send_json(frame)
            except ConnectionError:
                return

    async def _handle(self, ws: web.WebSocketResponse, agent: str, frame: Any) -> None:
        if not isinstance(frame, dict):
            await ws.send_json({"type": "error", "message": "Message illisible."})
            return
        kind = frame.get("type")
        handoff = self._services.handoff
        raw_id = frame.get("handoff_id")
        if kind in ("open", "claim", "send", "typing", "hand_back", "close") and (
            not isinstance(raw_id, int) or isinstance(raw_id, bool)
        ):
            await ws.send_json({"type": "error", "message": "Conversation inconnue."})
            return
        handoff_id = int(raw_id or 0)
        if kind == "open":
            await self._open(ws, handoff_id)
        elif kind == "claim":
            claimed = await handoff.claim(handoff_id, agent)
            await ws.send_json(
                {"type": "claimed", "handoff_id": handoff_id, "ok": claimed is not None}
            )
            if claimed is None:
                await ws.send_json(
                    {"type": "error", "message": "Cette conversation a déjà été prise en charge."}
                )
            else:
                await self._open(ws, handoff_id)
        elif kind == "send":
            text = frame.get("text")
            if not isinstance(text, str) or not text.strip() or len(text) > MAX_AGENT_TEXT:
                await ws.send_json(
                    {
                        "type": "error",
                        "message": f"Message vide ou trop long ({MAX_AGENT_TEXT} max).",
                    }
                )
            elif not await handoff.agent_message(handoff_id, agent, text.strip()):
                await ws.send_json(
                    {"type": "error", "message": "Vous ne tenez pas cette conversation."}
                )
        elif kind == "typing":
            held = await self._services.handoff.get(handoff_id)
            if held is not None and held.claimed_by == agent and held.status == "active":
                handoff.agent_typing(held, bool(frame.get("on")))
        elif kind == "hand_back":
            if not await handoff.hand_back(handoff_id, agent):
                await ws.send_json(
                    {"type": "error", "message": "Vous ne tenez pas cette conversation."}
                )
        elif kind == "close":
            reason = str(frame.get("reason") or "")[:500]
            if not await handoff.close(handoff_id, agent, reason):
                await ws.send_json(
                    {"type": "error", "message": "Vous ne tenez pas cette conversation."}
                )
        elif kind == "ticket":
            await self._ticket(ws, agent, frame)
        elif kind == "kb_search":
            await self._kb_search(ws, frame)
        elif kind in ("report", "reports"):
            await self._report(ws, frame)
        else:
            await ws.send_json({"type": "error", "message": "Action inconnue."})

    async def _open(self, ws: web.WebSocketResponse, handoff_id: int) -> None:
        services = self._services
        held = await services.handoff.get(handoff_id)
        if held is None:
            await ws.send_json({"type": "error", "message": "Conversation inconnue."})
            return
        stored = await services.conversation.transcript(held.conversation_id)
        context = await conversation_context(services, held.conversation_id)
        context["articles"] = sorted({slug for m in stored for slug in m.get("articles", [])})
        await ws.send_json(
            {
                "type": "conversation",
                "handoff": held.to_json(),
                "transcript": stored,
                "context": context,
            }
        )

    async def _ticket(self, ws: web.WebSocketResponse, agent: str, frame: dict[str, Any]) -> None:
        ticket_id, status = frame.get("ticket_id"), frame.get("status")
        if not isinstance(ticket_id, int) or status not in ("open", "assigned", "closed"):
            await ws.send_json({"type": "error", "message": "Demande de rappel inconnue."})
            return
        updated = await self._services.handoff.update_ticket(
            ticket_id, status, agent if status != "open" else None
        )
        if updated is None:
            await ws.send_json({"type": "error", "message": "Demande de rappel inconnue."})

    # --- reports (signalements): status controls; the citizen is told by the store ---
    async def _send_reports(self, ws: web.WebSocketResponse) -> None:
        reports = await self._services.reports.list()
        await ws.send_json({"type": "reports", "reports": [report_json(r) for r in reports]})

    async def _report(self, ws: web.WebSocketResponse, frame: dict[str, Any]) -> None:
        if frame.get("type") == "reports":
            await self._send_reports(ws)
            return
        reference, status = frame.get("reference"), frame.get("status")
        if not isinstance(reference, str) or status not in REPORT_STATUSES[1:]:
            await ws.send_json({"type": "error", "message": "Signalement ou état inconnu."})
            return
        updated = await self._services.reports.update_status(reference, str(status))
        if updated is None:
            await ws.send_json({"type": "error", "message": "Signalement inconnu."})
            return
        self._services.bus.publish(AGENTS_TOPIC, ReportChanged(report_json(updated)))

    async def _kb_search(self, ws: web.WebSocketResponse, frame: dict[str, Any]) -> None:
        query = frame.get("query")
        if not isinstance(query, str) or not query.strip():
            await ws.send_json({"type": "kb_results", "results": []})
            return
        ranked = await self._services.knowledge.rank(query[:300], k=5)
        results = []
        for r in ranked:
            article = self._services.knowledge.index.article(r.slug)
            if article is not None:
                results.append({"slug": r.slug, "title": article.title, "url": article.url})
        await ws.send_json({"type": "kb_results", "results": results})


def console_frame(event: HandoffEvent) -> dict[str, Any] | None:
    """The console's frame for an event pushed to the desk; None for the events
    only the citizen's channel shows."""
    match event:
        case QueueChanged(handoffs=handoffs):
            return {"type": "queue", "handoffs": list(handoffs)}
        case CitizenMessage():
            return {
                "type": "message",
                "handoff_id": event.handoff_id,
                "conversation_id": event.conversation_id,
                "role": "user",
                "text": event.text,
                "at": event.at,
            }
        case AgentMessage():
            return {
                "type": "message",
                "handoff_id": event.handoff_id,
                "conversation_id": event.conversation_id,
                "role": "agent",
                "text": event.text,
                "agent": event.agent,
                "at": event.at,
            }
        case CitizenTyping(handoff_id=handoff_id, on=on):
            return {"type": "typing", "handoff_id": handoff_id, "role": "user", "on": on}
        case TicketChanged(ticket=ticket):
            return {"type": "ticket", "ticket": ticket}
        case ReportChanged(report=report):
            return {"type": "report", "report": report}
    return None


def report_json(report: StoredReport) -> dict[str, Any]:
    return {
        "reference": report.reference,
        "category": report.category,
        "category_label": CATEGORIES.get(report.category, report.category),
        "location": report.location,
        "description": report.description,
        "contact": report.contact,
        "status": report.status,
        "created_at": report.created_at.isoformat(),
    }


def register_agent_console(
    app: web.Application, services: ConsoleDependencies, auth: StaffAuth
) -> None:
    console = AgentConsole(services, auth)
    area = web.Application(middlewares=[auth.middleware])
    agents_only = require_role(Role.AGENT, Role.ADMIN)
    area.router.add_get("", agents_only(console.page))
    area.router.add_get("/", agents_only(console.page))
    area.router.add_get("/ws", agents_only(console.websocket))
    area.router.add_get("/static/{name}", agents_only(console.static))
    app.add_subapp("/agent", area)
