"""Run one custom action through rasa-sdk's ActionExecutor, as Rasa's action call would."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import yaml
from rasa_sdk.executor import ActionExecutor

from tools import ROOT


@cache
def bot_domain() -> dict[str, Any]:
    """The bot's domain (domain.yml) as Rasa sends it with each action call: forms and
    their required slots, slots and their mappings."""
    domain: dict[str, Any] = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    return domain


@dataclass(frozen=True)
class ActionRun:
    replies: list[dict[str, Any]]  # each as its custom payload, or {"text", "buttons"}
    events: list[dict[str, Any]]

    def slots(self) -> dict[str, Any]:
        """The slots the action set, last value first."""
        return {e["name"]: e["value"] for e in self.events if e.get("event") == "slot"}


async def execute(
    executor: ActionExecutor,
    action: str,
    text: str,
    intent: str,
    metadata: dict[str, Any] | None = None,
    channel: str = "webchat",
    *,
    slots: dict[str, Any] | None = None,
    candidates: dict[str, Any] | None = None,
    active_loop: str | None = None,
    started_loop: bool = False,
    entities: list[dict[str, Any]] | None = None,
    before: list[dict[str, Any]] | None = None,
) -> ActionRun:
    """Call `action` after the citizen said `text` (classified as `intent`), with the
    tracker Rasa would send: the conversation's `slots`, the form `active_loop` if one
    runs, and the slot `candidates` Rasa extracted from this message, appended as
    SlotSet events after it (what a form's validation action is given to check).
    `started_loop`: this message started `active_loop`, as when a form begins.
    `before`: earlier tracker events (the question a picked button answers)."""
    message = {
        "text": text,
        "intent": {"name": intent, "confidence": 1.0},
        "intent_ranking": [{"name": intent, "confidence": 1.0}],
        "entities": entities or [],
        "metadata": metadata or {},
    }
    candidates = candidates or {}
    loop: dict[str, Any] = {}
    if active_loop:
        # Rasa makes the loop active before its first validation, with the message that
        # started it (`started_loop`: this one).
        loop = {"name": active_loop, "is_interrupted": False, "rejected": False}
        if started_loop:
            loop["trigger_message"] = message
    tracker = {
        "sender_id": "citizen",
        "slots": {**(slots or {}), **candidates},
        "latest_message": message,
        "events": [
            *(before or []),
            {"event": "user", "text": text, "parse_data": message, "input_channel": channel},
            *({"event": "slot", "name": k, "value": v} for k, v in candidates.items()),
        ],
        "paused": False,
        "followup_action": None,
        "active_loop": loop,
        "latest_action_name": "action_listen",
    }
    call = {"next_action": action, "sender_id": "citizen", "tracker": tracker}
    result = await executor.run({**call, "domain": bot_domain()})
    assert result is not None
    replies = [
        r.get("custom") or {"text": r.get("text"), "buttons": r.get("buttons") or []}
        for r in result.responses
    ]
    return ActionRun(replies, list(result.events))


async def run_action(
    executor: ActionExecutor,
    action: str,
    text: str,
    intent: str,
    metadata: dict[str, Any],
    channel: str = "webchat",
    entities: list[dict[str, Any]] | None = None,
    before: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The replies of `action` after the citizen said `text` (classified as `intent`,
    with the message `metadata` the app sends), each as its custom payload or text.
    `entities` are those of the message (a button's payload); `before` are earlier
    tracker events."""
    run = await execute(
        executor, action, text, intent, metadata, channel, entities=entities, before=before
    )
    return [{k: v for k, v in r.items() if k != "buttons" or v} for r in run.replies]
