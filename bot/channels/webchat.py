"""Web chat channel: WebSocket with an HTTP fallback, for the embeddable widget.

Frames (JSON text):
  client -> server  {"type": "message", "text": "...", "payload"?: "/intent{...}"}
  server -> client  {"type": "history"|"bot", "messages": [...]},
                    {"type": "typing", "on": bool},
                    {"type": "error", "code": "...", "message": "<French>"}
Close codes: 1003 binary frame, 1007 text frame that is not JSON, 1009 too large.

Every JSON body and frame is checked against the schemas of bot/web/openapi.yaml
(unknown fields, wrong types: 400 with a French `message` and an English
`detail`), and the endpoints are rate limited per client address and per
session (429, or an `error` frame with code `rate_limited` on the WebSocket).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import WSMsgType, web

from bot.conversation.events import EventBus, conversation_topic
from bot.conversation.service import (
    PAYLOAD,
    ConversationService,
    InvalidMessage,
    UserTurn,
    validate_session_id,
)
from bot.security.limits import RATE_LIMITED_FR, PublicLimits
from bot.settings import SecuritySettings

log = logging.getLogger(__name__)

CHANNEL = "webchat"
# 2,000 characters of up to 4 bytes each, plus the JSON around them.
MAX_FRAME_BYTES = 16 * 1024

BAD_REQUEST_FR = "Votre message n'a pas pu être lu. Rechargez la page et réessayez."
TOO_LARGE_FR = "Votre message est trop volumineux. Pouvez-vous le raccourcir ?"
MESSAGE_FIELDS = frozenset({"type", "text", "payload"})
TYPING_FIELDS = frozenset({"type", "on"})


def _error_body(code: str, french: str, detail: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": french, "detail": detail}}


def _parse_turn(session_id: str, data: Any) -> UserTurn:
    """A message body or frame (schema ChatMessageRequest of the OpenAPI description)."""
    if not isinstance(data, dict) or data.get("type", "message") != "message":
        raise InvalidMessage("bad_frame", BAD_REQUEST_FR, "expected an object of type 'message'")
    unknown = sorted(str(k) for k in data.keys() - MESSAGE_FIELDS)
    if unknown:
        raise InvalidMessage(
            "bad_frame", BAD_REQUEST_FR, f"unknown field(s) {unknown}; allowed: type, text, payload"
        )
    text, payload = data.get("text", ""), data.get("payload")
    if not isinstance(text, str) or (payload is not None and not isinstance(payload, str)):
        raise InvalidMessage("bad_frame", BAD_REQUEST_FR, "'text' and 'payload' must be strings")
    if payload is not None and not PAYLOAD.fullmatch(payload):
        # Only the bot's own buttons send payloads: exactly as they were offered.
        raise InvalidMessage(
            "bad_payload",
            "Ce bouton n'est plus valide. Pouvez-vous écrire votre demande ?",
            f"button payload {payload[:80]!r} is not an intent payload",
        )
    return UserTurn(session_id=session_id, text=text, channel=CHANNEL, payload=payload)


def _too_many(retry_after_s: int, scope: str) -> web.Response:
    return web.json_response(
        _error_body(
            "rate_limited", RATE_LIMITED_FR, f"too many requests for this {scope}; retry later"
        ),
        status=429,
        headers={"Retry-After": str(retry_after_s)},
    )


async def _json_body(request: web.Request) -> Any:
    """The parsed body, or InvalidMessage (not JSON, too large)."""
    try:
        return await request.json()
    except web.HTTPRequestEntityTooLarge as exc:
        raise InvalidMessage(
            "too_large", TOO_LARGE_FR, f"request body larger than {request.client_max_size} bytes"
        ) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidMessage("bad_json", BAD_REQUEST_FR, "request body is not JSON") from exc


def _refused(exc: InvalidMessage) -> web.Response:
    status = 413 if exc.code == "too_large" else 400
    return web.json_response(_error_body(exc.code, exc.french, str(exc)), status=status)


class WebChatChannel:
    def __init__(
        self,
        conversation: ConversationService,
        bus: EventBus,
        security: SecuritySettings | None = None,
    ) -> None:
        self._conversation = conversation
        self._bus = bus
        security = security or SecuritySettings()
        self.limits = PublicLimits(security.per_ip, security.per_session, security.trusted_proxies)

    def register(self, app: web.Application) -> None:
        app.router.add_get("/ws", self.websocket)
        app.router.add_post("/api/chat/{session}/messages", self.post_message)
        app.router.add_get("/api/chat/{session}/history", self.get_history)
        app.router.add_post("/api/chat/{session}/feedback", self.post_feedback)

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        session_id = request.query.get("session", "")
        try:
            validate_session_id(session_id)
        except InvalidMessage as exc:
            return web.json_response(_error_body(exc.code, exc.french, str(exc)), status=400)
        refusal = self.limits.check(request, None, "websocket")
        if refusal is not None:
            return _too_many(refusal.retry_after_s, refusal.scope)
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_FRAME_BYTES)
        await ws.prepare(request)
        async with self._bus.subscribe(conversation_topic(session_id)) as pushes:
            await ws.send_json(
                {"type": "history", "messages": await self._conversation.history(session_id)}
            )
            forwarder = asyncio.create_task(self._forward(ws, pushes))
            try:
                await self._read(ws, session_id, request)
            finally:
                forwarder.cancel()
                await asyncio.gather(forwarder, return_exceptions=True)
        return ws

    async def _forward(
        self, ws: web.WebSocketResponse, pushes: asyncio.Queue[dict[str, Any]]
    ) -> None:
        """Agent messages, queue position, typing: pushed while the citizen waits."""
        while not ws.closed:
            frame = await pushes.get()
            try:
                await ws.send_json(frame)
            except ConnectionError:
                return

    async def _read(self, ws: web.WebSocketResponse, session_id: str, request: web.Request) -> None:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    await ws.close(code=1007, message=b"frame is not JSON")
                    break
                await self._ws_turn(ws, session_id, data, request)
            elif msg.type == WSMsgType.BINARY:
                await ws.close(code=1003, message=b"binary frames are not accepted")
                break
            elif msg.type == WSMsgType.ERROR:
                log.info("websocket closed with error: %s", ws.exception())

    async def _ws_turn(
        self, ws: web.WebSocketResponse, session_id: str, data: Any, request: web.Request
    ) -> None:
        if isinstance(data, dict) and data.get("type") == "typing":
            if data.keys() - TYPING_FIELDS or not isinstance(data.get("on"), bool):
                log.info("web chat typing frame refused: expected {type, on: bool}")
                await ws.send_json(
                    {"type": "error", "code": "bad_frame", "message": BAD_REQUEST_FR}
                )
            elif self.limits.typing.allow(session_id):
                self._conversation.citizen_typing(session_id, data["on"])
            return
        refusal = self.limits.check(request, session_id, "websocket_message")
        if refusal is not None:
            await ws.send_json(
                {"type": "error", "code": "rate_limited", "message": RATE_LIMITED_FR}
            )
            return
        try:
            turn = self._conversation.normalise(_parse_turn(session_id, data))
        except InvalidMessage as exc:
            log.info("web chat input refused: %s", exc)
            await ws.send_json({"type": "error", "code": exc.code, "message": exc.french})
            return
        if turn is None:
            return
        await ws.send_json({"type": "typing", "on": True})
        replies = await self._conversation.handle(turn)
        if ws.closed:
            # The citizen left; the turn is stored and will show in the history.
            return
        await ws.send_json({"type": "bot", "messages": [m.to_json() for m in replies]})
        await ws.send_json({"type": "typing", "on": False})

    async def post_message(self, request: web.Request) -> web.Response:
        session_id = request.match_info["session"]
        refusal = self.limits.check(request, session_id, "messages")
        if refusal is not None:
            return _too_many(refusal.retry_after_s, refusal.scope)
        try:
            turn = self._conversation.normalise(_parse_turn(session_id, await _json_body(request)))
        except InvalidMessage as exc:
            log.info("web chat input refused: %s", exc)
            return _refused(exc)
        if turn is None:
            return web.json_response({"messages": []})
        replies = await self._conversation.handle(turn)
        return web.json_response({"messages": [m.to_json() for m in replies]})

    async def post_feedback(self, request: web.Request) -> web.Response:
        session_id = request.match_info["session"]
        refusal = self.limits.check(request, session_id, "feedback")
        if refusal is not None:
            return _too_many(refusal.retry_after_s, refusal.scope)
        try:
            await self._conversation.record_feedback(session_id, await _json_body(request))
        except InvalidMessage as exc:
            log.info("web chat feedback refused: %s", exc)
            return _refused(exc)
        return web.json_response({"status": "recorded"})

    async def get_history(self, request: web.Request) -> web.Response:
        refusal = self.limits.check(request, None, "history")
        if refusal is not None:
            return _too_many(refusal.retry_after_s, refusal.scope)
        try:
            messages = await self._conversation.history(request.match_info["session"])
        except InvalidMessage as exc:
            return web.json_response(_error_body(exc.code, exc.french, str(exc)), status=400)
        return web.json_response({"messages": messages})
