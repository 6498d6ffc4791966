"""Questions on procedures and services, answered from the knowledge base."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.dependencies import ActionDependencies
from bot.conversation.capabilities import Capabilities
from knowledge_base.interface import Confidence, KnowledgeAnswer, Passage

log = logging.getLogger(__name__)

HUMAN_BUTTONS = [
    {"title": "Parler à un agent", "payload": "/request_human"},
    {"title": "Horaires et contacts", "payload": "/contact_info"},
]


# Keypad digits 1-9 and a widget row: more cases than this are read on the fiche.
MAX_CASE_BUTTONS = 6


def _source(p: Passage) -> dict[str, Any]:
    return {"title": p.title, "url": p.url, **({"updated": p.updated} if p.updated else {})}


def _question_before(tracker: Tracker) -> str:
    """The citizen's words before the latest message (the question the list answered)."""
    users = [e for e in tracker.events if e.get("event") == "user"]
    for event in reversed(users[:-1]):
        text = str(event.get("text") or "").strip()
        if text and not text.startswith("/"):
            return text
    return ""


class ActionAnswerFromKnowledgeBase(Action):
    def __init__(self, deps: ActionDependencies) -> None:
        self._knowledge = deps.knowledge
        self._town = deps.town

    def name(self) -> str:
        return "action_answer_from_kb"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        question = (tracker.latest_message.get("text") or "").strip()
        voice = Capabilities.of_message(tracker.latest_message).voice
        picked = next(tracker.get_latest_entity_values("kb_article"), None)
        answer = KnowledgeAnswer(Confidence.NOT_FOUND)
        if self._knowledge is not None and (question or picked):
            try:
                if picked:
                    # The citizen chose an article among suggestions.
                    chosen = await self._knowledge.passage_of(
                        str(picked), voice=voice, question=_question_before(tracker)
                    )
                    if chosen is not None:
                        answer = KnowledgeAnswer(Confidence.ANSWER, [chosen])
                else:
                    # The channel the app named (Rasa's input_channel), for the log.
                    channel = tracker.get_latest_input_channel() or "unknown"
                    answer = await self._knowledge.answer(question, voice=voice, channel=channel)
            except Exception:
                log.exception("knowledge base search failed")
        if answer.confidence is Confidence.ANSWER and answer.passages:
            best = answer.passages[0]
            text = f"{best.title}\n{best.text}" if best.text else best.title
            sources = [_source(best)]
            if best.see_also is not None and best.see_also.url:
                # The town's article answered; the national fiche on the topic stays
                # one click away.
                sources.append(
                    {"title": best.see_also.title, "url": best.see_also.url, "see_also": True}
                )
            reply: dict[str, Any] = {
                "sources": sources,
                "articles": [best.slug],
                "feedback": {"query_id": answer.query_id, "slug": best.slug},
            }
            if best.choices:
                # The fiche answers differently by situation: ask which one applies
                # rather than read every case (by phone the buttons become keys).
                text += "\nLa suite dépend de votre situation. Quelle est la vôtre ?"
                reply["buttons"] = [
                    {"title": c.label, "payload": f'/ask_question{{"kb_article":"{c.ref}"}}'}
                    for c in best.choices[:MAX_CASE_BUTTONS]
                ]
            dispatcher.utter_message(json_message={"text": text, **reply})
        elif answer.confidence is Confidence.AMBIGUOUS and answer.passages:
            dispatcher.utter_message(
                json_message={
                    "text": "Vouliez-vous dire :",
                    "buttons": [
                        {"title": p.title, "payload": f'/ask_question{{"kb_article":"{p.slug}"}}'}
                        for p in answer.passages[:3]
                    ]
                    + HUMAN_BUTTONS[:1],
                    "articles": [p.slug for p in answer.passages[:3]],
                }
            )
        else:
            failures = int(tracker.get_slot("kb_failures") or 0) + 1
            if failures >= 2:
                # Second miss in a row: rather than a third try, a person.
                dispatcher.utter_message(
                    text=(
                        "Je ne trouve toujours pas de réponse fiable, je préfère vous orienter "
                        "vers un agent de la mairie."
                    )
                )
                return [
                    SlotSet("kb_failures", 0),
                    SlotSet("handoff_reason", "failures"),
                    FollowupAction("action_request_human"),
                ]
            dispatcher.utter_message(
                json_message={
                    "text": (
                        "Je n'ai pas trouvé de réponse fiable à votre question dans les "
                        "informations de la mairie, et je préfère ne pas vous donner une "
                        "information inexacte. Vous pouvez reformuler votre question, ou "
                        f"contacter la mairie au {self._town.phone}."
                    ),
                    "buttons": HUMAN_BUTTONS,
                    "not_found": True,
                }
            )
            return [SlotSet("kb_failures", failures)]
        events: list[dict[str, Any]] = [SlotSet("kb_failures", 0)]
        if picked:
            events.append(SlotSet("kb_article", None))
        return events
