"""After an answer with a link: "Voulez-vous recevoir le lien par SMS ?" (keypad 1 / 2).

The link goes to the calling number only if it is a French mobile; it is written
to the outbox at once (nothing lost if the call drops) but held until the call
ends, so the phone does not buzz in the caller's ear; a crash releases it after
`notifications.sender.call_link_hold_s` at the latest.
"""

from __future__ import annotations

import logging

from bot.conversation.messages import BotMessage, Source
from bot.notifications.compose import Notifier
from bot.notifications.contacts import french_mobile
from bot.notifications.outbox import OutboxStore

log = logging.getLogger(__name__)

KIND = "call_link"
OFFER = "Voulez-vous recevoir le lien de cette information par SMS ? Tapez 1 pour oui, 2 pour non."
ACCEPTED = "C'est noté : vous recevrez le lien par SMS à la fin de l'appel."
DECLINED = "D'accord, pas de SMS."
NOT_A_MOBILE = (
    "Je ne peux pas vous envoyer de SMS : le numéro depuis lequel vous appelez n'est pas "
    "un numéro de mobile français. Vous trouverez cette information sur le site de la mairie."
)
FAILED = (
    "Désolé, je n'ai pas pu enregistrer l'envoi du SMS. Vous trouverez cette information "
    "sur le site de la mairie."
)


class LinkOffer:
    """One per call: offers each new link once, and sends the accepted ones at the end."""

    def __init__(
        self, notifier: Notifier, outbox: OutboxStore, conversation_id: str, caller: str
    ) -> None:
        self._notifier = notifier
        self._outbox = outbox
        self._conversation_id = conversation_id
        self._caller = caller
        self._offered: set[str] = set()
        self.waiting: Source | None = None  # the link the caller is asked about
        self.accepted = 0

    def offer(self, replies: list[BotMessage], allowed: bool = True) -> str:
        """The question to add to the spoken answer, or "" (no new link, or keys in use)."""
        self.waiting = None
        if not allowed:
            return ""
        for message in replies:
            for source in message.sources:
                if (
                    source.url.startswith(("http://", "https://"))
                    and source.url not in self._offered
                ):
                    self._offered.add(source.url)
                    self.waiting = source
                    return OFFER
        return ""

    async def answer(self, accepted: bool) -> str:
        source, self.waiting = self.waiting, None
        if source is None:
            return ""
        if not accepted:
            return DECLINED
        if french_mobile(self._caller) is None:
            return NOT_A_MOBILE
        message = self._notifier.call_link(
            self._conversation_id, self._caller, source.title, source.url
        )
        if message is None:
            return NOT_A_MOBILE
        try:
            await self._outbox.add([message])
        except Exception:
            log.exception("could not store a link to send after a call")
            return FAILED
        self.accepted += 1
        return ACCEPTED

    async def call_ended(self) -> None:
        """The call is over: the links it asked for leave now."""
        if not self.accepted:
            return
        try:
            if await self._outbox.release_held(self._conversation_id, KIND):
                self._notifier.committed()
        except Exception:
            log.exception("could not release the links of a call; they leave after the hold time")
