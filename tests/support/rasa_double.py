"""A stand-in for Rasa's REST channel, for unit tests of the app's own behaviour
(timeouts, errors, ordering). Integration tests use the real Rasa server."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class RasaDouble:
    delay_s: float = 0.0
    status: int = 200
    received: list[dict[str, Any]] = field(default_factory=list)
    # Attached to the second reply when set, as the knowledge-base action does
    # ({"query_id", "slug"}: what the citizen may rate).
    feedback: dict[str, Any] | None = None
    # Attached to the second reply when set, as a form question does (the slot asked).
    expects: str | None = None
    # Events appended to a tracker through the HTTP API, by conversation id.
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def app(self) -> web.Application:
        async def webhook(request: web.Request) -> web.Response:
            body = await request.json()
            self.received.append(body)
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            if self.status != 200:
                return web.json_response({"error": "boom"}, status=self.status)
            text = body["message"]
            custom: dict[str, Any] = {
                "text": "avec source",
                "sources": [{"title": "T", "url": "https://x.example/a"}],
                "buttons": [{"title": "Oui", "payload": "/affirm"}],
            }
            if self.feedback is not None:
                custom["feedback"] = self.feedback
            if self.expects is not None:
                custom["expects"] = self.expects
            return web.json_response(
                [
                    {"recipient_id": body["sender"], "text": f"écho : {text}"},
                    {"recipient_id": body["sender"], "custom": custom},
                ]
            )

        async def append_events(request: web.Request) -> web.Response:
            body = await request.json()
            events = body if isinstance(body, list) else [body]
            self.events.setdefault(request.match_info["sender"], []).extend(events)
            return web.json_response({"sender_id": request.match_info["sender"]})

        async def root(_: web.Request) -> web.Response:
            return web.Response(text="Hello from Rasa: 3.6.21")

        app = web.Application()
        app.router.add_post("/webhooks/rest/webhook", webhook)
        app.router.add_post("/conversations/{sender}/tracker/events", append_events)
        app.router.add_get("/", root)
        return app
