"""The report form's actions through rasa-sdk's ActionExecutor, called with the trackers
Rasa sends them (tests/support/actions.py), on a real SQLite report store: what a first
message fills in, what is asked again, and what the citizen is told when the report
is incomplete or cannot be stored."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from rasa_sdk.executor import ActionExecutor
from sqlalchemy.ext.asyncio import AsyncEngine

from actions import ActionDependencies, build_actions
from actions.report_form import REPORT_SLOTS
from bot.core.db import create_engine
from bot.domain.reports import CATEGORIES, ReportService
from bot.schema import create_schema
from bot.settings import TownSettings, load_settings
from bot.storage.reports import ReportStore
from tests.support.actions import ActionRun, execute

VALIDATE = "validate_signalement_form"
FORM = "signalement_form"
COMPLETE = {
    "report_category": "eclairage",
    "report_location": "12 rue des Lilas",
    "report_description": "le lampadaire est éteint depuis trois jours",
    "report_contact_consent": False,
    "report_contact": None,
}


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'guichet.db'}")
    await create_schema(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def town(tmp_path: Path) -> TownSettings:
    return load_settings(env={"GUICHET_DATA_DIR": str(tmp_path)}).town


@pytest.fixture
def executor(engine: AsyncEngine, town: TownSettings) -> ActionExecutor:
    deps = ActionDependencies(town=town, reports=ReportService(ReportStore(engine)))
    executor = ActionExecutor()
    for action in build_actions(deps):
        executor.register_action(action)
    return executor


async def stored_reports(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(sa.text("SELECT * FROM reports ORDER BY id"))
        return [dict(r._mapping) for r in rows]


def said(run: ActionRun) -> str:
    return " ".join(str(r.get("text") or "") for r in run.replies)


# --- the first message ---------------------------------------------------------------


async def start(executor: ActionExecutor, text: str, **kwargs: Any) -> ActionRun:
    """The validation Rasa runs when `text` starts the form: the form is the active loop,
    triggered by `text`, and no slot was requested yet."""
    kwargs.setdefault("intent", "report_problem")
    return await execute(executor, VALIDATE, text, active_loop=FORM, started_loop=True, **kwargs)


async def test_a_descriptive_first_message_fills_category_and_description(
    executor: ActionExecutor,
) -> None:
    text = "il y a un lampadaire en panne rue des Lilas"
    run = await start(executor, text)
    assert run.slots() == {
        "report_category": "eclairage",
        "report_description": text,
        "requested_slot": "report_location",  # the one thing left to ask
    }
    assert run.replies == []  # nothing to correct: the form goes on to its question


async def test_a_first_message_that_only_asks_to_report_fills_the_category_only(
    executor: ActionExecutor,
) -> None:
    run = await start(executor, "je veux signaler un nid de poule")
    assert run.slots() == {"report_category": "voirie", "requested_slot": "report_location"}


async def test_a_button_outside_the_form_starts_it_with_its_category(
    executor: ActionExecutor,
) -> None:
    run = await start(
        executor,
        "Dépôt sauvage",
        intent="inform",
        entities=[{"entity": "report_category", "value": "depot_sauvage"}],
    )
    assert run.slots() == {"report_category": "depot_sauvage", "requested_slot": "report_location"}


async def test_a_first_message_without_a_category_asks_for_it(executor: ActionExecutor) -> None:
    run = await start(executor, "je voudrais faire un signalement")
    assert run.slots() == {"requested_slot": "report_category"}


async def test_later_messages_are_not_taken_for_a_first_one(executor: ActionExecutor) -> None:
    # Inside the form, an answer about the place that reads like a report and names a
    # category ("près du parc") fills the place only.
    run = await execute(
        executor,
        VALIDATE,
        "près du parc de la mairie",
        "report_problem",
        slots={"report_category": "eclairage", "requested_slot": "report_location"},
        candidates={"report_location": "près du parc de la mairie"},
        active_loop=FORM,
    )
    assert run.slots() == {
        "report_location": "près du parc de la mairie",
        "requested_slot": "report_description",
    }


# --- asking again ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("slot", "answer", "question"),
    [
        ("report_category", "une pizza froide", "pas reconnu la catégorie"),
        ("report_location", "là", "préciser le lieu"),
        ("report_description", "bof", "quelques mots de plus"),
        ("report_description", "trop " * 300, "moins de 1000 caractères"),
    ],
)
async def test_an_answer_that_does_not_do_is_asked_again(
    executor: ActionExecutor, slot: str, answer: str, question: str
) -> None:
    before = {"report_category": "voirie", "report_location": "rue des Lilas"}
    filled = {k: v for k, v in before.items() if REPORT_SLOTS.index(k) < REPORT_SLOTS.index(slot)}
    run = await execute(
        executor,
        VALIDATE,
        answer,
        "inform",
        slots={**filled, "requested_slot": slot},
        candidates={slot: answer},
        active_loop=FORM,
    )
    # Rejected, and the same question is the next one.
    assert run.slots() == {slot: None, "requested_slot": slot}
    assert question in said(run)
    if slot == "report_category":
        (reply,) = run.replies
        assert [b["payload"] for b in reply["buttons"]] == [
            f'/inform{{"report_category":"{value}"}}' for value in CATEGORIES
        ]


# --- submitting ------------------------------------------------------------------------


async def submit(executor: ActionExecutor, slots: dict[str, Any]) -> ActionRun:
    return await execute(executor, "action_submit_report", "non", "deny", slots=slots)


async def test_a_complete_report_is_stored_and_its_reference_given(
    executor: ActionExecutor, engine: AsyncEngine
) -> None:
    run = await submit(executor, COMPLETE)
    (row,) = await stored_reports(engine)
    (reply,) = run.replies
    assert reply["report_reference"] == row["reference"] and row["reference"] in reply["text"]
    assert (row["category"], row["location"], row["contact"]) == (
        "eclairage",
        COMPLETE["report_location"],
        None,
    )
    assert run.slots() == dict.fromkeys(REPORT_SLOTS)


@pytest.mark.parametrize("missing", ["report_category", "report_location", "report_description"])
async def test_an_incomplete_report_is_not_stored_and_the_citizen_is_told(
    executor: ActionExecutor,
    engine: AsyncEngine,
    caplog: pytest.LogCaptureFixture,
    missing: str,
) -> None:
    with caplog.at_level(logging.ERROR, logger="actions.report_form"):
        run = await submit(executor, {**COMPLETE, missing: None})
    assert await stored_reports(engine) == []
    assert "incomplet, il n'a pas été enregistré" in said(run)
    assert "report form ended without its required slots" in caplog.text
    assert run.slots() == dict.fromkeys(REPORT_SLOTS)  # the next report starts afresh


async def test_a_store_that_fails_tells_the_citizen_and_loses_nothing(
    executor: ActionExecutor,
    engine: AsyncEngine,
    town: TownSettings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    first = await submit(executor, COMPLETE)
    (kept,) = await stored_reports(engine)
    # The database now refuses every new report (as a full disk or a broken constraint
    # would): a real failure of the store, raised by SQLite itself.
    async with engine.begin() as conn:
        await conn.execute(
            sa.text(
                "CREATE TRIGGER refuse BEFORE INSERT ON reports "
                "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
            )
        )
    with caplog.at_level(logging.ERROR):
        run = await submit(executor, {**COMPLETE, "report_location": "place du Marché"})
    text = said(run)
    assert "n'a pas pu être enregistré" in text and town.phone in text
    assert "référence" not in text and not any("report_reference" in r for r in run.replies)
    # One English error with the database's own reason, not five retries taken for
    # reference collisions.
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == ["could not store a report"]
    assert errors[0].exc_info and "database or disk is full" in str(errors[0].exc_info[1])
    # The report stored before is still there, unchanged; the refused one left no row.
    assert await stored_reports(engine) == [kept]
    assert first.replies[0]["report_reference"] == kept["reference"]


async def test_a_reference_already_taken_is_drawn_again(
    executor: ActionExecutor, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = (await submit(executor, COMPLETE)).replies[0]["report_reference"]
    draws = iter([taken, taken, "SIG-ABCDEF"])
    monkeypatch.setattr("bot.domain.reports.new_reference", lambda: next(draws))
    run = await submit(executor, COMPLETE)
    assert run.replies[0]["report_reference"] == "SIG-ABCDEF"
    assert [r["reference"] for r in await stored_reports(engine)] == [taken, "SIG-ABCDEF"]
