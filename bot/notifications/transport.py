"""What a channel's transport does: deliver one outbox message, or say why not."""

from __future__ import annotations

from typing import Protocol

from bot.notifications.outbox import OutboxMessage


class TemporaryFailure(Exception):
    """Worth trying again later: the server or gateway is away, busy or timed out."""


class PermanentFailure(Exception):
    """Trying again cannot help: bad recipient, refused credentials, message refused."""


class Transport(Protocol):
    channel: str  # "email" | "sms"

    async def send(self, message: OutboxMessage) -> None:
        """Return once the server or gateway accepted the message; raise
        TemporaryFailure or PermanentFailure otherwise. Error texts must not
        contain the recipient (they are logged and stored)."""
        ...

    async def close(self) -> None: ...
