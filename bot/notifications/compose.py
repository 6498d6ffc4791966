"""What is sent when a request arrives or changes status: texts from the template files.

`Notifier` is what the stores call inside their transactions (bot/storage/reports.py,
bot/storage/handoffs.py): it decides the channels (the citizen's e-mail address or
French mobile, the department's mailbox), renders the messages and writes them to
the outbox on the caller's connection.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from string import Template
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.text import MONTHS
from bot.domain.availability import AgentHours
from bot.notifications.config import Department, NotificationSettings
from bot.notifications.contacts import channel_for, email_address, french_mobile
from bot.notifications.outbox import NewMessage, enqueue
from bot.notifications.requests import (
    KINDS,
    Request,
    RequestKind,
    report_request,
    ticket_request,
)
from bot.settings import TownSettings
from bot.storage.handoffs import Ticket
from bot.storage.reports import StoredReport

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).with_name("templates")

_DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
_CHANNELS = {"webchat": "assistant en ligne (chat)", "phone": "assistant téléphonique"}


def french_datetime(moment: datetime, timezone: str) -> str:
    """ "mercredi 2 décembre 2026 à 14 h 05", in the town's time zone."""
    local = moment.astimezone(ZoneInfo(timezone))
    day = "1er" if local.day == 1 else str(local.day)
    return (
        f"{_DAYS[local.weekday()]} {day} {MONTHS[local.month - 1]} {local.year} "
        f"à {local.hour} h {local.minute:02d}"
    )


def french_short(moment: datetime, timezone: str) -> str:
    """ "02/12/2026 à 14h05" (SMS)."""
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{local:%d/%m/%Y} à {local.hour}h{local.minute:02d}"


@cache
def _template(name: str) -> Template:
    return Template((TEMPLATES / name).read_text(encoding="utf-8"))


def render(name: str, values: dict[str, str], escape: bool = False) -> str:
    """A template with its variables; values HTML-escaped for .html files, except the
    ones named *_html (built here from escaped parts)."""
    if escape:
        values = {k: v if k.endswith("_html") else html.escape(v) for k, v in values.items()}
    text = _template(name).substitute(values)
    # Optional lines left empty by a missing value collapse.
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


class Notifier:
    """Renders messages and writes them to the outbox in the caller's transaction."""

    def __init__(
        self,
        settings: NotificationSettings,
        town: TownSettings,
        timezone: str = "Europe/Paris",
        retention_days: int = 90,
        hours: AgentHours | None = None,
    ) -> None:
        self.settings = settings
        self._town = town
        self._timezone = timezone
        self._retention_days = retention_days
        self._hours = hours
        # Set by the sender: called after a commit that added messages.
        self.on_enqueued: Callable[[], None] = lambda: None

    # --- what the stores call ---
    def acknowledgement_channel(self, contact: str | None) -> str | None:
        """The channel an acknowledgement to `contact` would go by, None if none can."""
        channel = channel_for(contact)
        if channel == "email" and self.settings.smtp.enabled:
            return "email"
        if channel == "sms" and self.settings.sms.enabled:
            return "sms"
        return None

    async def report_received(self, conn: AsyncConnection, report: StoredReport) -> str | None:
        return await self.request_received(conn, report_request(report, self.settings))

    async def ticket_received(
        self, conn: AsyncConnection, ticket: Ticket, consent_text: str | None = None
    ) -> str | None:
        return await self.request_received(
            conn, ticket_request(ticket, self.settings, consent_text)
        )

    async def request_received(self, conn: AsyncConnection, request: Request) -> str | None:
        """Acknowledgement to the citizen and the request to its department; returns the
        acknowledgement's channel (None: the citizen gave no contact we can write to)."""
        ack = self.acknowledgement(request)
        messages = [m for m in (ack, self.routing(request, ack)) if m is not None]
        await enqueue(conn, messages)
        return ack.channel if ack is not None else None

    async def status_changed(
        self, conn: AsyncConnection, request: Request, status: str
    ) -> str | None:
        message = self.status_update(request, status)
        if message is None:
            return None
        await enqueue(conn, [message])
        return message.channel

    async def report_status_changed(self, conn: AsyncConnection, report: StoredReport) -> None:
        await self.status_changed(conn, report_request(report, self.settings), report.status)

    async def ticket_status_changed(self, conn: AsyncConnection, ticket: Ticket) -> None:
        await self.status_changed(conn, ticket_request(ticket, self.settings), ticket.status)

    def committed(self) -> None:
        """The stores call this after the transaction: the sender may go now."""
        self.on_enqueued()

    # --- messages ---
    def department(self, key: str | None) -> Department:
        town = self._town
        found = self.settings.department(key)
        if found is None:
            return Department("mairie", town.mairie_name, town.email, town.phone, town.address)
        return Department(
            found.key,
            found.name,
            found.email or town.email,
            found.phone or town.phone,
            found.address or town.address,
        )

    def _values(self, request: Request, kind: RequestKind) -> dict[str, str]:
        town = self._town
        service = self.department(request.department)
        follow_up = self.follow_up_url(request.reference)
        return {
            "mairie": town.mairie_name,
            "town_address": town.address,
            "town_phone": town.phone,
            "town_email": town.email,
            "town_website": town.website,
            "reference": request.reference,
            "request_label": kind.label,
            "received_word": kind.received_word,
            "received_at": french_datetime(request.received_at, self._timezone),
            "received_short": french_short(request.received_at, self._timezone),
            "service_name": service.name,
            "service_address": service.address,
            "service_email": service.email,
            "service_phone": service.phone,
            "follow_up_line": f"Suivre votre demande : {follow_up}" if follow_up else "",
            "follow_up_sms": f"Suivi : {follow_up}" if follow_up else "",
            "follow_up_html": (
                f'<p>Suivre votre demande : <a href="{html.escape(follow_up)}">'
                f"{html.escape(follow_up)}</a></p>"
                if follow_up
                else ""
            ),
            "summary": "".join(f"{label} : {value}\n" for label, value in request.summary),
            "summary_html": "<ul>"
            + "".join(
                f"<li>{html.escape(label)} : {html.escape(value)}</li>"
                for label, value in request.summary
            )
            + "</ul>",
        }

    def follow_up_url(self, reference: str) -> str:
        url = self.settings.follow_up_url
        return url.replace("{reference}", reference) if url else ""

    def _legal(self, kind: RequestKind) -> str:
        return render(
            "legal.txt",
            {
                "implicit_decision": kind.implicit_decision,
                "mairie": self._town.mairie_name,
                "retention_days": str(self._retention_days),
                "town_email": self._town.email,
            },
        )

    def acknowledgement(self, request: Request) -> NewMessage | None:
        channel = self.acknowledgement_channel(request.contact)
        if channel is None:
            return None
        kind = KINDS[request.kind]
        values = self._values(request, kind)
        common: dict[str, Any] = {
            "key": f"ack.{request.reference}",
            "kind": "acknowledgement",
            "reference": request.reference,
            "conversation_id": request.conversation_id,
        }
        if channel == "sms":
            return self._to_citizen(request, common, "acknowledgement", values)
        legal = self._legal(kind)
        values = {
            **values,
            "what_follows": kind.what_follows,
            "what_follows_sentence": kind.what_follows[:1].upper() + kind.what_follows[1:],
            "legal": "Mentions légales\n" + legal,
        }
        values_html = {
            **values,
            "legal_html": "".join(
                f"<p>{html.escape(p.strip())}</p>" for p in legal.split("\n\n") if p.strip()
            ),
        }
        subject = f"Accusé de réception de votre {kind.label} {request.reference}"
        return self._to_citizen(request, common, "acknowledgement", values, subject, values_html)

    def routing(self, request: Request, ack: NewMessage | None) -> NewMessage | None:
        """The whole request to the department's mailbox, at any hour."""
        service = self.department(request.department)
        if not self.settings.smtp.enabled or not service.email:
            return None
        kind = KINDS[request.kind]
        outside = self._hours is not None and not self._hours.is_open(request.received_at)
        values = self._values(request, kind)
        values.update(
            outside_hours=" (en dehors des heures d'ouverture)" if outside else "",
            channel_label=_CHANNELS.get(request.channel, request.channel),
            contact_line=request.contact
            or "aucune (le demandeur n'a pas souhaité être recontacté)",
            consent_line=(
                f"Consentement recueilli : « {request.consent_text} »\n"
                if request.consent_text
                else ""
            ),
            acknowledgement_line={
                "email": "oui, par courriel",
                "sms": "oui, par SMS",
                None: "non (aucune adresse électronique ni numéro de mobile)",
            }[ack.channel if ack else None],
        )
        first = next((v for _, v in request.summary), "")
        return NewMessage(
            key=f"route.{request.reference}",
            kind="routing",
            channel="email",
            recipient=service.email,
            subject=f"[{request.reference}] {kind.label.capitalize()} – {first}"[:200],
            body_text=render("routing.txt", values),
            # The department can answer the citizen directly when an address was given.
            reply_to=email_address(request.contact),
            reference=request.reference,
            conversation_id=request.conversation_id,
        )

    def status_update(
        self, request: Request, status: str, at: datetime | None = None
    ) -> NewMessage | None:
        kind = KINDS[request.kind]
        wording = kind.statuses.get(status)
        channel = self.acknowledgement_channel(request.contact)
        if wording is None or channel is None:
            return None
        short, sentence = wording
        moment = french_datetime(at or datetime.now(UTC), self._timezone)
        values = self._values(request, kind)
        values.update(status_sentence=sentence.format(at=moment), status_label=status)
        common: dict[str, Any] = {
            # Each change is its own message (a request may be reopened and done again).
            "key": f"status.{request.reference}.{status}.{secrets.token_hex(4)}",
            "kind": "status",
            "reference": request.reference,
            "conversation_id": request.conversation_id,
        }
        subject = f"Votre {kind.label} {request.reference} : {short}"
        return self._to_citizen(request, common, "status", values, subject)

    def _to_citizen(
        self,
        request: Request,
        common: dict[str, Any],
        template: str,
        values: dict[str, str],
        subject: str = "",
        values_html: dict[str, str] | None = None,
    ) -> NewMessage:
        """The SMS (`template`.sms.txt) or the e-mail (`template`.txt and .html)."""
        if self.acknowledgement_channel(request.contact) == "sms":
            return NewMessage(
                channel="sms",
                recipient=french_mobile(request.contact) or "",
                body_text=render(f"{template}.sms.txt", values).strip(),
                **common,
            )
        return NewMessage(
            channel="email",
            recipient=email_address(request.contact) or "",
            subject=subject,
            body_text=render(f"{template}.txt", values),
            body_html=render(f"{template}.html", values_html or values, escape=True),
            reply_to=self.department(request.department).email,
            **common,
        )

    def call_link(
        self, conversation_id: str, caller: str, title: str, url: str
    ) -> NewMessage | None:
        """The link of an article given during a call, held until the call ends."""
        number = french_mobile(caller)
        if number is None or not self.settings.sms.enabled:
            return None
        digest = hashlib.sha256(url.encode()).hexdigest()[:12]
        hold = timedelta(seconds=self.settings.sender.call_link_hold_s)
        return NewMessage(
            key=f"link.{conversation_id}.{digest}",
            kind="call_link",
            channel="sms",
            recipient=number,
            body_text=render(
                "call_link.sms.txt", {"mairie": self._town.mairie_name, "title": title, "url": url}
            ).strip(),
            conversation_id=conversation_id,
            not_before=datetime.now(UTC) + hold,
        )
