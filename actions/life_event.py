"""A life event ("moment de vie"): the set of procedures it calls for.

The app's reading of the message names the event (its tag in the base) in the
message metadata, `metadata.guichet.life_event`; Rasa then predicts this action.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.dependencies import ActionDependencies
from actions.knowledge import HUMAN_BUTTONS, _source
from bot.conversation.capabilities import Capabilities
from knowledge_base.interface import Passage

log = logging.getLogger(__name__)

# Buttons in the widget (the rest stays one question away); spoken menu entries on
# the phone, where the voice layer reads buttons as "Tapez 1 pour : …".
MAX_CHAT_ARTICLES = 8
MAX_PHONE_ARTICLES = 3
PERSON_BUTTON = HUMAN_BUTTONS[0]


def _tag(tracker: Tracker) -> str | None:
    metadata = tracker.latest_message.get("metadata") or {}
    guichet = metadata.get("guichet") if isinstance(metadata, dict) else None
    tag = guichet.get("life_event") if isinstance(guichet, dict) else None
    return str(tag) if tag else None


def _article_button(p: Passage) -> dict[str, str]:
    return {"title": p.title, "payload": f'/ask_question{{"kb_article":"{p.slug}"}}'}


class ActionLifeEvent(Action):
    def __init__(self, deps: ActionDependencies) -> None:
        self._knowledge = deps.knowledge
        self._events = deps.life_events
        self._town = deps.town

    def name(self) -> str:
        return "action_life_event"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        tag = _tag(tracker)
        event = self._events.event(tag) if tag and self._events is not None else None
        voice = Capabilities.of_message(tracker.latest_message).voice
        question = (tracker.latest_message.get("text") or "").strip()
        passages: list[Passage] = []
        if event is not None and self._knowledge is not None:
            limit = MAX_PHONE_ARTICLES if voice else MAX_CHAT_ARTICLES
            for slug in event.articles:
                try:
                    found = await self._knowledge.passage_of(slug, voice=voice, question=question)
                except Exception:
                    log.exception("life event %r: article %s unreadable", tag, slug)
                    found = None
                if found is not None:
                    passages.append(found)
                if len(passages) >= limit:
                    break
        if event is None or not passages:
            if tag:
                log.info("life event %r has no published article", tag)
            dispatcher.utter_message(
                json_message={
                    "text": (
                        "Je n'ai pas bien compris de quel moment de vie il s'agit. Pouvez-vous "
                        "me le dire en quelques mots, ou préférez-vous parler à un agent de la "
                        f"mairie ({self._town.phone}) ?"
                    ),
                    "buttons": HUMAN_BUTTONS,
                }
            )
            return []
        person = [PERSON_BUTTON] if event.hard else []
        if event.hard:
            dispatcher.utter_message(text=event.care)
        if len(event.articles) == 1:
            # One article: it is the answer.
            best = passages[0]
            dispatcher.utter_message(
                json_message={
                    "text": f"{best.title}\n{best.text}" if best.text else best.title,
                    "sources": [_source(best)],
                    "articles": [best.slug],
                    "life_event": event.tag,
                    **({"buttons": person} if person else {}),
                }
            )
            return []
        more = len(event.articles) - len(passages)
        text = event.introduction()
        if voice:
            text = text.rstrip(" :") + "."
            if more > 0:
                text += " Voici les premières."
        elif more > 0:
            text = (
                f"{text.rstrip(' :')} (les {len(passages)} premières, sur {len(event.articles)}) :"
            )
        dispatcher.utter_message(
            json_message={
                "text": text,
                "buttons": [_article_button(p) for p in passages] + person,
                "sources": [_source(p) for p in passages],
                "articles": [p.slug for p in passages],
                "life_event": event.tag,
            }
        )
        return []
