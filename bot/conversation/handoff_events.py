"""What the handoff service tells the open connections, as typed events.

`HandoffService` publishes these on the event bus (bot/conversation/events.py) and
knows nothing of any wire format; each channel renders the events it shows, as
Rasa's `OutputChannel` does with bot messages:

- the web chat (bot/channels/webchat.py, `webchat_frame`) turns the citizen's
  events (topic `conversation:<id>`) into the widget's JSON frames;
- the agent console (bot/channels/agent_console.py, `console_frame`) turns the
  desk's events (topic `agents`) into its frames;
- the phone renders none: a call reaches a person by transfer or leaves a
  callback request (voice/call.py), so it never waits in this queue.

A channel that holds conversations with a person (WhatsApp, SMS...) subscribes to
`conversation_topic(id)` and renders the citizen events below; an event it does not
know it ignores. Every field is JSON-able: `to_wire`/`from_wire` carry the events
through Redis when the app is scaled out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

# --- to the citizen (topic conversation:<id>) ---


@dataclass(frozen=True)
class QueuePosition:
    """The citizen waits for an agent: place in the queue and estimated wait."""

    conversation_id: str
    position: int
    estimated_wait_s: int


@dataclass(frozen=True)
class AgentJoined:
    """An agent took the conversation. `text` is the notice the transcript keeps."""

    conversation_id: str
    text: str


@dataclass(frozen=True)
class AgentLeft:
    """The agent's console went away past the grace period: back in the queue (the
    new position follows as a QueuePosition)."""

    conversation_id: str
    text: str


@dataclass(frozen=True)
class HandedBack:
    """The agent handed the conversation back to the bot."""

    conversation_id: str
    text: str


@dataclass(frozen=True)
class HandoffClosed:
    """The agent ended the conversation."""

    conversation_id: str
    text: str


@dataclass(frozen=True)
class AgentTyping:
    conversation_id: str
    on: bool


# --- to the citizen and the desk ---


@dataclass(frozen=True)
class AgentMessage:
    """What the agent wrote: the citizen reads it, every console shows it."""

    handoff_id: int
    conversation_id: str
    agent: str
    text: str
    at: str  # ISO 8601, UTC


# --- to the desk (topic agents) ---


@dataclass(frozen=True)
class CitizenMessage:
    """What the citizen wrote while a person holds (or is about to take) the chat."""

    handoff_id: int
    conversation_id: str
    text: str
    at: str  # ISO 8601, UTC


@dataclass(frozen=True)
class CitizenTyping:
    handoff_id: int
    on: bool


@dataclass(frozen=True)
class QueueChanged:
    """The open handoffs, waiting and held (`Handoff.to_json()` each)."""

    handoffs: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class TicketChanged:
    """A callback request was created or changed status (`Ticket.to_json()`)."""

    ticket: dict[str, Any]


@dataclass(frozen=True)
class ReportChanged:
    """A report (signalement) changed status at a console (the console's JSON of it)."""

    report: dict[str, Any]


HandoffEvent = (
    QueuePosition
    | AgentJoined
    | AgentLeft
    | HandedBack
    | HandoffClosed
    | AgentTyping
    | AgentMessage
    | CitizenMessage
    | CitizenTyping
    | QueueChanged
    | TicketChanged
    | ReportChanged
)

CITIZEN_EVENTS: tuple[type[HandoffEvent], ...] = (
    QueuePosition,
    AgentJoined,
    AgentLeft,
    HandedBack,
    HandoffClosed,
    AgentTyping,
    AgentMessage,
)
DESK_EVENTS: tuple[type[HandoffEvent], ...] = (
    AgentMessage,
    CitizenMessage,
    CitizenTyping,
    QueueChanged,
    TicketChanged,
    ReportChanged,
)
_BY_NAME: dict[str, type[HandoffEvent]] = {
    cls.__name__: cls for cls in (*CITIZEN_EVENTS, *DESK_EVENTS)
}


class UnknownEvent(ValueError):
    """A wire dict that names no event of this module (another version's, or garbage)."""


def to_wire(event: HandoffEvent) -> dict[str, Any]:
    """The event as a JSON-able dict naming its type (for Redis pub/sub)."""
    return {"event": type(event).__name__, **asdict(event)}


def from_wire(data: Any) -> HandoffEvent:
    """The event `to_wire` wrote, or UnknownEvent."""
    cls = _BY_NAME.get(str(data.get("event"))) if isinstance(data, dict) else None
    if cls is None:
        raise UnknownEvent(f"not a handoff event: {str(data)[:80]!r}")
    names = {f.name for f in fields(cls)}
    values: dict[str, Any] = {
        k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in names
    }
    try:
        return cls(**values)
    except TypeError as exc:
        raise UnknownEvent(f"{cls.__name__} with missing fields: {exc}") from exc
