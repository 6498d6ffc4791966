"""Typed handoff events and how each channel renders them (doubles, no app).

The handoff service publishes events (bot/conversation/handoff_events.py); the web
chat turns the citizen's into the widget's frames (bot/web/static/widget.js reads
them), the agent console turns the desk's into its own. The frames below are the
wire protocol: they must not change.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.channels.agent_console import console_frame
from bot.channels.webchat import WebChatChannel, webchat_frame
from bot.conversation.events import AGENTS_TOPIC, EventBus, RedisEventBus, conversation_topic
from bot.conversation.handoff import HandoffService
from bot.conversation.handoff_events import (
    CITIZEN_EVENTS,
    DESK_EVENTS,
    AgentJoined,
    AgentLeft,
    AgentMessage,
    AgentTyping,
    CitizenMessage,
    CitizenTyping,
    HandedBack,
    HandoffClosed,
    HandoffEvent,
    QueueChanged,
    QueuePosition,
    ReportChanged,
    TicketChanged,
    UnknownEvent,
    from_wire,
    to_wire,
)
from bot.settings import HandoffSettings
from bot.storage.handoffs import Handoff

CONV = "0b7e5a52-3f0c-4d1e-9a57-2c1f4f0f9a11"
AT = "2026-12-03T14:00:00+00:00"
QUEUE_ROW = {"id": 7, "conversation_id": CONV, "status": "waiting"}
TICKET = {"id": 3, "reference": "RAP-ABC234", "status": "open"}
REPORT = {"reference": "SIG-XYZ789", "status": "in_progress"}

EXAMPLES: list[HandoffEvent] = [
    QueuePosition(CONV, 2, 480),
    AgentJoined(CONV, "Un agent de la mairie a rejoint la conversation."),
    AgentLeft(CONV, "L'agent a été déconnecté. Vous êtes de nouveau en file d'attente."),
    HandedBack(CONV, "L'agent vous a redirigé vers l'assistant automatisé."),
    HandoffClosed(CONV, "La conversation avec l'agent est terminée."),
    AgentTyping(CONV, True),
    AgentMessage(7, CONV, "agent@mairie.fr", "Bonjour, je vous écoute.", AT),
    CitizenMessage(7, CONV, "bonjour, j'attends", AT),
    CitizenTyping(7, False),
    QueueChanged((QUEUE_ROW,)),
    TicketChanged(TICKET),
    ReportChanged(REPORT),
]

WIDGET_FRAMES: dict[type, dict[str, Any]] = {
    QueuePosition: {"type": "handoff", "status": "waiting", "position": 2, "estimated_wait_s": 480},
    AgentJoined: {
        "type": "handoff",
        "status": "active",
        "text": "Un agent de la mairie a rejoint la conversation.",
    },
    # What the service sent before the events existed: the requeued handoff's
    # status as it was read ("active"); the position frame follows.
    AgentLeft: {
        "type": "handoff",
        "status": "active",
        "text": "L'agent a été déconnecté. Vous êtes de nouveau en file d'attente.",
    },
    HandedBack: {
        "type": "handoff",
        "status": "bot",
        "text": "L'agent vous a redirigé vers l'assistant automatisé.",
    },
    HandoffClosed: {
        "type": "handoff",
        "status": "closed",
        "text": "La conversation avec l'agent est terminée.",
    },
    AgentTyping: {"type": "typing", "on": True, "who": "agent"},
    AgentMessage: {
        "type": "agent",
        "messages": [{"role": "agent", "text": "Bonjour, je vous écoute."}],
    },
}

CONSOLE_FRAMES: dict[type, dict[str, Any]] = {
    AgentMessage: {
        "type": "message",
        "handoff_id": 7,
        "conversation_id": CONV,
        "role": "agent",
        "text": "Bonjour, je vous écoute.",
        "agent": "agent@mairie.fr",
        "at": AT,
    },
    CitizenMessage: {
        "type": "message",
        "handoff_id": 7,
        "conversation_id": CONV,
        "role": "user",
        "text": "bonjour, j'attends",
        "at": AT,
    },
    CitizenTyping: {"type": "typing", "handoff_id": 7, "role": "user", "on": False},
    QueueChanged: {"type": "queue", "handoffs": [QUEUE_ROW]},
    TicketChanged: {"type": "ticket", "ticket": TICKET},
    ReportChanged: {"type": "report", "report": REPORT},
}


def test_every_event_class_has_an_example() -> None:
    assert {type(e) for e in EXAMPLES} == set(CITIZEN_EVENTS) | set(DESK_EVENTS)


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: type(e).__name__)
def test_the_web_chat_renders_the_citizen_events_as_the_widget_frames(event: HandoffEvent) -> None:
    expected = WIDGET_FRAMES.get(type(event))
    assert webchat_frame(event) == expected
    # What the widget is given is JSON as it was (key order included).
    if expected is not None:
        assert json.dumps(webchat_frame(event)) == json.dumps(expected)
    assert (expected is not None) == (type(event) in CITIZEN_EVENTS)


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: type(e).__name__)
def test_the_console_renders_the_desk_events(event: HandoffEvent) -> None:
    expected = CONSOLE_FRAMES.get(type(event))
    assert console_frame(event) == expected
    if expected is not None:
        assert json.dumps(console_frame(event)) == json.dumps(expected)
    assert (expected is not None) == (type(event) in DESK_EVENTS)


def test_the_frames_follow_the_events_fields() -> None:
    assert webchat_frame(QueuePosition(CONV, 5, 60)) == {
        "type": "handoff",
        "status": "waiting",
        "position": 5,
        "estimated_wait_s": 60,
    }
    assert webchat_frame(AgentTyping(CONV, False)) == {
        "type": "typing",
        "on": False,
        "who": "agent",
    }
    assert console_frame(CitizenTyping(9, True)) == {
        "type": "typing",
        "handoff_id": 9,
        "role": "user",
        "on": True,
    }


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: type(e).__name__)
def test_events_cross_redis_as_json_unchanged(event: HandoffEvent) -> None:
    wire = json.loads(json.dumps(to_wire(event)))
    assert wire["event"] == type(event).__name__
    assert from_wire(wire) == event


async def test_the_redis_bus_sends_the_event_on_the_wire_and_not_a_frame() -> None:
    bus = RedisEventBus("redis://127.0.0.1:1")  # never connected: publish only queues
    try:
        event = AgentMessage(7, CONV, "agent@mairie.fr", "Bonjour.", AT)
        bus.publish(conversation_topic(CONV), event)
        channel, data = bus._outbox.get_nowait()
        assert channel.endswith(conversation_topic(CONV))
        assert json.loads(data)["event"] == "AgentMessage"
        assert from_wire(json.loads(data)) == event
    finally:
        await bus.close()


@pytest.mark.parametrize(
    "wire",
    [
        {"type": "handoff", "status": "waiting"},  # a widget frame is not an event
        {"event": "Nope"},
        {"event": "AgentTyping"},  # fields missing
        ["AgentTyping"],
        None,
    ],
)
def test_what_is_not_an_event_is_refused(wire: Any) -> None:
    with pytest.raises(UnknownEvent):
        from_wire(wire)


# --- the service publishes events, the channels render them (doubles) ---

NOW = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)
WAITING = Handoff(7, CONV, "webchat", "waiting", "asked", NOW, None, None, None, None)


class StoreDouble:
    """The few HandoffStore calls the service makes here, in memory."""

    def __init__(self, *handoffs: Handoff) -> None:
        self.rows = {h.id: h for h in handoffs}

    async def get(self, handoff_id: int) -> Handoff | None:
        return self.rows.get(handoff_id)

    async def claim(self, handoff_id: int, agent: str) -> bool:
        row = self.rows[handoff_id]
        if row.status != "waiting":
            return False
        self.rows[handoff_id] = replace(row, status="active", claimed_by=agent, claimed_at=NOW)
        return True

    async def end(
        self, handoff_id: int, outcome: str, reason: str | None = None, agent: str | None = None
    ) -> bool:
        row = self.rows[handoff_id]
        self.rows[handoff_id] = replace(row, status="closed", outcome=outcome)
        return True

    async def open_handoffs(self) -> list[Handoff]:
        return [h for h in self.rows.values() if h.status in ("waiting", "active")]

    async def recent_wait_seconds(self) -> list[float]:
        return []


class TranscriptDouble:
    def __init__(self) -> None:
        self.appended: list[tuple[str, str, str]] = []

    async def append(self, conversation_id: str, channel: str, items: list[Any]) -> None:
        self.appended += [(conversation_id, m.role, m.text) for m in items]


class RasaDouble:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def append_events(self, conversation_id: str, events: list[dict[str, Any]]) -> None:
        self.events += events


def service(store: StoreDouble, bus: EventBus) -> tuple[HandoffService, TranscriptDouble]:
    transcripts = TranscriptDouble()
    handoff = HandoffService(
        store,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        transcripts,  # type: ignore[arg-type]
        RasaDouble(),  # type: ignore[arg-type]
        bus,
        HandoffSettings(average_handling_s=120),
    )
    return handoff, transcripts


def drain(queue: asyncio.Queue[HandoffEvent]) -> list[HandoffEvent]:
    out = []
    while not queue.empty():
        out.append(queue.get_nowait())
    return out


async def test_a_claim_joins_the_citizen_and_updates_every_console() -> None:
    bus = EventBus()
    store = StoreDouble(WAITING)
    handoff, transcripts = service(store, bus)
    async with (
        bus.subscribe(conversation_topic(CONV)) as citizen,
        bus.subscribe(AGENTS_TOPIC) as desk,
    ):
        assert await handoff.claim(7, "agent@mairie.fr") is not None
        to_citizen, to_desk = drain(citizen), drain(desk)
    joined = AgentJoined(CONV, "Un agent de la mairie a rejoint la conversation.")
    assert to_citizen == [joined]
    assert [webchat_frame(e) for e in to_citizen] == [WIDGET_FRAMES[AgentJoined]]
    # The notice the citizen reads is the one the transcript keeps.
    assert transcripts.appended == [(CONV, "system", joined.text)]
    assert len(to_desk) == 1 and isinstance(to_desk[0], QueueChanged)
    frame = console_frame(to_desk[0])
    assert frame is not None and frame["type"] == "queue"
    assert [h["status"] for h in frame["handoffs"]] == ["active"]


async def test_an_agent_message_is_one_event_rendered_by_both_sides() -> None:
    bus = EventBus()
    store = StoreDouble(WAITING)
    handoff, _ = service(store, bus)
    await handoff.claim(7, "agent@mairie.fr")
    async with (
        bus.subscribe(conversation_topic(CONV)) as citizen,
        bus.subscribe(AGENTS_TOPIC) as desk,
    ):
        assert await handoff.agent_message(7, "agent@mairie.fr", "Bonjour.")
        to_citizen, to_desk = drain(citizen), drain(desk)
        # Not the agent holding it: nothing is published.
        assert not await handoff.agent_message(7, "autre@mairie.fr", "Bonjour.")
        assert drain(citizen) == [] and drain(desk) == []
    assert to_citizen == to_desk and isinstance(to_citizen[0], AgentMessage)
    assert webchat_frame(to_citizen[0]) == {
        "type": "agent",
        "messages": [{"role": "agent", "text": "Bonjour."}],
    }
    frame = console_frame(to_desk[0])
    assert frame is not None
    assert (frame["role"], frame["agent"], frame["text"]) == (
        "agent",
        "agent@mairie.fr",
        "Bonjour.",
    )


async def test_hand_back_and_close_notices_render_as_bot_and_closed() -> None:
    for end, status in (("hand_back", "bot"), ("close", "closed")):
        bus = EventBus()
        store = StoreDouble(WAITING)
        handoff, _ = service(store, bus)
        await handoff.claim(7, "agent@mairie.fr")
        async with bus.subscribe(conversation_topic(CONV)) as citizen:
            if end == "hand_back":
                assert await handoff.hand_back(7, "agent@mairie.fr")
            else:
                assert await handoff.close(7, "agent@mairie.fr", "réglé")
            frames = [webchat_frame(e) for e in drain(citizen)]
        assert [f["status"] for f in frames if f] == [status]


class SocketDouble:
    """The two things WebChatChannel._forward uses of a WebSocket."""

    def __init__(self, expected: int) -> None:
        self.sent: list[dict[str, Any]] = []
        self.closed = False
        self._expected = expected
        self.got_all = asyncio.Event()

    async def send_json(self, frame: dict[str, Any]) -> None:
        self.sent.append(frame)
        if len(self.sent) >= self._expected:
            self.got_all.set()


async def test_the_web_socket_gets_rendered_frames_and_skips_desk_events() -> None:
    channel = WebChatChannel(conversation=None, bus=EventBus())  # type: ignore[arg-type]
    pushes: asyncio.Queue[HandoffEvent] = asyncio.Queue()
    for event in (QueueChanged(()), QueuePosition(CONV, 1, 240), AgentTyping(CONV, True)):
        pushes.put_nowait(event)
    ws = SocketDouble(expected=2)
    forwarder = asyncio.create_task(channel._forward(ws, pushes))  # type: ignore[arg-type]
    await asyncio.wait_for(ws.got_all.wait(), 2)
    forwarder.cancel()
    await asyncio.gather(forwarder, return_exceptions=True)
    assert ws.sent == [
        {"type": "handoff", "status": "waiting", "position": 1, "estimated_wait_s": 240},
        {"type": "typing", "on": True, "who": "agent"},
    ]
