"""The classes of benchmarks/chat_eval.py, on hand-made bot messages (no stack)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.chat_eval import (
    classify,
    form_questions,
    load_questions,
    numbers_in,
    summarise,
)
from tools.launcher import DEMO_BASE


def answer(*slugs: str) -> dict[str, object]:
    return {
        "role": "bot",
        "text": "Copie d'acte\nDemandez-la en ligne.",
        "sources": [{"title": "Copie d'acte", "url": "https://example.org/actes"}],
        "articles": list(slugs),
        "feedback": {"query_id": 1, "slug": slugs[0]},
    }


def suggestions(*slugs: str) -> dict[str, object]:
    return {
        "role": "bot",
        "text": "Vouliez-vous dire :",
        "buttons": [{"title": s, "payload": f'/ask_question{{"kb_article":"{s}"}}'} for s in slugs]
        + [{"title": "Parler à un agent", "payload": "/request_human"}],
        "articles": list(slugs),
    }


NOT_FOUND = {
    "role": "bot",
    "text": "Je n'ai pas trouvé de réponse fiable à votre question.",
    "buttons": [
        {"title": "Parler à un agent", "payload": "/request_human"},
        {"title": "Horaires et contacts", "payload": "/contact_info"},
    ],
    "not_found": True,
}
QUEUED = {
    "role": "bot",
    "text": "Je vous mets en relation avec un agent de la mairie. Vous êtes en position 1.",
    "buttons": [{"title": "Quitter la file", "payload": "/cancel"}],
    "handoff": {"status": "waiting", "position": 1},
}
CALLBACK_OFFER = {
    "role": "bot",
    "text": "Nos agents ne sont pas disponibles en ce moment. Je peux enregistrer une demande.",
    "buttons": [
        {"title": "Être recontacté", "payload": "/request_callback"},
        {"title": "Non merci", "payload": "/deny"},
    ],
}
EMERGENCY = {
    "role": "bot",
    "text": "Appelez immédiatement le 18 (pompiers) ou le 112.",
    "emergency": True,
}
GREETING = {"role": "bot", "text": "Bonjour ! Je suis l'assistant de la mairie."}
DEGRADED = {"role": "bot", "text": "Désolé, un problème technique.", "degraded": True}


@pytest.fixture(scope="module")
def forms() -> tuple[str, ...]:
    return form_questions()


def report_question(forms: tuple[str, ...]) -> str:
    return next(f for f in forms if f.startswith("Je vais enregistrer votre signalement"))


@pytest.mark.parametrize(
    ("messages", "expected", "cls", "articles"),
    [
        ([answer("actes-etat-civil-copies")], ["actes-etat-civil-copies"], "direct_right", 1),
        ([answer("mariage")], ["actes-etat-civil-copies"], "direct_wrong", 1),
        # An answer to a question the base does not cover is a wrong answer.
        ([answer("mariage")], [], "direct_wrong", 1),
        ([suggestions("a", "b", "c")], ["c"], "suggest_right", 3),
        ([suggestions("a", "b", "c")], ["d"], "suggest_wrong", 3),
        ([NOT_FOUND], ["a"], "not_found", 0),
        ([QUEUED], ["a"], "handoff", 0),
        ([CALLBACK_OFFER], [], "handoff", 0),
        # The emergency numbers come first, whatever else the reply holds.
        ([EMERGENCY, answer("a")], ["a"], "emergency", 0),
        ([GREETING], ["a"], "other", 0),
        ([], ["a"], "other", 0),
        ([DEGRADED], ["a"], "error", 0),
        (None, ["a"], "error", 0),
    ],
)
def test_classes(
    messages: list[dict[str, object]] | None,
    expected: list[str],
    cls: str,
    articles: int,
    forms: tuple[str, ...],
) -> None:
    outcome = classify(messages, expected, forms)  # type: ignore[arg-type]
    assert outcome.cls == cls
    assert len(outcome.articles) == articles


def test_the_first_cited_article_decides() -> None:
    assert classify([answer("b", "a")], ["a"]).cls == "direct_wrong"
    assert classify([answer("a", "b")], ["a"]).cls == "direct_right"


def test_an_answer_that_asks_the_case_is_a_direct_answer() -> None:
    # The buttons pick a section of the article given ("f21224#2"), not another article.
    message = {
        **answer("f21224"),
        "buttons": [
            {"title": "Pour un adulte", "payload": '/ask_question{"kb_article":"f21224#1"}'},
            {"title": "Pour un mineur", "payload": '/ask_question{"kb_article":"f21224#2"}'},
        ],
    }
    assert classify([message], ["f21224"]).cls == "direct_right"
    assert classify([message], ["f1433"]).cls == "direct_wrong"


def test_sources_without_articles_use_the_url() -> None:
    message = {"text": "x", "sources": [{"title": "x", "url": "https://m.example/kb/ma-fiche"}]}
    assert classify([message], ["ma-fiche"]).cls == "direct_right"


def test_forms_are_recognised_by_their_first_questions(forms: tuple[str, ...]) -> None:
    report = {"role": "bot", "text": report_question(forms), "buttons": []}
    assert classify([report], ["a"], forms).cls == "form"
    consent = next(f for f in forms if f.startswith("Avant de continuer"))
    assert classify([{"text": consent + " Êtes-vous d'accord ?"}], [], forms).cls == "form"
    assert any("Quel est votre nom" in f for f in forms)
    # Any message asking for a form's slot, whatever its wording.
    assert classify([{"text": "Où ?", "expects": "report_location"}], ["a"], forms).cls == "form"
    # Without the form texts, the same message is just "other".
    assert classify([report], ["a"]).cls == "other"


def test_life_events_need_two_tagged_articles() -> None:
    tagged = ["demenagement", "carte-electorale", "eau-abonnement"]
    assert classify([suggestions(*tagged[:2], "x")], tagged, event=True).cls == "event_right"
    assert classify([suggestions("x", tagged[0], "y")], tagged, event=True).cls == "suggest_right"
    assert classify([answer(tagged[0])], tagged, event=True).cls == "direct_right"
    # Only life-event lines count a list as the event's.
    assert classify([suggestions(*tagged[:2])], tagged).cls == "suggest_right"


def test_numbers_are_whole_numbers() -> None:
    assert numbers_in("Appelez le 15 ou le 112.", ["15", "112", "17"]) == ["15", "112"]
    assert numbers_in("au 01 50 15 00", ["15"]) == ["15"]
    assert numbers_in("au 150 rue", ["15"]) == []
    assert numbers_in("le 3115", ["15"]) == []
    assert numbers_in("3919", ["119", "39"]) == []


def test_sets_of_each_shape(tmp_path: Path) -> None:
    lines = [
        {"query": "q1", "expected": ["a"], "split": "dev"},
        {"query": "q2", "expected": [], "split": "test"},
        {"query": "q3", "expected": ["b"]},
    ]
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    assert [q.query for q in load_questions(path, "dev", DEMO_BASE)] == ["q1", "q3"]
    assert [q.query for q in load_questions(path, "all", DEMO_BASE)] == ["q1", "q2", "q3"]

    root = Path(__file__).resolve().parents[2] / "tests" / "data"
    events = load_questions(root / "life_events.jsonl", "all", DEMO_BASE)
    first = events[0]
    assert first.event == "j'arrive à Villebrune" and len(first.expected) >= 2
    ordinary = next(q for q in events if q.event is None)
    assert ordinary.expected
    emergencies = load_questions(root / "emergency_test.jsonl", "all", DEMO_BASE)
    assert any(q.emergency for q in emergencies) and any(q.emergency is False for q in emergencies)
    assert all(q.numbers for q in emergencies if q.emergency)


def test_summary_counts_emergency_recall_numbers_and_false_positives() -> None:
    from benchmarks.chat_eval import Record

    def record(cls: str, emergency: bool, numbers: list[str], shown: list[str]) -> Record:
        return Record("q", [], None, None, cls, [], [], 1.0, "", emergency, numbers, shown)

    summary = summarise(
        [
            record("emergency", True, ["15", "112"], ["15", "112"]),
            record("emergency", True, ["18", "112"], ["112"]),
            record("other", True, ["17"], []),
            record("emergency", False, [], []),
            record("not_found", False, [], []),
        ]
    )
    assert summary["emergency"] == {
        "positives": 3,
        "flagged": 2,
        "first_number_shown": 1,
        "all_numbers_shown": 1,
        "ordinary": 2,
        "false_positives": 1,
    }
    assert summary["classes"]["all"] == {"emergency": 3, "other": 1, "not_found": 1}
