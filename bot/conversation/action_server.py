"""Rasa's action endpoint, served by the app itself.

rasa-sdk's transport-free `ActionExecutor` runs the actions in this process, so
they share the app's objects (knowledge base, stores) instead of a second
server loading them again. The responses mirror `rasa_sdk/endpoint.py`.
"""

from __future__ import annotations

import json
import logging
import zlib
from typing import Any

from aiohttp import web
from rasa_sdk.executor import ActionExecutor
from rasa_sdk.interfaces import ActionExecutionRejection, ActionNotFoundException

log = logging.getLogger(__name__)

# Rasa posts the whole tracker on every call; long conversations exceed
# aiohttp's default 1 MiB body limit. The limit holds for the body once inflated
# too: aiohttp inflates a deflated body within client_max_size, and a body
# deflated twice is inflated here at most to the same size (a small "zip bomb"
# must not become gigabytes in memory).
MAX_ACTION_REQUEST_BYTES = 32 * 1024 * 1024


class BodyTooLarge(ValueError):
    pass


def inflate(raw: bytes, limit: int = MAX_ACTION_REQUEST_BYTES) -> bytes:
    """`raw` inflated (zlib or raw deflate), refusing to produce more than `limit` bytes."""
    for wbits in (zlib.MAX_WBITS, -zlib.MAX_WBITS):
        inflater = zlib.decompressobj(wbits)
        try:
            out = inflater.decompress(raw, limit + 1)
        except zlib.error:
            continue
        if len(out) > limit or inflater.unconsumed_tail:
            raise BodyTooLarge(f"inflated body larger than {limit} bytes")
        return out
    raise zlib.error("body is neither JSON nor deflate data")


def create_action_app(executor: ActionExecutor) -> web.Application:
    async def webhook(request: web.Request) -> web.Response:
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            log.error("action request over %d bytes refused", MAX_ACTION_REQUEST_BYTES)
            return web.json_response({"error": "request body too large"}, status=413)
        try:
            if request.headers.get("Content-Encoding") == "deflate" and raw[:1] != b"{":
                raw = inflate(raw)
            action_call: Any = json.loads(raw)
        except BodyTooLarge:
            log.error("action request inflating past %d bytes refused", MAX_ACTION_REQUEST_BYTES)
            return web.json_response({"error": "request body too large"}, status=413)
        except (ValueError, zlib.error):
            return web.json_response({"error": "Invalid body request"}, status=400)
        if not isinstance(action_call, dict):
            return web.json_response({"error": "Invalid body request"}, status=400)
        try:
            result = await executor.run(action_call)
        except ActionExecutionRejection as exc:
            log.debug("action rejected: %s", exc)
            return web.json_response(
                {"error": exc.message, "action_name": exc.action_name}, status=400
            )
        except ActionNotFoundException as exc:
            log.error("unknown action requested: %s", exc.action_name)
            return web.json_response(
                {"error": exc.message, "action_name": exc.action_name}, status=404
            )
        except Exception:
            # Rasa then utters its fallback; the operator gets the traceback.
            log.exception("action %s failed", action_call.get("next_action"))
            return web.json_response({"error": "action failed"}, status=500)
        return web.json_response(result.model_dump() if result else None)

    async def actions(_: web.Request) -> web.Response:
        return web.json_response([a.model_dump() for a in executor.list_actions()])

    app = web.Application(client_max_size=MAX_ACTION_REQUEST_BYTES)
    app.router.add_post("/webhook", webhook)
    app.router.add_get("/actions", actions)
    return app
