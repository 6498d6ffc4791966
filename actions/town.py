"""Answers built from the town's settings: hours, contacts, reaching a person."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.dependencies import ActionDependencies
from bot.domain.town import contact_text, opening_hours_text


class _TownAction(Action):
    def __init__(self, deps: ActionDependencies) -> None:
        self._town = deps.town


class ActionOpeningHours(_TownAction):
    def name(self) -> str:
        return "action_opening_hours"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        dispatcher.utter_message(text=opening_hours_text(self._town))
        return []


class ActionContactInfo(_TownAction):
    def name(self) -> str:
        return "action_contact_info"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        dispatcher.utter_message(text=contact_text(self._town))
        return []
