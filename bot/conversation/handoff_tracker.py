"""What Rasa's tracker is told while a person holds a conversation, in order.

Rasa stays paused during a handoff (bot/conversation/handoff.py): the citizen's
messages are still sent to it to be logged, the agent's are appended as `bot`
events, and handing back appends `resume`. Those are chained per conversation, so
the tracker gets them in the order they happened even when they are sent in the
background (a slow Rasa must not hold up the conversation between people).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from bot.conversation.rasa_client import RasaClient, RasaUnavailable

log = logging.getLogger(__name__)

# The bot takes over again. Rasa stopped right after the action that paused the
# conversation, before its usual `action_listen`: without one, the next message
# is read as following that action, no rule matches, and the fallback action is
# predicted again and again. So the resume comes with the listen Rasa skipped.
RESUME_EVENTS: list[dict[str, Any]] = [
    {"event": "resume"},
    {"event": "action", "name": "action_listen"},
]


class HeldTracker:
    def __init__(self, rasa: RasaClient) -> None:
        self._rasa = rasa
        self._tails: dict[str, asyncio.Task[None]] = {}

    def log_message(self, conversation_id: str, text: str, channel: str) -> None:
        """Rasa logs what the citizen wrote (paused, it answers nothing), in the background."""
        self._in_order(conversation_id, self._send_message(conversation_id, text, channel))

    def append_later(self, conversation_id: str, events: list[dict[str, Any]]) -> None:
        """Append events in the background, after those still on their way."""
        self._in_order(conversation_id, self._append(conversation_id, events))

    async def append(self, conversation_id: str, events: list[dict[str, Any]]) -> None:
        """Append events after those still on their way, and wait for it (resume must
        be in the tracker before the bot answers the citizen again)."""
        await self._in_order(conversation_id, self._append(conversation_id, events))

    def _in_order(
        self, conversation_id: str, work: Coroutine[Any, Any, None]
    ) -> asyncio.Task[None]:
        """Run `work` after what was sent to Rasa before for this conversation."""
        previous = self._tails.get(conversation_id)

        async def after_previous() -> None:
            if previous is not None:
                await asyncio.wait([previous])
            await work

        task = asyncio.ensure_future(after_previous())
        self._tails[conversation_id] = task

        def done(finished: asyncio.Task[None]) -> None:
            if self._tails.get(conversation_id) is finished:
                del self._tails[conversation_id]

        task.add_done_callback(done)
        return task

    async def _send_message(self, conversation_id: str, text: str, channel: str) -> None:
        try:
            await self._rasa.send_message(conversation_id, text, channel)
        except RasaUnavailable as exc:
            log.info("rasa did not log a message during a handoff: %s", exc)

    async def _append(self, conversation_id: str, events: list[dict[str, Any]]) -> None:
        try:
            await self._rasa.append_events(conversation_id, events)
        except RasaUnavailable as exc:
            # The conversation goes on; the tracker misses these events, which the
            # operator sees here. The app's own transcript has them.
            log.warning("could not append %s to the tracker: %s", [e["event"] for e in events], exc)
