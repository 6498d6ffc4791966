"""The messages channels exchange with the conversation layer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Button:
    title: str
    payload: str


@dataclass(frozen=True)
class Source:
    title: str
    url: str
    updated: str | None = None
    # Not the answer's source: a related page offered beside it (the national fiche
    # on the topic the town's own article answered).
    see_also: bool = False


@dataclass(frozen=True)
class BotMessage:
    text: str
    buttons: tuple[Button, ...] = ()
    sources: tuple[Source, ...] = ()
    emergency: bool = False
    # Anything else the action attached (article ids, answer id for feedback...).
    extra: dict[str, Any] = field(default_factory=dict)

    def to_data(self) -> dict[str, Any]:
        """Everything but the text, as stored in the transcript."""
        data: dict[str, Any] = dict(self.extra)
        if self.buttons:
            data["buttons"] = [{"title": b.title, "payload": b.payload} for b in self.buttons]
        if self.sources:
            data["sources"] = [
                {
                    "title": s.title,
                    "url": s.url,
                    **({"updated": s.updated} if s.updated else {}),
                    **({"see_also": True} if s.see_also else {}),
                }
                for s in self.sources
            ]
        if self.emergency:
            data["emergency"] = True
        return data

    def to_json(self) -> dict[str, Any]:
        return {"role": "bot", "text": self.text, **self.to_data()}


def _buttons(raw: Any) -> tuple[Button, ...]:
    if not isinstance(raw, list):
        return ()
    return tuple(
        Button(title=str(b["title"]), payload=str(b["payload"]))
        for b in raw
        if isinstance(b, dict) and "title" in b and "payload" in b
    )


def _sources(raw: Any) -> tuple[Source, ...]:
    if not isinstance(raw, list):
        return ()
    return tuple(
        Source(
            title=str(s["title"]),
            url=str(s["url"]),
            updated=s.get("updated"),
            see_also=s.get("see_also") is True,
        )
        for s in raw
        if isinstance(s, dict) and "title" in s and "url" in s
    )


def from_rasa(message: dict[str, Any]) -> BotMessage | None:
    """Convert one message of Rasa's REST channel.

    Actions that need more than text and buttons send a `json_message`
    (`custom`) with the same keys as BotMessage.
    """
    custom = message.get("custom")
    if isinstance(custom, dict) and isinstance(custom.get("text"), str):
        known = {"text", "buttons", "sources", "emergency"}
        return BotMessage(
            text=custom["text"],
            buttons=_buttons(custom.get("buttons")),
            sources=_sources(custom.get("sources")),
            emergency=bool(custom.get("emergency", False)),
            extra={k: v for k, v in custom.items() if k not in known},
        )
    text = message.get("text")
    if not isinstance(text, str) or not text.strip():
        return None
    return BotMessage(text=text, buttons=_buttons(message.get("buttons")))
