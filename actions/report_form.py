"""The "signalement" form: report a problem on the public space."""

from __future__ import annotations

import logging
import re
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.contact import acknowledgement_note, contact_slot
from actions.dependencies import ActionDependencies
from bot.core.text import fold
from bot.domain.reports import (
    CATEGORIES,
    MAX_FIELD_CHARS,
    MIN_DESCRIPTION_CHARS,
    MIN_LOCATION_CHARS,
    clean_free_text,
    normalise_category,
)
from bot.storage.reports import NewReport

log = logging.getLogger(__name__)

FORM = "signalement_form"
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


# A first message that only asks to report ("je veux signaler un nid de poule") names
# the problem but does not describe it: the description is asked for.
_ONLY_A_REQUEST = re.compile(r"\b(signal|declar|probleme)")


def opening_message(tracker: Tracker) -> str | None:
    """The text of the message that is starting the form, or None once it runs.

    Rasa calls the validation action when the form starts: the form is then the active
    loop, triggered by the latest message, and no slot was requested yet. What the
    citizen said then may already name the category, or describe the problem."""
    if tracker.get_slot("requested_slot") is not None:
        return None
    text = tracker.latest_message.get("text")
    if not isinstance(text, str) or not text.strip():
        return None
    trigger = (tracker.active_loop or {}).get("trigger_message") or {}
    if tracker.active_loop_name == FORM and trigger.get("text") != text:
        return None
    return text


def ask_again(dispatcher: CollectingDispatcher, value: Any, too_short: str) -> None:
    """Ask for a free-text answer again: `too_short`, or to shorten one over the limit."""
    if isinstance(value, str) and len(" ".join(value.split())) > MAX_FIELD_CHARS:
        dispatcher.utter_message(
            text=f"C'est un peu long : pouvez-vous dire l'essentiel en moins de "
            f"{MAX_FIELD_CHARS} caractères ?"
        )
    else:
        dispatcher.utter_message(text=too_short)


class ValidateSignalementForm(FormValidationAction):
    def name(self) -> str:
        return "validate_signalement_form"

    async def extract_report_category(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        """A first message such as "il y a un lampadaire en panne rue des Lilas" starts
        the form with its category."""
        text = opening_message(tracker)
        if text is None or tracker.get_slot("report_category") is not None:
            return {}
        entity = next(tracker.get_latest_entity_values("report_category"), None)
        category = normalise_category(entity) or normalise_category(text)
        return {"report_category": category} if category else {}

    async def extract_report_description(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        """A first message that describes a problem of a known category is its description
        (not a category button, nor a mere request to report)."""
        text = opening_message(tracker)
        if (
            text is None
            or tracker.get_intent_of_latest_message() != "report_problem"
            or tracker.get_slot("report_description") is not None
            or tracker.get_slot("report_category") is None
            or _ONLY_A_REQUEST.search(fold(text))
        ):
            return {}
        return {"report_description": text}

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
            ask_again(
                dispatcher, value, "Pouvez-vous préciser le lieu (rue, numéro, repère proche) ?"
            )
        return {"report_location": location}

    def validate_report_description(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        description = clean_free_text(
            value if isinstance(value, str) else None, MIN_DESCRIPTION_CHARS
        )
        if description is None:
            ask_again(
                dispatcher, value, "Pouvez-vous décrire le problème en quelques mots de plus ?"
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
