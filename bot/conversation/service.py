"""One conversation turn, whatever the channel: validate, guard, ask Rasa, record."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass, replace
from typing import Any, Protocol

from sqlalchemy.exc import SQLAlchemyError

from bot.conversation.capabilities import WRITTEN, Capabilities
from bot.conversation.coordination import TurnLocks
from bot.conversation.handoff import HandoffService
from bot.conversation.messages import BotMessage, from_rasa
from bot.conversation.rasa_client import RasaClient, RasaUnavailable
from bot.conversation.understanding import Understanding
from bot.core.privacy import public_key, redact
from bot.domain.emergency import detect_emergency, emergency_message
from bot.observability import metrics
from bot.settings import ChatSettings, TownSettings
from bot.storage.handoffs import Handoff
from bot.storage.transcripts import StoredMessage, TranscriptStore

log = logging.getLogger(__name__)

# Random ids from the browser (UUID) or a channel's own ids (SIP Call-ID...).
SESSION_ID = re.compile(r"^[A-Za-z0-9_.:@-]{8,64}$")
# Article slugs are stored in columns of 120 characters.
MAX_SLUG_CHARS = 120
# kb_queries.id is an INTEGER (32-bit signed on PostgreSQL).
MAX_QUERY_ID = 2**31 - 1
# An English detail is for operators: never a copy of a whole hostile input.
MAX_DETAIL_CHARS = 300
# Button payload of the "leave the queue" button, handled here, never by Rasa.
LEAVE_QUEUE = "/leave_queue"
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# Button payloads the bot itself sends: an intent with optional JSON entities.
PAYLOAD = re.compile(r"^/[a-z_]{1,64}(\{.{0,500}\})?$", re.DOTALL)


class InvalidMessage(ValueError):
    """The user's input cannot be processed; `french` is what the user reads.

    `status`: the HTTP status a web channel answers with (400 for a malformed input;
    404 when a well-formed request names nothing this session has; 409 for a repeat).
    """

    def __init__(self, code: str, french: str, detail: str, status: int = 400) -> None:
        if len(detail) > MAX_DETAIL_CHARS:
            detail = detail[: MAX_DETAIL_CHARS - 1] + "…"
        super().__init__(detail)
        self.code = code
        self.french = french
        self.status = status


@dataclass(frozen=True)
class UserTurn:
    session_id: str
    text: str
    channel: str
    payload: str | None = None
    # The client's address as the channel sees it (per-address limits), if any.
    client: str | None = None
    # What the channel can do (spoken replies, buttons, transfer), for the actions.
    capabilities: Capabilities = WRITTEN


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


FEEDBACK_REFUSED_FR = "Votre avis n'a pas pu être enregistré."
FEEDBACK_SHAPE = "feedback needs 'slug' (article slug), 'useful' (bool), 'query_id' (int or null)"


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
        understanding: Understanding | None = None,
    ) -> None:
        self._feedback = feedback
        # What the app reads in a message, sent to Rasa with it (intent_policy.py).
        self._understanding = understanding
        self._handoff = handoff
        self._rasa = rasa
        self._transcripts = transcripts
        self._town = town
        self._chat = chat
        self._typing_tasks: set[asyncio.Task[None]] = set()
        # The town hall's own contacts stay readable in the stored bot replies.
        self._public = frozenset(k for k in (public_key(town.phone), public_key(town.email)) if k)
        # Turns of one conversation run one at a time so replies keep their order
        # (across app instances too when scaled out: bot/conversation/coordination.py).
        self._locks = locks or TurnLocks()

    def normalise(self, turn: UserTurn) -> UserTurn | None:
        """Validated turn, None for an empty message (ignored), or InvalidMessage."""
        validate_session_id(turn.session_id)
        text = (turn.text or "").strip()
        payload = turn.payload
        # The one check of a button payload, for every channel: only the bot's own
        # buttons send one, exactly as they were offered (bot/web/openapi.yaml's pattern).
        if payload is not None and not PAYLOAD.fullmatch(payload):
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
        return replace(turn, text=text or payload or "", payload=payload)

    async def handle(self, turn: UserTurn) -> list[BotMessage]:
        """Process a normalised turn and return the bot's replies."""
        started = time.perf_counter()
        async with self._locks.hold(turn.session_id):
            if self._handoff is not None and turn.client is not None:
                self._handoff.note_client(turn.session_id, turn.client)
            emergency = detect_emergency(turn.text) if turn.payload is None else None
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
                    replies = await self._ask_rasa(turn, emergency is not None)
            if emergency and not any(m.emergency for m in replies):
                # Whatever Rasa did (down, misclassified, inside a form), the
                # numbers come first.
                replies.insert(
                    0, BotMessage(emergency_message(emergency, turn.text), emergency=True)
                )
            try:
                await self._transcripts.append(
                    turn.session_id, turn.channel, self._stored(turn, replies)
                )
            except (SQLAlchemyError, OSError) as exc:
                # Not stored (the database went away during the turn); the reply is
                # still given rather than lost with the connection.
                log.warning("turn of a %s conversation not stored: %r", turn.channel, exc)
            metrics.chat_turn(turn.channel, metrics.since(started))
            return replies

    def _stored(self, turn: UserTurn, replies: list[BotMessage]) -> list[StoredMessage]:
        """The turn as stored: without e-mails, phone numbers, NIR, IBAN or card numbers,
        in what the citizen typed, in button payloads (entities) and in the bot's
        replies (a confirmation may repeat what the citizen gave)."""
        user = StoredMessage(
            "user", redact(turn.text), {"payload": redact(turn.payload)} if turn.payload else {}
        )
        return [user] + [
            StoredMessage("bot", self._stored_reply_text(m), m.to_data()) for m in replies
        ]

    def _stored_reply_text(self, message: BotMessage) -> str:
        # An answer citing an article is staff-written public text (a service's
        # phone number is information, not personal data): stored as shown.
        if message.sources:
            return message.text
        return redact(message.text, keep=self._public)

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

    async def _ask_rasa(self, turn: UserTurn, emergency: bool) -> list[BotMessage]:
        metadata = turn.capabilities.as_metadata()
        if self._understanding is not None and turn.payload is None:
            try:
                reading = await self._understanding.read(turn.session_id, turn.text, emergency)
            except (SQLAlchemyError, OSError) as exc:
                # Without the reading Rasa's classifier decides alone, as it used to.
                log.warning("message not read before Rasa: %r", exc)
            else:
                metadata |= reading.as_metadata()
        try:
            raw = await self._rasa.send_message(
                turn.session_id, turn.payload or turn.text, turn.channel, metadata
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
        """A citizen's vote on an answer this session received: {query_id, slug, useful}.

        One vote per answer; a vote for an answer the session was never given (a
        forged id, another conversation's answer) is refused.
        """
        validate_session_id(session_id)
        query_id = data.get("query_id") if isinstance(data, dict) else None
        if (
            not isinstance(data, dict)
            or bool(data.keys() - {"query_id", "slug", "useful"})
            or not isinstance(data.get("useful"), bool)
            or not isinstance(data.get("slug"), str)
            or len(data["slug"]) > MAX_SLUG_CHARS
            or not SLUG.match(data["slug"])
            or not isinstance(query_id, (int, type(None)))
            or isinstance(query_id, bool)
            # A database integer: larger values cannot be a logged question's id.
            or not (query_id is None or 0 < query_id <= MAX_QUERY_ID)
        ):
            raise InvalidMessage("bad_feedback", FEEDBACK_REFUSED_FR, FEEDBACK_SHAPE)
        slug: str = data["slug"]
        async with self._locks.hold(session_id):
            stored = await self._transcripts.history(session_id, self._chat.history_limit)
            answers = [
                m
                for m in stored
                if m.role == "bot"
                and isinstance(m.data.get("feedback"), dict)
                and m.data["feedback"].get("slug") == slug
                and m.data["feedback"].get("query_id") == query_id
            ]
            if not answers:
                # Well-formed but naming nothing this session was given: not found.
                raise InvalidMessage(
                    "unknown_answer",
                    FEEDBACK_REFUSED_FR,
                    "feedback refers to no answer this session received",
                    status=404,
                )
            if any(m.data.get("voted") for m in answers):
                raise InvalidMessage(
                    "already_voted",
                    FEEDBACK_REFUSED_FR,
                    "this answer already has a vote",
                    status=409,
                )
            if self._feedback is not None:
                # query_id may be null (an answer logged without one): never a KeyError.
                await self._feedback.feedback(query_id, slug, data["useful"])
            await self._transcripts.mark_voted(answers[-1].id)

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
