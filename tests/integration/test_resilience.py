"""The app and Rasa restart independently without losing conversations.

Marked disruptive: it restarts the shared stack's processes, so it runs after
every other test (tests/conftest.py), not by the accident of its file name."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.support.chat import Chat, texts
from tools.launcher import Stack

pytestmark = [pytest.mark.integration, pytest.mark.disruptive]


def restart(stack: Stack, name: str) -> None:
    stack.stop(name)
    started = time.monotonic()
    (stack.start_rasa if name == "rasa" else stack.start_app)()
    url = f"{stack.settings.rasa.url}/" if name == "rasa" else f"{stack.app_url}/healthz"
    stack.wait_ready(name, url, started, 240)


async def test_app_restart_keeps_history_and_dialogue_state(stack: Stack) -> None:
    c = Chat(stack.app_url, str(uuid.uuid4()))
    await c.say("je veux signaler un problème")
    await c.say("Voirie", '/inform{"report_category":"voirie"}')
    restart(stack, "app")
    history = await c.history()
    assert [m["text"] for m in history if m["role"] == "user"] == [
        "je veux signaler un problème",
        "Voirie",
    ]
    # Rasa kept the form: the next answer is taken as the location.
    assert "Décrivez" in texts(await c.say("place du Marché"))


async def test_rasa_down_gets_an_apology_then_resumes(stack: Stack) -> None:
    c = Chat(stack.app_url, str(uuid.uuid4()))
    assert "assistant automatisé" in texts(await c.say("bonjour"))
    stack.stop("rasa")
    try:
        started = time.monotonic()
        apology = texts(await c.say("horaires de la mairie ?"))
        assert time.monotonic() - started < 5  # functional bound: timeout is 2.5 s
        assert "problème technique" in apology and stack.settings.town.phone in apology
        fire = await c.say("au feu ! la cuisine est en feu")
        assert fire[0].get("emergency") and "• 18" in fire[0]["text"]
    finally:
        restart(stack, "rasa")
    assert stack.settings.town.opening_hours[0].hours in texts(
        await c.say("horaires de la mairie ?")
    )
