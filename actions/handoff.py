"""Reaching a person: the queue for a live agent, or a callback request."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ConversationPaused, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.contact import acknowledgement_note, contact_slot
from actions.dependencies import ActionDependencies
from bot.conversation.capabilities import Capabilities
from bot.conversation.handoff import CONSENT_TEXT
from bot.domain.reports import MIN_LOCATION_CHARS, clean_free_text

log = logging.getLogger(__name__)

CALLBACK_SLOTS = ("callback_consent", "callback_name", "callback_contact", "callback_subject")
LEAVE_QUEUE = {"title": "Quitter la file d'attente", "payload": "/leave_queue"}


def minutes(seconds: int) -> str:
    m = max(1, round(seconds / 60))
    return "1 minute" if m == 1 else f"{m} minutes"


class ActionRequestHuman(Action):
    def __init__(self, deps: ActionDependencies) -> None:
        self._handoff = deps.handoff
        self._town = deps.town

    def name(self) -> str:
        return "action_request_human"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        reason = tracker.get_slot("handoff_reason") or "asked"
        channel = tracker.get_latest_input_channel() or "webchat"
        if Capabilities.of_message(tracker.latest_message).transfer:
            # On the phone a person is reached by transferring the call; the voice
            # channel does it (or takes a callback request when nobody can answer).
            dispatcher.utter_message(
                json_message={"text": "Je vous mets en relation avec un agent.", "transfer": True}
            )
            return [SlotSet("handoff_reason", None)]
        outcome = None
        if self._handoff is not None:
            try:
                outcome = await self._handoff.request(tracker.sender_id, channel, reason)
            except Exception:
                log.exception("handoff request failed")
        if outcome is not None and outcome.queued:
            dispatcher.utter_message(
                json_message={
                    "text": (
                        "Je vous mets en relation avec un agent de la mairie. Vous êtes en "
                        f"position {outcome.position}, temps d'attente estimé : environ "
                        f"{minutes(outcome.estimated_wait_s or 0)}. Vous pouvez déjà écrire "
                        "votre demande : l'agent la lira en arrivant."
                    ),
                    "buttons": [LEAVE_QUEUE],
                    "handoff": {"status": "waiting", "position": outcome.position},
                }
            )
            # Rasa's own event: the bot stays silent until the agent hands back.
            return [SlotSet("handoff_reason", None), ConversationPaused()]
        town = self._town
        why = (
            "Nos agents ne sont pas disponibles en ce moment"
            if outcome is not None and outcome.unavailable_reason in ("no_agent", "busy")
            else "Nos agents ne répondent pas en ligne à cette heure-ci"
        )
        hours = "; ".join(f"{s.days} {s.hours}" for s in town.opening_hours)
        dispatcher.utter_message(
            text=(
                f"{why}. Je peux enregistrer une demande pour qu'un agent vous recontacte, "
                f"ou vous pouvez appeler la mairie au {town.phone}"
                + (f" ({hours})." if hours else ".")
            ),
            buttons=[
                {"title": "Être recontacté", "payload": "/request_callback"},
                {"title": "Non merci", "payload": "/deny"},
            ],
        )
        return [SlotSet("handoff_reason", None)]


class ValidateCallbackForm(FormValidationAction):
    def name(self) -> str:
        return "validate_callback_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> list[str]:
        # Without consent nothing personal is asked (RGPD).
        if tracker.get_slot("callback_consent") is False:
            return []
        return domain_slots

    def validate_callback_consent(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        return {"callback_consent": bool(value)}

    def validate_callback_name(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        name = clean_free_text(value if isinstance(value, str) else None, 2)
        if name is None or len(name) > 120:
            dispatcher.utter_message(text="Pouvez-vous indiquer votre nom ?")
            return {"callback_name": None}
        return {"callback_name": name}

    def validate_callback_contact(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        return contact_slot("callback_contact", value, dispatcher)

    def validate_callback_subject(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        subject = clean_free_text(value if isinstance(value, str) else None, MIN_LOCATION_CHARS)
        if subject is None:
            dispatcher.utter_message(text="Pouvez-vous décrire l'objet de votre demande ?")
        return {"callback_subject": subject}


class ActionSubmitCallback(Action):
    def __init__(self, deps: ActionDependencies) -> None:
        self._handoff = deps.handoff
        self._town = deps.town

    def name(self) -> str:
        return "action_submit_callback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        reset = [SlotSet(slot, None) for slot in CALLBACK_SLOTS]
        if tracker.get_slot("callback_consent") is not True:
            dispatcher.utter_message(
                text=(
                    "D'accord, je n'enregistre aucune donnée. Vous pouvez joindre la mairie "
                    f"au {self._town.phone}."
                )
            )
            return reset
        name = tracker.get_slot("callback_name")
        contact = tracker.get_slot("callback_contact")
        subject = tracker.get_slot("callback_subject")
        if self._handoff is None or not (name and contact and subject):
            dispatcher.utter_message(
                text=(
                    "Votre demande n'a pas pu être enregistrée. "
                    f"Appelez la mairie au {self._town.phone}."
                )
            )
            return reset
        try:
            ticket = await self._handoff.create_ticket(
                tracker.sender_id,
                tracker.get_latest_input_channel() or "webchat",
                name,
                contact,
                subject,
            )
        except Exception:
            log.exception("could not store a callback request")
            dispatcher.utter_message(
                text=(
                    "Désolé, votre demande n'a pas pu être enregistrée à cause d'un problème "
                    f"technique. Appelez la mairie au {self._town.phone}."
                )
            )
            return reset
        # The contact is not repeated: the reply is stored in the transcript and
        # shown again on reload, while the contact belongs to the ticket alone.
        dispatcher.utter_message(
            json_message={
                "text": (
                    "Votre demande de rappel est enregistrée sous la référence "
                    f"{ticket.reference}. Un agent vous recontactera aux coordonnées "
                    "que vous avez indiquées." + acknowledgement_note(ticket.acknowledgement)
                ),
                "ticket_reference": ticket.reference,
            }
        )
        return reset


class ActionAskCallbackConsent(Action):
    """The consent sentence comes from the code that stores it with the ticket."""

    def name(self) -> str:
        return "action_ask_callback_consent"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        dispatcher.utter_message(
            json_message={
                "text": f"Avant de continuer : {CONSENT_TEXT} Êtes-vous d'accord ?",
                "buttons": [
                    {"title": "Oui, j'accepte", "payload": "/affirm"},
                    {"title": "Non", "payload": "/deny"},
                ],
                # A form question is pending (bot/conversation/understanding.py).
                "expects": "callback_consent",
            }
        )
        return []
