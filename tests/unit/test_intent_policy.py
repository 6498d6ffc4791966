"""The app's reading corrects DIET's intent only where it shows it wrong."""

from __future__ import annotations

import pytest

from bot.conversation.intent_policy import (
    KB_AMBIGUOUS,
    KB_ANSWER,
    KB_NONE,
    Reading,
    choose_intent,
)

RANKING = ["out_of_scope", "inform", "ask_question", "emergency"]


@pytest.mark.parametrize(
    ("predicted", "reading", "expected"),
    [
        # The detector fired: the numbers, whatever DIET thought, in a form too.
        ("ask_question", Reading(emergency=True), "emergency"),
        ("inform", Reading(emergency=True, in_form=True), "emergency"),
        # A life event named: its procedures, whatever DIET thought, outside forms.
        ("emergency", Reading(life_event="j'attends un enfant"), "life_event"),
        ("deny", Reading(life_event="je me marie", kb=KB_ANSWER), "life_event"),
        ("inform", Reading(life_event="je me marie", in_form=True), None),
        ("greet", Reading(life_event="x", emergency=True), "emergency"),
        # DIET's emergency without the detector is replaced by its next intent, which
        # the rules below then judge like any other prediction.
        ("emergency", Reading(kb=KB_ANSWER), "ask_question"),  # out_of_scope, answerable
        ("emergency", Reading(kb=KB_AMBIGUOUS, question=True), "ask_question"),
        ("emergency", Reading(in_form=True), "out_of_scope"),
        ("emergency", Reading(question=True), "out_of_scope"),
        # Nothing contradicts it: DIET's emergency stands.
        ("emergency", Reading(), None),
        ("emergency", Reading(kb=KB_AMBIGUOUS), None),
        # Questions captured by other intents go to the knowledge base.
        ("out_of_scope", Reading(kb=KB_ANSWER), "ask_question"),
        ("bot_capabilities", Reading(kb=KB_ANSWER), "ask_question"),
        ("nlu_fallback", Reading(kb=KB_AMBIGUOUS, question=True), "ask_question"),
        ("report_problem", Reading(kb=KB_ANSWER, question=True), "ask_question"),
        ("request_human", Reading(kb=KB_ANSWER, question=True), "ask_question"),
        ("greet", Reading(kb=KB_ANSWER, question=True), "ask_question"),
        ("opening_hours", Reading(kb=KB_ANSWER, question=True), "ask_question"),
        # ... but not where the phrasing confirms DIET.
        ("report_problem", Reading(kb=KB_ANSWER, question=True, problem=True), None),
        ("report_problem", Reading(kb=KB_AMBIGUOUS, problem=True), None),
        # A "report" naming no defect, where the base found articles, is a question
        # ("consignes de tri papier journaux"); with nothing found, DIET decides.
        ("report_problem", Reading(kb=KB_ANSWER), "ask_question"),
        ("report_problem", Reading(kb=KB_AMBIGUOUS), "ask_question"),
        ("report_problem", Reading(kb=KB_NONE), None),
        ("report_problem", Reading(kb=KB_AMBIGUOUS, in_form=True), None),
        ("request_human", Reading(kb=KB_ANSWER, question=True, asks_person=True), None),
        ("greet", Reading(kb=KB_ANSWER), None),
        ("opening_hours", Reading(kb=KB_ANSWER, town_hall=True, practical=True), None),
        ("contact_info", Reading(kb=KB_ANSWER, town_hall=True), "ask_question"),
        ("cancel", Reading(kb=KB_ANSWER), "ask_question"),
        ("cancel", Reading(kb=KB_ANSWER, in_form=True), None),
        ("opening_hours", Reading(kb=KB_AMBIGUOUS, question=True), "ask_question"),
        (
            "contact_info",
            Reading(kb=KB_AMBIGUOUS, question=True, town_hall=True, practical=True),
            None,
        ),
        ("opening_hours", Reading(kb=KB_NONE, question=True), None),
        ("bot_challenge", Reading(kb=KB_ANSWER, question=True, about_assistant=True), None),
        # DIET's "are you a robot?" on a question about who does something.
        ("bot_challenge", Reading(kb=KB_AMBIGUOUS, question=True), "ask_question"),
        ("bot_challenge", Reading(kb=KB_AMBIGUOUS), "ask_question"),
        ("bot_challenge", Reading(kb=KB_NONE, question=True), None),
        ("bot_challenge", Reading(kb=KB_AMBIGUOUS, about_assistant=True), None),
        # No knowledge-base answer, or a pending form question: DIET decides.
        ("out_of_scope", Reading(kb=KB_NONE, question=True), None),
        ("out_of_scope", Reading(kb=KB_AMBIGUOUS), None),
        ("inform", Reading(kb=KB_ANSWER, in_form=True), None),
        ("ask_question", Reading(kb=KB_ANSWER), None),
    ],
)
def test_choose_intent(predicted: str, reading: Reading, expected: str | None) -> None:
    assert choose_intent(predicted, RANKING, reading) == expected


def test_diets_emergency_without_a_ranking_falls_back() -> None:
    assert choose_intent("emergency", ["emergency"], Reading(in_form=True)) == "inform"
    assert choose_intent("emergency", [], Reading(question=True)) == "nlu_fallback"
    # The knowledge base then answers, or says it has nothing.
    question = Reading(kb=KB_ANSWER, question=True)
    assert choose_intent("emergency", ["emergency", "greet"], question) == "ask_question"
    assert choose_intent("emergency", ["emergency", "greet"], Reading(kb=KB_ANSWER)) == "greet"


def test_reading_round_trips_through_metadata() -> None:
    reading = Reading(kb=KB_AMBIGUOUS, question=True, town_hall=True)
    assert Reading.from_metadata(reading.as_metadata()) == reading


@pytest.mark.parametrize(
    "metadata",
    [
        None,
        {},
        {"guichet": "yes"},
        {"guichet": {"emergency": "true"}},
        {"guichet": {"kb": "certain"}},
        {"guichet": {"life_event": 3}},
        ["guichet"],
    ],
)
def test_other_metadata_is_ignored(metadata: object) -> None:
    assert Reading.from_metadata(metadata) is None


def test_unknown_fields_are_dropped() -> None:
    assert Reading.from_metadata({"guichet": {"kb": "answer", "later": 1}}) == Reading(kb="answer")
