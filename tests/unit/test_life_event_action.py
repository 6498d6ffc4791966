"""`action_life_event` through rasa-sdk's ActionExecutor, on demo articles in a real
knowledge base (SQLite, Chroma, e5)."""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk.executor import ActionExecutor

from actions import ActionDependencies, build_actions
from bot.conversation.capabilities import SPOKEN
from bot.settings import load_settings
from knowledge_base.life_events import LifeEvents
from knowledge_base.service import KnowledgeBase
from tests.support.actions import run_action
from tests.unit.test_kb_service import DEMO, open_kb

SLUGS = [
    # un proche est décédé
    "actes-etat-civil-copies",
    "cimetiere-concessions",
    "cimetiere-inhumation-cremation",
    "deces-declaration",
    "dechets-encombrants",
    "livret-de-famille",
    "taxe-habitation-residence-secondaire",
    # mon enfant est né (and livret-de-famille)
    "bapteme-civil",
    "creches-inscription",
    "naissance-declaration",
    "reconnaissance-enfant",
    "titres-identite-mineurs",
    # je me suis fait voler: one article
    "titres-identite-perte-vol",
]


@pytest.fixture(scope="module")
async def base(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[KnowledgeBase]:
    root = tmp_path_factory.mktemp("life-event-action")
    source = root / "articles"
    source.mkdir()
    for slug in SLUGS:
        shutil.copy(DEMO / f"{slug}.md", source)
    kb = await open_kb(root / "data")
    report = await kb.import_dir(source, "test")
    assert report.ok
    yield kb
    await kb.engine.dispose()


@pytest.fixture
async def executor(base: KnowledgeBase, tmp_path: Path) -> ActionExecutor:
    events = await base.life_events(DEMO)
    town = load_settings(env={"GUICHET_DATA_DIR": str(tmp_path)}).town
    deps = ActionDependencies(
        town=town,
        reports=None,  # type: ignore[arg-type]  # not used by this action
        knowledge=base,
        life_events=events,
    )
    executor = ActionExecutor()
    for action in build_actions(deps):
        executor.register_action(action)
    return executor


async def run(
    executor: ActionExecutor,
    text: str,
    tag: str | None,
    channel: str = "webchat",
    kb_article: str | None = None,
) -> list[dict[str, Any]]:
    metadata: dict[str, Any] = {"guichet": {"life_event": tag, "kb_article": kb_article}}
    if not tag:
        metadata = {}
    if channel == "phone":  # what the phone channel sends with every turn
        metadata |= SPOKEN.as_metadata()
    return await run_action(executor, "action_life_event", text, "life_event", metadata, channel)


async def test_a_death_gets_condolences_then_ordered_steps_and_a_person(
    executor: ActionExecutor,
) -> None:
    replies = await run(executor, "mon père est mort hier", "un proche est décédé")
    assert replies[0]["text"] == "Toutes nos condoléances."
    steps = replies[1]
    assert steps["text"].startswith("Voici les démarches à prévoir")
    assert steps["articles"][0] == "deces-declaration"  # within 24 hours
    payloads = [b["payload"] for b in steps["buttons"]]
    assert payloads[0] == '/ask_question{"kb_article":"deces-declaration"}'
    assert payloads[-1] == "/request_human"
    assert len(steps["sources"]) == len(steps["articles"]) == 7
    assert all(s["url"].startswith("http") for s in steps["sources"])
    json.dumps(replies)  # what the widget receives is plain JSON


async def test_a_birth_lists_the_declaration_first_without_condolences(
    executor: ActionExecutor,
) -> None:
    replies = await run(executor, "notre fille est née ce matin", "mon enfant est né")
    assert len(replies) == 1
    assert replies[0]["articles"][0] == "naissance-declaration"  # within 5 days
    assert "/request_human" not in [b["payload"] for b in replies[0]["buttons"]]


async def test_the_phone_gets_three_steps_at_most(executor: ActionExecutor) -> None:
    replies = await run(executor, "mon père est mort hier", "un proche est décédé", "phone")
    steps = replies[-1]
    assert len(steps["articles"]) == 3
    # The voice layer reads buttons as "Tapez 1 pour : …": three steps and a person.
    assert len(steps["buttons"]) == 4 and steps["buttons"][-1]["payload"] == "/request_human"
    assert "premières" in steps["text"]


async def test_the_procedure_asked_about_is_answered_before_the_others(
    executor: ActionExecutor,
) -> None:
    replies = await run(
        executor,
        "ma mère est décédée, que faire pour sa concession ?",
        "un proche est décédé",
        kb_article="cimetiere-concessions",
    )
    assert replies[0]["text"] == "Toutes nos condoléances."
    answer, others = replies[1], replies[2]
    assert answer["articles"] == ["cimetiere-concessions"] and "buttons" not in answer
    assert answer["text"].startswith(answer["sources"][0]["title"])
    assert others["text"].startswith("Les autres démarches à prévoir")
    assert others["articles"][0] == "deces-declaration"
    assert "cimetiere-concessions" not in others["articles"] and len(others["articles"]) == 6
    assert others["buttons"][-1]["payload"] == "/request_human"


async def test_an_answer_outside_the_event_changes_nothing(executor: ActionExecutor) -> None:
    replies = await run(
        executor, "notre fille est née", "mon enfant est né", kb_article="deces-declaration"
    )
    assert len(replies) == 1 and replies[0]["articles"][0] == "naissance-declaration"
    assert replies[0]["text"].startswith("Voici les démarches")


async def test_an_event_with_one_article_answers_with_it(executor: ActionExecutor) -> None:
    replies = await run(executor, "on m'a volé mon sac", "je me suis fait voler")
    assert replies[0]["articles"] == ["titres-identite-perte-vol"]
    assert "buttons" not in replies[0]
    assert replies[0]["sources"][0]["url"]


@pytest.mark.parametrize("tag", [None, "un tag inconnu"])
async def test_no_or_unknown_event_offers_a_person(
    executor: ActionExecutor, tag: str | None
) -> None:
    replies = await run(executor, "euh", tag)
    assert "pas bien compris" in replies[0]["text"]
    assert "/request_human" in [b["payload"] for b in replies[0]["buttons"]]


async def test_the_events_come_from_the_published_articles(base: KnowledgeBase) -> None:
    events = await base.life_events(DEMO)
    assert isinstance(events, LifeEvents)
    # Only the imported articles: the other demo events are not there.
    assert "je crée une association" not in events.tags()
    assert events.articles("mon enfant est né")[0] == "naissance-declaration"
