"""The `emergency` intent: numbers first, in any dialogue state."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.domain.emergency import detect_emergency, emergency_message


class ActionEmergency(Action):
    def name(self) -> str:
        return "action_emergency"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        text = tracker.latest_message.get("text") or ""
        dispatcher.utter_message(
            json_message={
                "text": emergency_message(detect_emergency(text), text),
                "emergency": True,
            }
        )
        return []
