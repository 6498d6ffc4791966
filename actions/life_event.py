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


def _reading(tracker: Tracker, key: str) -> str | None:
    """A field of the app's reading of the message (bot/conversation/intent_policy.py)."""
    metadata = tracker.latest_message.get("metadata") or {}
    guichet = metadata.get("guichet") if isinstance(metadata, dict) else None
    value = guichet.get(key) if isinstance(guichet, dict) else None
    return str(value) if value else None


def _answer(p: Passage, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "text": f"{p.title}\n{p.text}" if p.text else p.title,
        "sources": [_source(p)],
        "articles": [p.slug],
        **extra,
    }


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
        tag = _reading(tracker, "life_event")
        event = self._events.event(tag) if tag and self._events is not None else None
        voice = Capabilities.of_message(tracker.latest_message).voice
        question = (tracker.latest_message.get("text") or "").strip()
        # "carte d'identité perdue, que faire ?": the base answers with one of the
        # event's articles; that procedure comes first, answered, then the others.
        focus = _reading(tracker, "kb_article")
        if event is None or focus not in event.articles or len(event.articles) == 1:
            focus = None
        passages: list[Passage] = []
        if event is not None and self._knowledge is not None:
            limit = MAX_PHONE_ARTICLES if voice else MAX_CHAT_ARTICLES
            slugs = [focus, *(s for s in event.articles if s != focus)] if focus else event.articles
            for slug in slugs:
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
        if len(event.articles) == 1 or len(passages) == 1:
            # One article: it is the answer.
            extra: dict[str, Any] = {"life_event": event.tag}
            dispatcher.utter_message(
                json_message=_answer(passages[0], extra | ({"buttons": person} if person else {}))
            )
            return []
        total = len(event.articles)
        text = event.introduction()
        if focus is not None and passages[0].slug == focus:
            dispatcher.utter_message(json_message=_answer(passages[0], {"life_event": event.tag}))
            passages, total = passages[1:], total - 1
            text = text.replace("Voici les démarches", "Les autres démarches", 1)
        more = total - len(passages)
        if voice:
            text = text.rstrip(" :") + "."
            if more > 0:
                text += " Voici les premières."
        elif more > 0:
            text = f"{text.rstrip(' :')} (les {len(passages)} premières, sur {total}) :"
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
