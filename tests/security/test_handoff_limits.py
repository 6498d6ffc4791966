"""One client address cannot fill the agents' queue by opening sessions."""

from __future__ import annotations

import uuid

from bot.conversation.handoff import MAX_WAITING_PER_CLIENT
from tests.conftest import ALWAYS_OPEN
from tests.security.conftest import AppFactory
from tests.security.test_public_api import post


async def test_waiting_handoffs_are_bounded_per_client_address(make_app: AppFactory) -> None:
    app = await make_app(
        GUICHET__HANDOFF__AGENT_HOURS=ALWAYS_OPEN,
        GUICHET__SECURITY__TRUSTED_PROXIES='["127.0.0.1"]',
    )
    handoff = app.services.handoff
    handoff.agent_connected("accueil@villebrune.example")

    async def ask_for_a_person(address: str) -> str | None:
        """A new conversation from `address` whose citizen asks for a person
        (what action_request_human asks the service); why not, if refused."""
        session = str(uuid.uuid4())
        headers = {"X-Forwarded-For": address}
        status, _, _ = await post(
            app, f"/api/chat/{session}/messages", {"text": "bonjour"}, headers=headers
        )
        assert status == 200
        outcome = await handoff.request(session, "webchat", "asked")
        return None if outcome.queued else outcome.unavailable_reason

    flood = [await ask_for_a_person("203.0.113.7") for _ in range(MAX_WAITING_PER_CLIENT + 2)]
    assert flood == [None] * MAX_WAITING_PER_CLIENT + ["busy", "busy"]
    # Someone else is queued as usual, and the queue holds only what was allowed.
    assert await ask_for_a_person("198.51.100.9") is None
    waiting = [h for h in await handoff.queue_snapshot() if h["status"] == "waiting"]
    assert len(waiting) == MAX_WAITING_PER_CLIENT + 1
    # Once one of them is handled, that address may queue one more.
    assert await handoff.claim(waiting[0]["id"], "accueil@villebrune.example") is not None
    assert await ask_for_a_person("203.0.113.7") is None
