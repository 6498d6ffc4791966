"""SMS through Kannel's `sendsms` HTTP interface (smsbox), which operators' gateways also speak.

Kannel answers 202 "0: Accepted for delivery" or "3: Queued for later delivery"
once it has taken the message; it has no idempotency key, so a message whose
acceptance the app did not record (killed in between) is sent again: the outbox
documents that at-least-once window.
"""

from __future__ import annotations

import aiohttp

from bot.notifications.config import SmsSettings
from bot.notifications.outbox import OutboxMessage
from bot.notifications.transport import PermanentFailure, TemporaryFailure

# GSM 03.38 default alphabet (and its extension table): text made only of these
# goes as 7-bit SMS, 160 characters a part; anything else as UCS-2, 70 a part.
GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = set("^{}\\[~]|€")
# Typography that has a plain equivalent, so most French texts stay 7-bit.
_PLAIN = str.maketrans(
    {
        "’": "'",
        "‘": "'",
        "«": '"',
        "»": '"',
        "–": "-",
        "—": "-",
        "\u00a0": " ",
        "\u202f": " ",
        "…": "...",
    }
)


def sms_text(text: str) -> tuple[str, int]:
    """The text to send and Kannel's `coding` (0: GSM 7-bit, 2: UCS-2)."""
    plain = text.translate(_PLAIN)
    if all(c in GSM_BASIC or c in GSM_EXTENDED for c in plain):
        return plain, 0
    return plain, 2


class KannelTransport:
    channel = "sms"

    def __init__(self, settings: SmsSettings) -> None:
        self._settings = settings
        self._http: aiohttp.ClientSession | None = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._settings.timeout_s)
            )
        return self._http

    async def send(self, message: OutboxMessage) -> None:
        s = self._settings
        text, coding = sms_text(message.body_text)
        params = {
            "username": s.username,
            "password": s.password,
            "to": message.recipient,
            "text": text,
            "charset": "UTF-8",
            "coding": str(coding),
        }
        if s.sender:
            params["from"] = s.sender
        if s.smsc:
            params["smsc"] = s.smsc
        try:
            async with self._session().get(s.sendsms_url, params=params) as resp:
                body = (await resp.text(errors="replace")).strip()[:120]
                status = resp.status
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise TemporaryFailure(f"SMS gateway unreachable: {type(exc).__name__}") from None
        if 200 <= status < 300:
            return
        # Kannel's bodies name the problem ("Authorization failed", "Sender missing…")
        # without the number; 4xx is the request's fault, 5xx and 503 the gateway's.
        if status in (408, 429) or status >= 500:
            raise TemporaryFailure(f"SMS gateway answered {status}: {body}")
        raise PermanentFailure(f"SMS gateway refused the message ({status}): {body}")

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
