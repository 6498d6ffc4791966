"""The "signalement" form: report a problem on the public space."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.contact import acknowledgement_note, contact_slot
from actions.dependencies import ActionDependencies
from bot.domain.reports import (
    CATEGORIES,
    MIN_DESCRIPTION_CHARS,
    MIN_LOCATION_CHARS,
    clean_free_text,
    normalise_category,
)
from bot.storage.reports import NewReport

log = logging.getLogger(__name__)

REPORT_SLOTS = (
    "report_category",
    "report_location",
    "report_description",
    "report_contact_consent",
    "report_contact",
)


def category_buttons() -> list[dict[str, str]]:
    return [
        {"title": label, "payload": f'/inform{{"report_category":"{value}"}}'}
        for value, label in CATEGORIES.items()
    ]


class ValidateSignalementForm(FormValidationAction):
    def name(self) -> str:
        return "validate_signalement_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> list[str]:
        # The contact is asked only of citizens who agreed to be contacted.
        if tracker.get_slot("report_contact_consent") is True:
            return domain_slots
        return [s for s in domain_slots if s != "report_contact"]

    def validate_report_category(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        category = normalise_category(value if isinstance(value, str) else None)
        if category is None:
            dispatcher.utter_message(
                text="Je n'ai pas reconnu la catégorie. Choisissez-en une dans la liste :",
                buttons=category_buttons(),
            )
            return {"report_category": None}
        return {"report_category": category}

    def validate_report_location(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        location = clean_free_text(value if isinstance(value, str) else None, MIN_LOCATION_CHARS)
        if location is None:
            dispatcher.utter_message(
                text="Pouvez-vous préciser le lieu (rue, numéro, repère proche) ?"
            )
        return {"report_location": location}

    def validate_report_description(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        description = clean_free_text(
            value if isinstance(value, str) else None, MIN_DESCRIPTION_CHARS
        )
        if description is None:
            dispatcher.utter_message(
                text="Pouvez-vous décrire le problème en quelques mots de plus ?"
            )
        return {"report_description": description}

    def validate_report_contact(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        if tracker.get_intent_of_latest_message() == "deny":
            # "Non finalement": the citizen withdrew consent; nothing is kept.
            dispatcher.utter_message(text="D'accord, vous ne serez pas recontacté.")
            return {"report_contact": None, "report_contact_consent": False}
        return contact_slot("report_contact", value, dispatcher)


class ActionSubmitReport(Action):
    def __init__(self, deps: ActionDependencies) -> None:
        self._reports = deps.reports
        self._town = deps.town

    def name(self) -> str:
        return "action_submit_report"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        category = tracker.get_slot("report_category")
        location = tracker.get_slot("report_location")
        description = tracker.get_slot("report_description")
        consent = tracker.get_slot("report_contact_consent") is True
        if category not in CATEGORIES or not location or not description:
            # The form guarantees these; if not, storing a partial report would
            # mislead the services, so ask the citizen to start again.
            log.error("report form ended without its required slots")
            dispatcher.utter_message(
                text="Votre signalement est incomplet, il n'a pas été enregistré. "
                "Voulez-vous recommencer ?"
            )
            return reset_report_slots()
        try:
            stored = await self._reports.submit(
                NewReport(
                    category=category,
                    location=location,
                    description=description,
                    contact=tracker.get_slot("report_contact") if consent else None,
                    conversation_id=tracker.sender_id,
                )
            )
        except Exception:
            log.exception("could not store a report")
            dispatcher.utter_message(
                text=(
                    "Désolé, votre signalement n'a pas pu être enregistré à cause d'un problème "
                    f"technique. Vous pouvez le signaler par téléphone au {self._town.phone}."
                )
            )
            return reset_report_slots()
        follow_up = (
            "Le service concerné pourra vous recontacter."
            if stored.contact
            else "Vous ne serez pas recontacté, conformément à votre choix."
        )
        dispatcher.utter_message(
            json_message={
                "text": (
                    "Merci, votre signalement est enregistré sous la référence "
                    f"{stored.reference}.\n"
                    f"• Catégorie : {CATEGORIES[stored.category]}\n"
                    f"• Lieu : {stored.location}\n"
                    f"• Description : {stored.description}\n"
                    f"{follow_up} Conservez cette référence pour tout suivi."
                    + acknowledgement_note(stored.acknowledgement)
                ),
                "report_reference": stored.reference,
            }
        )
        return reset_report_slots()


def reset_report_slots() -> list[dict[str, Any]]:
    return [SlotSet(slot, None) for slot in REPORT_SLOTS]


class ActionResetReport(Action):
    """After a cancelled form, forget its answers so the next report starts afresh."""

    def name(self) -> str:
        return "action_reset_report"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        return reset_report_slots()
