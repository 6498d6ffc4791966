"""What a citizen's request is, as the messages about it describe it.

A report (signalement) or a callback ticket becomes a `Request`; its `RequestKind`
holds the French wording of its messages (received, each status). Pure data and
functions: bot/notifications/compose.py renders the messages from them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from bot.core.text import fold
from bot.domain.reports import CATEGORIES
from bot.notifications.config import NotificationSettings
from bot.storage.handoffs import Ticket
from bot.storage.reports import StoredReport


@dataclass(frozen=True)
class RequestKind:
    label: str  # "signalement"
    received_word: str  # agreement of "reçu" with the label
    what_follows: str
    implicit_decision: str
    # status -> (subject, sentence after "Votre signalement SIG-… "; {at}: date of the change)
    statuses: dict[str, tuple[str, str]] = field(default_factory=dict)


REPORT = RequestKind(
    label="signalement",
    received_word="reçu",
    what_follows=(
        "votre signalement est transmis au service ci-dessus, qui l'examine et organise "
        "l'intervention nécessaire. Vous serez informé(e) par le même moyen lorsqu'il sera "
        "pris en compte, en cours de traitement, puis traité."
    ),
    implicit_decision=(
        "Un signalement informe la commune ; il n'est pas une demande appelant une décision "
        "administrative et ne fait donc naître aucune décision implicite d'acceptation ou de "
        "rejet. Aucun délai de recours ne court."
    ),
    statuses={
        "received": ("pris en compte", "a été pris en compte par le service le {at}."),
        "in_progress": ("en cours de traitement", "est en cours de traitement depuis le {at}."),
        "done": ("traité", "a été traité le {at}. Merci de votre signalement."),
    },
)
TICKET = RequestKind(
    label="demande de rappel",
    received_word="reçue",
    what_follows=(
        "un agent du service ci-dessus vous recontactera par le moyen que vous avez indiqué, "
        "aux heures d'ouverture de la mairie. Vous serez informé(e) par le même moyen de la "
        "prise en charge de votre demande."
    ),
    implicit_decision=(
        "Une demande de rappel n'appelle pas de décision administrative et ne fait donc "
        "naître aucune décision implicite d'acceptation ou de rejet. Aucun délai de recours "
        "ne court."
    ),
    statuses={
        "assigned": (
            "prise en charge",
            "a été prise en charge par un agent le {at} : il vous recontactera prochainement.",
        ),
        "closed": ("traitée", "a été traitée et close le {at}."),
    },
)
KINDS = {"report": REPORT, "ticket": TICKET}


@dataclass(frozen=True)
class Request:
    """A report or a callback ticket as the messages describe it."""

    kind: str  # report | ticket
    reference: str
    received_at: datetime
    channel: str
    contact: str | None
    conversation_id: str | None
    department: str | None  # key in notifications.departments
    summary: tuple[tuple[str, str], ...]
    name: str | None = None
    consent_text: str | None = None


def callback_department(subject: str, settings: NotificationSettings) -> str | None:
    folded = fold(subject)
    for route in settings.callback_routes:
        if any(re.search(rf"\b{re.escape(fold(k))}", folded) for k in route.keywords):
            return route.department
    return None


def report_request(report: StoredReport, settings: NotificationSettings) -> Request:
    return Request(
        kind="report",
        reference=report.reference,
        received_at=report.created_at,
        channel="webchat",
        contact=report.contact,
        conversation_id=report.conversation_id,
        department=settings.report_routes.get(report.category),
        summary=(
            ("Catégorie", CATEGORIES.get(report.category, report.category)),
            ("Lieu", report.location),
            ("Description", report.description),
        ),
    )


def ticket_request(
    ticket: Ticket, settings: NotificationSettings, consent_text: str | None = None
) -> Request:
    return Request(
        kind="ticket",
        reference=ticket.reference,
        received_at=ticket.created_at,
        channel=ticket.channel,
        contact=ticket.contact,
        conversation_id=ticket.conversation_id,
        department=callback_department(ticket.subject, settings),
        summary=(("Objet", ticket.subject), ("Nom", ticket.name)),
        name=ticket.name,
        consent_text=consent_text,
    )
