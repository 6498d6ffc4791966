"""The sender: one task per channel delivers due outbox messages, with back-off.

Each channel has its own task, so a mail server that is down does not hold up
SMS, and the other way round. A task wakes when a request committed messages
(`Notifier.on_enqueued`), when the next retry is due, or every `poll_s` for
messages written by other app instances.
"""

from __future__ import annotations

import asyncio
import logging
import time

from bot.notifications.compose import Notifier
from bot.notifications.config import NotificationSettings, SenderPolicy
from bot.notifications.outbox import OutboxMessage, OutboxStore
from bot.notifications.sms_kannel import KannelTransport
from bot.notifications.smtp import SmtpTransport
from bot.notifications.transport import PermanentFailure, TemporaryFailure, Transport
from bot.observability import metrics

log = logging.getLogger(__name__)


def backoff_s(attempts: int, policy: SenderPolicy) -> float:
    """Seconds before attempt `attempts + 1`: doubling from retry_base_s up to retry_max_s."""
    return min(policy.retry_max_s, policy.retry_base_s * 2 ** max(0, attempts - 1))


def transports_for(settings: NotificationSettings) -> list[Transport]:
    out: list[Transport] = []
    if settings.smtp.enabled:
        out.append(SmtpTransport(settings.smtp))
    if settings.sms.enabled:
        out.append(KannelTransport(settings.sms))
    return out


class NotificationSender:
    def __init__(
        self, store: OutboxStore, transports: list[Transport], policy: SenderPolicy
    ) -> None:
        self._store = store
        self._transports = {t.channel: t for t in transports}
        self._policy = policy
        self._wake = {channel: asyncio.Event() for channel in self._transports}

    def attach(self, notifier: Notifier) -> None:
        notifier.on_enqueued = self.wake

    def wake(self) -> None:
        for event in self._wake.values():
            event.set()

    async def run(self) -> None:
        """Until cancelled; every channel's task survives its own errors."""
        if not self._transports:
            return
        await asyncio.gather(*(self._channel_loop(c) for c in self._transports))

    async def close(self) -> None:
        for transport in self._transports.values():
            await transport.close()

    async def _channel_loop(self, channel: str) -> None:
        wake = self._wake[channel]
        # Looking for claims left by a dead process is a write: not on every round.
        release_every = self._policy.claim_timeout_s / 2
        last_release = -release_every
        while True:
            wake.clear()
            try:
                released = 0
                if time.monotonic() - last_release >= release_every:
                    last_release = time.monotonic()
                    released = await self._store.release_stale_claims(self._policy.claim_timeout_s)
                if released:
                    log.warning(
                        "%d %s message(s) left mid-send by a stopped process: sending again",
                        released,
                        channel,
                    )
                batch = await self._store.claim_due(channel)
                for message in batch:
                    await self.deliver(message)
                if batch:
                    continue  # more may be due
                due_in = await self._store.next_due_in(channel)
            except Exception:
                log.exception("notification sender (%s) failed; retrying", channel)
                due_in = None
            timeout = self._policy.poll_s if due_in is None else min(due_in, self._policy.poll_s)
            try:
                await asyncio.wait_for(wake.wait(), timeout=max(0.05, timeout))
            except TimeoutError:
                pass

    async def deliver(self, message: OutboxMessage) -> str:
        """Send one claimed message and record the outcome; returns the new state."""
        transport = self._transports[message.channel]
        # Logs name the message and its request, never the recipient.
        what = f"{message.kind} #{message.id} ({message.reference or '-'}, {message.channel})"
        try:
            await transport.send(message)
        except PermanentFailure as exc:
            await self._store.mark_failed(message, str(exc))
            metrics.notification(message.channel, "failed")
            log.error("%s not sent: %s", what, exc)
            return "failed"
        except (TemporaryFailure, Exception) as exc:
            error = str(exc) if isinstance(exc, TemporaryFailure) else type(exc).__name__
            if message.attempts >= self._policy.max_attempts:
                await self._store.mark_failed(
                    message, f"gave up after {message.attempts} attempts: {error}"
                )
                metrics.notification(message.channel, "failed")
                log.error("%s not sent after %d attempts: %s", what, message.attempts, error)
                return "failed"
            delay = backoff_s(message.attempts, self._policy)
            await self._store.retry_later(message, delay, error)
            metrics.notification(message.channel, "retry")
            log.warning(
                "%s: attempt %d failed (%s); next in %.0f s", what, message.attempts, error, delay
            )
            return "pending"
        if not await self._store.mark_sent(message):
            log.warning("%s was sent but its claim had expired", what)
        metrics.notification(message.channel, "sent")
        log.info("%s sent", what)
        return "sent"
