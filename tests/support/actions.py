"""Run one custom action through rasa-sdk's ActionExecutor, as Rasa's action call would."""

from __future__ import annotations

from typing import Any

from rasa_sdk.executor import ActionExecutor


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
    message = {
        "text": text,
        "intent": {"name": intent, "confidence": 1.0},
        "entities": entities or [],
        "metadata": metadata,
    }
    tracker = {
        "sender_id": "citizen",
        "slots": {},
        "latest_message": message,
        "events": [
            *(before or []),
            {"event": "user", "text": text, "parse_data": message, "input_channel": channel},
        ],
        "paused": False,
        "followup_action": None,
        "active_loop": {},
        "latest_action_name": "action_listen",
    }
    call = {"next_action": action, "sender_id": "citizen", "tracker": tracker}
    result = await executor.run({**call, "domain": {}})
    assert result is not None
    return [r.get("custom") or {"text": r.get("text")} for r in result.responses]
