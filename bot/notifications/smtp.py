"""E-mail through the town's SMTP relay (aiosmtplib): plain text plus simple HTML.

The Message-ID is derived from the outbox key, so a message sent twice (the
at-least-once window: the relay accepted it, the app died before recording it)
is the same message to the mail clients that receive it.
"""

from __future__ import annotations

import re
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses

import aiosmtplib

from bot.notifications.config import SmtpSettings
from bot.notifications.outbox import OutboxMessage
from bot.notifications.transport import PermanentFailure, TemporaryFailure


def sender_domain(sender: str) -> str:
    addresses = getaddresses([sender])
    address = addresses[0][1] if addresses else ""
    return address.rpartition("@")[2] or "guichet.invalid"


def message_id(key: str, domain: str) -> str:
    """<ack.SIG-7K3D9Q@villebrune.example>: stable for one outbox key."""
    return f"<{re.sub(r'[^A-Za-z0-9._-]', '-', key)}@{domain}>"


def build_email(message: OutboxMessage, settings: SmtpSettings) -> EmailMessage:
    email = EmailMessage()
    email["From"] = settings.sender
    email["To"] = Address(addr_spec=message.recipient)
    email["Subject"] = message.subject or ""
    email["Date"] = format_datetime(message.created_at)
    email["Message-ID"] = message_id(message.key, sender_domain(settings.sender))
    if message.reply_to:
        email["Reply-To"] = Address(addr_spec=message.reply_to)
    # RFC 3834: an automatic message; vacation responders must not answer it.
    email["Auto-Submitted"] = "auto-generated"
    if message.reference:
        email["X-Guichet-Reference"] = message.reference
    email["Content-Language"] = "fr"
    email.set_content(message.body_text, subtype="plain", charset="utf-8")
    if message.body_html:
        email.add_alternative(message.body_html, subtype="html", charset="utf-8")
    return email


class SmtpTransport:
    channel = "email"

    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings

    async def send(self, message: OutboxMessage) -> None:
        s = self._settings
        email = build_email(message, s)
        try:
            await aiosmtplib.send(
                email,
                hostname=s.host,
                port=s.port,
                username=s.username or None,
                password=(s.password or None) if s.username else None,
                use_tls=s.security == "tls",
                start_tls=True if s.security == "starttls" else False,
                timeout=s.timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = sorted({r.code for r in exc.recipients})
            if all(500 <= c < 600 for c in codes):
                raise PermanentFailure(f"SMTP relay refused the recipient ({codes})") from None
            raise TemporaryFailure(f"SMTP relay deferred the recipient ({codes})") from None
        except aiosmtplib.SMTPAuthenticationError as exc:
            if 400 <= exc.code < 500:
                raise TemporaryFailure(f"SMTP authentication deferred ({exc.code})") from None
            raise PermanentFailure(f"SMTP authentication refused ({exc.code})") from None
        except aiosmtplib.SMTPResponseException as exc:
            # Never exc.message: a relay may quote the recipient's address in it.
            if 500 <= exc.code < 600:
                raise PermanentFailure(f"SMTP relay refused the message ({exc.code})") from None
            raise TemporaryFailure(f"SMTP relay answered {exc.code}") from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TemporaryFailure(f"SMTP relay unreachable: {type(exc).__name__}") from None

    async def close(self) -> None:
        return None
