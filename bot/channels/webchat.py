"""Web chat channel: WebSocket with an HTTP fallback, for the embeddable widget.

Frames (JSON text):
  client -> server  {"type": "message", "text": "...", "payload"?: "/intent{...}"}
  server -> client  {"type": "history"|"bot", "messages": [...]},
                    {"type": "typing", "on": bool},
                    {"type": "error", "code": "...", "message": "<French>"}
Close codes: 1003 binary frame, 1007 text frame that is not JSON, 1009 too large.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import WSMsgType, web

from bot.conversation.events import EventBus, conversation_topic
from bot.conversation.service import (
    ConversationService,
    InvalidMessage,
    UserTurn,
    validate_session_id,
)

log = logging.getLogger(__name__)

CHANNEL = "webchat"
# 2,000 characters of up to 4 bytes each, plus the JSON around them.
MAX_FRAME_BYTES = 16 * 1024

BAD_REQUEST_FR = "Votre message n'a pas pu être lu. Rechargez la page et réessayez."


def _error_body(code: str, french: str, detail: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": french, "detail": detail}}


def _parse_turn(session_id: str, data: Any) -> UserTurn:
    if not isinstance(data, dict) or data.get("type", "message") != "message":
        raise InvalidMessage("bad_frame", BAD_REQUEST_FR, "expected an object of type 'message'")
    text, payload = data.get("text", ""), data.get("payload")
    if not isinstance(text, str) or (payload is not None and not isinstance(payload, str)):
        raise InvalidMessage("bad_frame", BAD_REQUEST_FR, "'text' and 'payload' must be strings")
    return UserTurn(session_id=session_id, text=text, channel=CHANNEL, payload=payload)


class WebChatChannel:
    def __init__(self, conversation: ConversationService, bus: EventBus) -> None:
        self._conversation = conversation
        self._bus = bus

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
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_FRAME_BYTES)
        await ws.prepare(request)
        async with self._bus.subscribe(conversation_topic(session_id)) as pushes:
            await ws.send_json(
                {"type": "history", "messages": await self._conversation.history(session_id)}
            )
            forwarder = asyncio.create_task(self._forward(ws, pushes))
            try:
                await self._read(ws, session_id)
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

    async def _read(self, ws: web.WebSocketResponse, session_id: str) -> None:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    await ws.close(code=1007, message=b"frame is not JSON")
                    break
                await self._ws_turn(ws, session_id, data)
            elif msg.type == WSMsgType.BINARY:
                await ws.close(code=1003, message=b"binary frames are not accepted")
                break
            elif msg.type == WSMsgType.ERROR:
                log.info("websocket closed with error: %s", ws.exception())

    async def _ws_turn(self, ws: web.WebSocketResponse, session_id: str, data: Any) -> None:
        if isinstance(data, dict) and data.get("type") == "typing":
            self._conversation.citizen_typing(session_id, bool(data.get("on")))
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
        try:
            data = await request.json()
        except ValueError:
            return web.json_response(
                _error_body("bad_json", BAD_REQUEST_FR, "request body is not JSON"), status=400
            )
        try:
            turn = self._conversation.normalise(_parse_turn(session_id, data))
        except InvalidMessage as exc:
            log.info("web chat input refused: %s", exc)
            return web.json_response(_error_body(exc.code, exc.french, str(exc)), status=400)
        if turn is None:
            return web.json_response({"messages": []})
        replies = await self._conversation.handle(turn)
        return web.json_response({"messages": [m.to_json() for m in replies]})

    async def post_feedback(self, request: web.Request) -> web.Response:
        try:
            data = await request.json()
        except ValueError:
            return web.json_response(
                _error_body("bad_json", BAD_REQUEST_FR, "request body is not JSON"), status=400
            )
        try:
            await self._conversation.record_feedback(request.match_info["session"], data)
        except InvalidMessage as exc:
            return web.json_response(_error_body(exc.code, exc.french, str(exc)), status=400)
        return web.json_response({"status": "recorded"})

    async def get_history(self, request: web.Request) -> web.Response:
        try:
            messages = await self._conversation.history(request.match_info["session"])
        except InvalidMessage as exc:
            return web.json_response(_error_body(exc.code, exc.french, str(exc)), status=400)
        return web.json_response({"messages": messages})
