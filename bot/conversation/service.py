"""One conversation turn, whatever the channel: validate, guard, ask Rasa, record."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.exc import SQLAlchemyError

from bot.conversation.coordination import TurnLocks
from bot.conversation.handoff import HandoffService
from bot.conversation.messages import BotMessage, from_rasa
from bot.conversation.rasa_client import RasaClient, RasaUnavailable
from bot.domain.emergency import detect_emergency, emergency_message
from bot.domain.privacy import redact
from bot.observability import metrics
from bot.settings import ChatSettings, TownSettings
from bot.storage.handoffs import Handoff
from bot.storage.transcripts import StoredMessage, TranscriptStore

log = logging.getLogger(__name__)

# Random ids from the browser (UUID) or a channel's own ids (SIP Call-ID...).
SESSION_ID = re.compile(r"^[A-Za-z0-9_.:@-]{8,64}$")
# Button payloads the bot itself sends: an intent with optional JSON entities.
# Button payload of the "leave the queue" button, handled here, never by Rasa.
LEAVE_QUEUE = "/leave_queue"
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
PAYLOAD = re.compile(r"^/[a-z_]{1,64}(\{.{0,500}\})?$", re.DOTALL)


class InvalidMessage(ValueError):
    """The user's input cannot be processed; `french` is what the user reads."""

    def __init__(self, code: str, french: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.french = french


@dataclass(frozen=True)
class UserTurn:
    session_id: str
    text: str
    channel: str
    payload: str | None = None


def validate_session_id(session_id: str) -> str:
    if not SESSION_ID.match(session_id or ""):
        raise InvalidMessage(
            "bad_session",
            "Votre session n'est pas valide. Rechargez la page pour en ouvrir une nouvelle.",
            f"session id {session_id[:80]!r} does not match {SESSION_ID.pattern}",
        )
    return session_id


class FeedbackSink(Protocol):
    async def feedback(self, query_id: int | None, slug: str, useful: bool) -> None: ...


class ConversationService:
    def __init__(
        self,
        rasa: RasaClient,
        transcripts: TranscriptStore,
        town: TownSettings,
        chat: ChatSettings,
        feedback: FeedbackSink | None = None,
        handoff: HandoffService | None = None,
        locks: TurnLocks | None = None,
    ) -> None:
        self._feedback = feedback
        self._handoff = handoff
        self._rasa = rasa
        self._transcripts = transcripts
        self._town = town
        self._chat = chat
        self._typing_tasks: set[asyncio.Task[None]] = set()
        # Turns of one conversation run one at a time so replies keep their order
        # (across app instances too when scaled out: bot/conversation/coordination.py).
        self._locks = locks or TurnLocks()

    def normalise(self, turn: UserTurn) -> UserTurn | None:
        """Validated turn, None for an empty message (ignored), or InvalidMessage."""
        validate_session_id(turn.session_id)
        text = (turn.text or "").strip()
        payload = (turn.payload or "").strip() or None
        if payload is not None and not PAYLOAD.match(payload):
            raise InvalidMessage(
                "bad_payload",
                "Ce bouton n'est plus valide. Pouvez-vous écrire votre demande ?",
                f"button payload {payload[:80]!r} is not an intent payload",
            )
        if not text and payload is None:
            return None
        limit = self._chat.max_message_chars
        if len(text) > limit:
            raise InvalidMessage(
                "too_long",
                f"Votre message est trop long ({len(text)} caractères, {limit} au maximum). "
                "Pouvez-vous le raccourcir ?",
                f"message of {len(text)} characters exceeds {limit}",
            )
        # Typed text must not be taken for an intent payload ("/restart").
        if payload is None:
            text = text.lstrip("/").strip()
            if not text:
                return None
        return UserTurn(turn.session_id, text or payload or "", turn.channel, payload)

    async def handle(self, turn: UserTurn) -> list[BotMessage]:
        """Process a normalised turn and return the bot's replies."""
        started = time.perf_counter()
        async with self._locks.hold(turn.session_id):
            try:
                held = await self._handoff.open_for(turn.session_id) if self._handoff else None
            except (SQLAlchemyError, OSError) as exc:
                # The database is away (restart, fail-over): whether a person holds the
                # conversation is unknown, so Rasa is not asked. The citizen gets the
                # apology on the same socket instead of a dropped connection and a
                # message that silently vanished (tests/scaled/test_faults.py).
                log.warning("database unavailable for a %s turn: %r", turn.channel, exc)
                replies = [self._apology()]
            else:
                if held is not None:
                    replies = await self._while_held(held, turn)
                else:
                    replies = await self._ask_rasa(turn)
            emergency = detect_emergency(turn.text) if turn.payload is None else None
            if emergency and not any(m.emergency for m in replies):
                # Whatever Rasa did (down, misclassified, inside a form), the
                # numbers come first.
                replies.insert(
                    0, BotMessage(emergency_message(emergency, turn.text), emergency=True)
                )
            try:
                await self._transcripts.append(
                    turn.session_id,
                    turn.channel,
                    [
                        # Stored without e-mails, phone numbers, NIR, IBAN or card numbers.
                        StoredMessage(
                            "user",
                            redact(turn.text),
                            {"payload": turn.payload} if turn.payload else {},
                        )
                    ]
                    + [StoredMessage("bot", m.text, m.to_data()) for m in replies],
                )
            except (SQLAlchemyError, OSError) as exc:
                # Not stored (the database went away during the turn); the reply is
                # still given rather than lost with the connection.
                log.warning("turn of a %s conversation not stored: %r", turn.channel, exc)
            metrics.chat_turn(turn.channel, metrics.since(started))
            return replies

    async def _while_held(self, held: Handoff, turn: UserTurn) -> list[BotMessage]:
        """A person holds (or is about to take) the conversation: the bot stays silent."""
        assert self._handoff is not None
        if turn.payload == LEAVE_QUEUE and held.status == "waiting":
            await self._handoff.abandon(turn.session_id)
            return [
                BotMessage(
                    "Vous avez quitté la file d'attente. L'assistant automatisé reprend : "
                    "que puis-je faire pour vous ?"
                )
            ]
        await self._handoff.citizen_message(held, turn.text)
        # Rasa is paused: it logs the message (its tracker stays complete) and
        # answers nothing. Sent in the background, in order with the agent's messages.
        self._handoff.log_citizen_message(held, turn.text, turn.channel)
        return []

    def citizen_typing(self, session_id: str, on: bool) -> None:
        """Typing indicator towards the agent (only while a person holds the chat)."""
        if self._handoff is not None:
            task = asyncio.ensure_future(self._forward_typing(session_id, on))
            self._typing_tasks.add(task)
            task.add_done_callback(self._typing_tasks.discard)

    async def _forward_typing(self, session_id: str, on: bool) -> None:
        assert self._handoff is not None
        held = await self._handoff.open_for(session_id)
        if held is not None and held.status == "active":
            self._handoff.citizen_typing(held, on)

    async def _ask_rasa(self, turn: UserTurn) -> list[BotMessage]:
        try:
            raw = await self._rasa.send_message(
                turn.session_id, turn.payload or turn.text, turn.channel
            )
        except RasaUnavailable as exc:
            metrics.rasa_error("timeout" if isinstance(exc.__cause__, TimeoutError) else "error")
            log.warning("rasa unavailable for a %s turn: %s", turn.channel, exc)
            return [self._apology()]
        replies = [m for m in (from_rasa(r) for r in raw) if m is not None]
        if not replies:
            metrics.rasa_error("empty")
            log.warning("rasa returned no message for a %s turn", turn.channel)
            return [self._apology()]
        return replies

    def _apology(self) -> BotMessage:
        return BotMessage(
            "Désolé, je rencontre un problème technique et ne peux pas répondre pour le moment. "
            f"Vous pouvez réessayer dans un instant ou appeler la mairie au {self._town.phone}.",
            extra={"degraded": True},
        )

    async def record_feedback(self, session_id: str, data: Any) -> None:
        """A citizen's vote on an answer: {query_id, slug, useful}."""
        validate_session_id(session_id)
        if (
            not isinstance(data, dict)
            or bool(data.keys() - {"query_id", "slug", "useful"})
            or not isinstance(data.get("useful"), bool)
            or not isinstance(data.get("slug"), str)
            or not SLUG.match(data["slug"])
            or not isinstance(data.get("query_id"), (int, type(None)))
            or isinstance(data.get("query_id"), bool)
            # A database integer: larger values cannot be a logged question's id.
            or not (data.get("query_id") is None or 0 < data["query_id"] < 2**63)
        ):
            raise InvalidMessage(
                "bad_feedback",
                "Votre avis n'a pas pu être enregistré.",
                "feedback needs 'slug' (article slug), 'useful' (bool), 'query_id' (int or null)",
            )
        if self._feedback is not None:
            # query_id is optional (an answer logged without one): never a KeyError.
            await self._feedback.feedback(data.get("query_id"), data["slug"], data["useful"])

    async def transcript(self, conversation_id: str) -> list[dict[str, Any]]:
        """The whole conversation for staff, with what each bot message showed."""
        stored = await self._transcripts.history(conversation_id, self._chat.history_limit)
        return [
            {
                "role": m.role,
                "text": m.text,
                "at": m.created_at.isoformat() if m.created_at else None,
                **{k: v for k, v in m.data.items() if k in ("sources", "articles", "buttons")},
            }
            for m in stored
        ]

    async def history(self, session_id: str) -> list[dict[str, object]]:
        validate_session_id(session_id)
        stored = await self._transcripts.history(session_id, self._chat.history_limit)
        out: list[dict[str, object]] = []
        for m in stored:
            if m.role == "agent":
                out.append({"role": "agent", "text": m.text})
                continue
            data = {k: v for k, v in m.data.items() if k in ("buttons", "sources", "emergency")}
            out.append({"role": m.role, "text": m.text, **data})
        return out
