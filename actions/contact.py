"""Asking a citizen for an e-mail address or phone number (report and callback forms)."""

from __future__ import annotations

from typing import Any

from rasa_sdk.executor import CollectingDispatcher

from bot.domain.reports import normalise_contact

CONTACT_NOT_RECOGNISED = (
    "Je n'ai pas reconnu d'adresse e-mail ou de numéro de téléphone français. "
    "Exemple : prenom.nom@exemple.fr ou 06 12 34 56 78."
)


def contact_slot(slot: str, value: Any, dispatcher: CollectingDispatcher) -> dict[str, Any]:
    """The normalised contact for `slot`, or None with an explanation to the citizen."""
    contact = normalise_contact(value if isinstance(value, str) else None)
    if contact is None:
        dispatcher.utter_message(text=CONTACT_NOT_RECOGNISED)
    return {slot: contact}


def acknowledgement_note(channel: str | None) -> str:
    """What the citizen is told about the acknowledgement of receipt (bot/notifications)."""
    if channel == "email":
        return "\nUn accusé de réception vous est envoyé par courriel."
    if channel == "sms":
        return "\nUn accusé de réception vous est envoyé par SMS."
    return ""
