"""Handing a conversation to a person, and back.

Channel-neutral: the web chat, the agent console and (issue #5) the phone all use
this service. A handoff is durable (table `handoffs`), so waiting citizens keep
their place across an app restart; which agents are connected is live state.

While a human holds a conversation Rasa stays silent: the action that queued
the citizen returned Rasa's own `pause` event, the citizen's messages are still
logged by Rasa, the agent's are appended as `bot` events, and handing back
appends `resume`, so the tracker tells the whole story and the bot resumes
with its context (in order: bot/conversation/handoff_tracker.py).

What the service tells open connections (queue, agent joined, messages...) are typed
events (bot/conversation/handoff_events.py); each channel renders them.

One module (about 410 lines): the life of a handoff (queue, claim, relay, hand back,
close, requeue after a restart) is one state machine over one table; the events and
the tracker chaining already live beside it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import statistics
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.conversation.coordination import Presence
from bot.conversation.events import AGENTS_TOPIC, EventBus, conversation_topic
from bot.conversation.handoff_events import (
    AgentJoined,
    AgentLeft,
    AgentMessage,
    AgentTyping,
    CitizenMessage,
    CitizenTyping,
    HandedBack,
    HandoffClosed,
    QueueChanged,
    QueuePosition,
    TicketChanged,
)
from bot.conversation.handoff_tracker import RESUME_EVENTS, HeldTracker
from bot.conversation.rasa_client import RasaClient
from bot.observability import metrics
from bot.settings import HandoffSettings
from bot.storage.handoffs import (
    DuplicateTicketReference,
    Handoff,
    HandoffStore,
    Ticket,
    TicketStore,
)
from bot.storage.transcripts import StoredMessage, TranscriptStore

log = logging.getLogger(__name__)

AGENT_LABEL = "Agent de la mairie"
_REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CONSENT_TEXT = (
    "J'accepte que la mairie conserve mon nom, mes coordonnées et l'objet de ma demande "
    "pour me recontacter. Ces données sont supprimées après le traitement de la demande."
)


# Conversations one client address may have waiting for an agent at once (per
# app instance, like the rate limits): one person rarely needs more, and a
# script opening sessions by the hundred must not fill the agents' queue.
MAX_WAITING_PER_CLIENT = 3
# Conversations whose client address is remembered (the most recent ones).
MAX_REMEMBERED_CLIENTS = 20_000


@dataclass(frozen=True)
class HandoffOutcome:
    queued: bool
    # When queued:
    handoff_id: int | None = None
    position: int | None = None
    estimated_wait_s: int | None = None
    # When not: "closed" (outside agent hours), "no_agent", or "busy" (this
    # address already has MAX_WAITING_PER_CLIENT conversations waiting).
    unavailable_reason: str | None = None


def new_ticket_reference() -> str:
    return "RAP-" + "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(6))


class HandoffService:
    def __init__(
        self,
        store: HandoffStore,
        tickets: TicketStore,
        transcripts: TranscriptStore,
        rasa: RasaClient,
        bus: EventBus,
        settings: HandoffSettings,
        presence: Presence | None = None,
        max_waiting_per_client: int = MAX_WAITING_PER_CLIENT,
    ) -> None:
        self._store = store
        self._max_waiting_per_client = max_waiting_per_client
        self._clients: OrderedDict[str, str] = OrderedDict()  # conversation -> address
        self._tickets = tickets
        self._transcripts = transcripts
        self._bus = bus
        self._settings = settings
        # Open agent consoles: in this process, or on every instance (Redis).
        self._presence = presence or Presence()
        self._departures: dict[str, asyncio.TimerHandle] = {}
        # What Rasa is told during a handoff, in order per conversation.
        self._tracker = HeldTracker(rasa)

    # --- availability ---
    def agents_online(self) -> int:
        return len(self._presence.online_agents())

    def availability(self, now: datetime | None = None) -> str | None:
        """None when someone can take a conversation, else why not."""
        if not self._settings.hours.is_open(now or datetime.now(UTC)):
            return "closed"
        if self.agents_online() == 0:
            return "no_agent"
        return None

    # --- citizens ---
    def note_client(self, conversation_id: str, client: str) -> None:
        """The address a conversation's messages come from (the web channel tells)."""
        self._clients[conversation_id] = client
        self._clients.move_to_end(conversation_id)
        while len(self._clients) > MAX_REMEMBERED_CLIENTS:
            self._clients.popitem(last=False)

    async def _client_is_busy(self, conversation_id: str) -> bool:
        client = self._clients.get(conversation_id)
        if client is None:
            return False
        waiting = [
            h
            for h in await self._store.open_handoffs()
            if h.status == "waiting"
            and h.conversation_id != conversation_id
            and self._clients.get(h.conversation_id) == client
        ]
        return len(waiting) >= self._max_waiting_per_client

    async def request(self, conversation_id: str, channel: str, reason: str) -> HandoffOutcome:
        metrics.handoff("requested")
        await self._presence.refresh()  # agents may be connected to another instance
        why = self.availability()
        if why is None and await self._client_is_busy(conversation_id):
            log.warning(
                "handoff refused: a client already has %d conversations waiting",
                self._max_waiting_per_client,
            )
            why = "busy"
        if why is not None:
            metrics.handoff("unavailable")
            return HandoffOutcome(queued=False, unavailable_reason=why)
        handoff = await self._store.create(conversation_id, channel, reason)
        metrics.handoff("queued")
        position, wait = await self._position(handoff.id)
        await self._broadcast_queue()
        return HandoffOutcome(True, handoff.id, position, wait)

    async def get(self, handoff_id: int) -> Handoff | None:
        return await self._store.get(handoff_id)

    async def open_for(self, conversation_id: str) -> Handoff | None:
        return await self._store.open_for(conversation_id)

    async def citizen_message(self, handoff: Handoff, text: str) -> None:
        """Relay what the citizen wrote to the agents' consoles."""
        self._bus.publish(
            AGENTS_TOPIC,
            CitizenMessage(
                handoff.id, handoff.conversation_id, text, datetime.now(UTC).isoformat()
            ),
        )

    def log_citizen_message(self, handoff: Handoff, text: str, channel: str) -> None:
        """Rasa logs what the citizen wrote (paused, it answers nothing), in the
        background: a slow Rasa must not hold up the conversation between people."""
        self._tracker.log_message(handoff.conversation_id, text, channel)

    def citizen_typing(self, handoff: Handoff, on: bool) -> None:
        self._bus.publish(AGENTS_TOPIC, CitizenTyping(handoff.id, on))

    async def _position(self, handoff_id: int) -> tuple[int, int]:
        waiting = [h for h in await self._store.open_handoffs() if h.status == "waiting"]
        position = next((i for i, h in enumerate(waiting, 1) if h.id == handoff_id), 0)
        return position, self._estimate_wait(position, await self._store.recent_wait_seconds())

    def _estimate_wait(self, position: int, recent: list[float]) -> int:
        # Median of recent real waits when there are enough, else the configured
        # handling time spread over the agents online.
        per_person = (
            statistics.median(recent) if len(recent) >= 5 else self._settings.average_handling_s
        )
        agents = max(1, self.agents_online())
        return int(per_person * max(1, position) / agents)

    # --- agents ---
    def agent_connected(self, agent: str) -> None:
        self._presence.connected(agent)
        timer = self._departures.pop(agent, None)
        if timer is not None:
            timer.cancel()

    def agent_disconnected(self, agent: str) -> None:
        if self._presence.disconnected(agent) == 0 and agent not in self._departures:
            self._schedule_departure(agent)

    def _schedule_departure(self, agent: str) -> None:
        loop = asyncio.get_running_loop()
        self._departures[agent] = loop.call_later(
            self._settings.grace_period_s, lambda: asyncio.ensure_future(self._agent_gone(agent))
        )

    async def _agent_gone(self, agent: str) -> None:
        """Grace period over: the agent's conversations go back to the queue."""
        self._departures.pop(agent, None)
        # Connected again, here or (scaled out) to another instance: keeps them.
        if await self._presence.is_online(agent):
            return
        for handoff in await self._store.open_handoffs():
            if handoff.status == "active" and handoff.claimed_by == agent:
                if await self._store.requeue(handoff.id, agent):
                    await self._notify_citizen(
                        handoff,
                        AgentLeft(
                            handoff.conversation_id,
                            "L'agent a été déconnecté. Vous êtes de nouveau en file d'attente.",
                        ),
                    )
        await self._broadcast_queue()

    async def requeue_orphans(self) -> None:
        """At start-up: conversations held by agents not connected (yet) go back to
        the queue unless their agent reconnects within the grace period."""
        agents = {
            h.claimed_by
            for h in await self._store.open_handoffs()
            if h.status == "active" and h.claimed_by
        }
        online = await self._presence.refresh() if agents else set()
        for agent in agents:
            if agent not in online and agent not in self._departures:
                self._schedule_departure(agent)

    async def watch_orphans(self) -> None:
        """Scaled out: an instance that crashed took its grace timers with it; every
        instance looks for conversations held by agents connected nowhere. Requeuing
        is one conditional UPDATE, so only one instance does it."""
        while True:
            await asyncio.sleep(max(1.0, self._settings.grace_period_s / 2))
            try:
                await self.requeue_orphans()
            except Exception:
                log.exception("looking for orphaned handoffs failed; retrying")

    async def claim(self, handoff_id: int, agent: str) -> Handoff | None:
        """Atomic: exactly one of several agents gets the conversation."""
        if not await self._store.claim(handoff_id, agent):
            return None
        metrics.handoff("claimed")
        handoff = await self._store.get(handoff_id)
        assert handoff is not None
        await self._notify_citizen(
            handoff,
            AgentJoined(
                handoff.conversation_id, "Un agent de la mairie a rejoint la conversation."
            ),
        )
        await self._broadcast_queue()
        return handoff

    async def agent_message(self, handoff_id: int, agent: str, text: str) -> bool:
        handoff = await self._store.get(handoff_id)
        if handoff is None or handoff.status != "active" or handoff.claimed_by != agent:
            return False
        await self._transcripts.append(
            handoff.conversation_id,
            handoff.channel,
            [StoredMessage("agent", text, {"agent": agent})],
        )
        said = AgentMessage(
            handoff.id, handoff.conversation_id, agent, text, datetime.now(UTC).isoformat()
        )
        # The citizen reads it; every console shows it.
        self._bus.publish(conversation_topic(handoff.conversation_id), said)
        self._bus.publish(AGENTS_TOPIC, said)
        # In the background, like the citizen's messages (see log_citizen_message).
        self._tracker.append_later(handoff.conversation_id, [{"event": "bot", "text": text}])
        return True

    def agent_typing(self, handoff: Handoff, on: bool) -> None:
        self._bus.publish(
            conversation_topic(handoff.conversation_id),
            AgentTyping(handoff.conversation_id, on),
        )

    async def hand_back(self, handoff_id: int, agent: str) -> bool:
        """The bot takes the conversation again, with its context."""
        if not await self._store.end(handoff_id, "handed_back", agent=agent):
            return False
        metrics.handoff("handed_back")
        handoff = await self._store.get(handoff_id)
        assert handoff is not None
        await self._tracker.append(handoff.conversation_id, RESUME_EVENTS)
        await self._notify_citizen(
            handoff,
            HandedBack(
                handoff.conversation_id,
                "L'agent vous a redirigé vers l'assistant automatisé. Vous pouvez continuer à "
                "poser vos questions.",
            ),
        )
        await self._broadcast_queue()
        return True

    async def close(self, handoff_id: int, agent: str | None, reason: str) -> bool:
        if not await self._store.end(handoff_id, "closed", reason, agent=agent):
            return False
        metrics.handoff("closed")
        handoff = await self._store.get(handoff_id)
        assert handoff is not None
        await self._tracker.append(handoff.conversation_id, RESUME_EVENTS)
        await self._notify_citizen(
            handoff,
            HandoffClosed(
                handoff.conversation_id,
                "La conversation avec l'agent est terminée. Merci et bonne journée !",
            ),
        )
        await self._broadcast_queue()
        return True

    async def abandon(self, conversation_id: str) -> None:
        """The citizen left the queue (cancel, hang-up)."""
        handoff = await self._store.open_for(conversation_id)
        if handoff is not None and handoff.status == "waiting":
            await self._store.end(handoff.id, "abandoned")
            metrics.handoff("abandoned")
            await self._tracker.append(conversation_id, RESUME_EVENTS)
            await self._broadcast_queue()

    async def queue_snapshot(self) -> list[dict[str, Any]]:
        return [h.to_json() for h in await self._store.open_handoffs()]

    # --- callback tickets ---
    async def create_ticket(
        self, conversation_id: str | None, channel: str, name: str, contact: str, subject: str
    ) -> Ticket:
        for _ in range(5):
            try:
                ticket = await self._tickets.insert(
                    new_ticket_reference(),
                    conversation_id,
                    channel,
                    name,
                    contact,
                    subject,
                    CONSENT_TEXT,
                )
                break
            except DuplicateTicketReference:
                continue
        else:
            raise RuntimeError("could not allocate a unique ticket reference")
        self._bus.publish(AGENTS_TOPIC, TicketChanged(ticket.to_json()))
        return ticket

    async def tickets(self, include_closed: bool = False) -> list[Ticket]:
        return await self._tickets.list(include_closed)

    async def update_ticket(self, ticket_id: int, status: str, agent: str | None) -> Ticket | None:
        if status not in ("open", "assigned", "closed"):
            raise ValueError(f"unknown ticket status {status!r}")
        ticket = await self._tickets.update_status(ticket_id, status, agent)
        if ticket is not None:
            self._bus.publish(AGENTS_TOPIC, TicketChanged(ticket.to_json()))
        return ticket

    # --- internals ---
    async def _notify_citizen(
        self, handoff: Handoff, notice: AgentJoined | AgentLeft | HandedBack | HandoffClosed
    ) -> None:
        """The notice is kept in the transcript, then pushed for the channel to render."""
        await self._transcripts.append(
            handoff.conversation_id, handoff.channel, [StoredMessage("system", notice.text, {})]
        )
        self._bus.publish(conversation_topic(handoff.conversation_id), notice)

    async def _broadcast_queue(self) -> None:
        snapshot = await self._store.open_handoffs()
        self._bus.publish(AGENTS_TOPIC, QueueChanged(tuple(h.to_json() for h in snapshot)))
        waiting = [h for h in snapshot if h.status == "waiting"]
        recent = await self._store.recent_wait_seconds()
        for position, handoff in enumerate(waiting, 1):
            self._bus.publish(
                conversation_topic(handoff.conversation_id),
                QueuePosition(
                    handoff.conversation_id, position, self._estimate_wait(position, recent)
                ),
            )
