"""What the app reads in a citizen's message before Rasa classifies it.

Rasa's intent classifier alone sends many real questions to the wrong place
(docs/benchmarks.md, "Through the chat"). The app knows what the classifier cannot:
whether a form question is pending, whether the knowledge base holds a confident
answer, whether the emergency detector fired, how the message is phrased. The
`Reading` goes to Rasa as message metadata; bot/conversation/intent_policy.py
decides there with DIET's ranking in hand.
"""

from __future__ import annotations

import logging
from typing import Protocol

from bot.conversation import cues
from bot.conversation.intent_policy import KB_ANSWER, KB_NONE, Reading
from knowledge_base.life_events import LifeEventMatch

log = logging.getLogger(__name__)


class KnowledgeProbe(Protocol):
    async def verdict(self, question: str) -> tuple[str, str | None]:
        """What the base would do ("answer", "ambiguous" or "not_found") and the
        article of an "answer"; logging nothing."""
        ...


class LifeEventFinder(Protocol):
    def match(self, text: str) -> LifeEventMatch | None: ...


class PendingQuestion(Protocol):
    async def expected_slot(self, conversation_id: str) -> str | None:
        """The form slot the bot's last message asked for, if any."""
        ...


class Understanding:
    def __init__(
        self,
        knowledge: KnowledgeProbe | None,
        pending: PendingQuestion,
        life_events: LifeEventFinder | None = None,
    ) -> None:
        self._knowledge = knowledge
        self._pending = pending
        self._life_events = life_events

    async def read(self, conversation_id: str, text: str, emergency: bool) -> Reading:
        in_form = await self._pending.expected_slot(conversation_id) is not None
        kb, answer = KB_NONE, None
        # Inside a form the answer belongs to the form; the search would be wasted.
        if self._knowledge is not None and not emergency and not in_form:
            try:
                kb, answer = await self._knowledge.verdict(text)
            except Exception:
                # Without the knowledge base's view, DIET decides alone (as before).
                log.exception("knowledge base probe failed")
        event = None
        if self._life_events is not None and not emergency and not in_form:
            # Pure Python, about 1 ms for a chat message (10 ms for 90 words).
            found = self._life_events.match(text)
            # A clear answer from an article the event does not hold means the
            # message asks about one procedure: the answer, not the whole set.
            if found is not None and not (kb == KB_ANSWER and answer not in found.articles):
                event = found.tag
        return Reading(
            emergency=emergency,
            in_form=in_form,
            kb=kb,
            question=cues.is_question(text),
            problem=cues.states_a_problem(text),
            asks_person=cues.asks_for_a_person(text),
            town_hall=cues.names_the_town_hall(text),
            practical=cues.asks_hours_or_contact(text),
            about_assistant=cues.asks_about_the_assistant(text),
            life_event=event,
            kb_article=answer if kb == KB_ANSWER else None,
        )
