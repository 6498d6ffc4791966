"""A life event on a phone call: the caller gets the event's procedures aloud, a short
list with keypad choices, and a digit reads the chosen procedure.

baresip calls the app's SIP agent; the app runs in this process (`Services.start`
on the demo base, its action endpoint served here) with the real Rasa server and
its trained model. No speech recogniser here understands French words (the French
Whisper model does not transcribe espeak-ng's voice, the Vosk model installed is
Korean: tests/voice/test_phone_french.py plays real French speech instead), so the
caller's sentence is given to the live call as the recogniser would write it
(`PhoneCall.hear`, what the end of an utterance calls): the turn, Rasa, the
life-event action, the speech and the keypad are the call's own.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.admin.stats import TRACKER_FILE, collect
from bot.app import Services
from bot.conversation.action_server import create_action_app
from tests.conftest import ALWAYS_OPEN, copy_base, free_port, korean_vosk_model, make_settings
from tests.support.system import require_program
from tests.voice.baresip import Baresip
from tests.voice.test_phone_e2e import messages, voiced_seconds
from tools.launcher import Stack
from tools.rasa import rasa_token
from voice.call import PhoneCall

pytestmark = [pytest.mark.voice, pytest.mark.integration, pytest.mark.timeout(600)]

DEATH = "un proche est décédé"
SAID = "mon père est mort hier"


class App:
    def __init__(self, stack: Stack, services: Services) -> None:
        self.stack, self.services = stack, services

    @property
    def sip_uri(self) -> str:
        assert self.services.phone is not None and self.services.phone.port
        return f"sip:guichet@127.0.0.1:{self.services.phone.port}"

    async def live_call(self, within: float = 20) -> PhoneCall:
        assert self.services.phone is not None
        async with asyncio.timeout(within):
            while True:
                for call in self.services.phone.active.values():
                    return call
                await asyncio.sleep(0.1)


@pytest.fixture(scope="module")
async def app(
    trained_model: Path, demo_base: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[App]:
    require_program("baresip", "baresip")
    require_program("sox", "sox")
    data_dir = tmp_path_factory.mktemp("phone-life-event")
    copy_base(demo_base, data_dir)
    settings = make_settings(
        data_dir,
        f"http://127.0.0.1:{free_port()}",
        GUICHET__RASA__TOKEN=rasa_token(data_dir),
        GUICHET__HANDOFF__AGENT_HOURS=ALWAYS_OPEN,
        GUICHET__VOICE__ENABLED="true",
        GUICHET__VOICE__STT_ENGINE="vosk",
        GUICHET__VOICE__VOSK_MODEL=str(korean_vosk_model()),
        GUICHET__VOICE__SIP_PORT=str(free_port()),
        GUICHET__VOICE__RTP_PORT_MIN="34000",
        GUICHET__VOICE__RTP_PORT_MAX="34099",
        GUICHET__VOICE__SILENCE_REPROMPT_S="60",
    )
    stack = Stack(settings, trained_model)
    started = time.monotonic()
    stack.start_rasa()
    services = await Services.start(settings)
    actions = web.AppRunner(create_action_app(services.executor), access_log=None)
    await actions.setup()
    await web.TCPSite(actions, settings.actions.host, settings.actions.port).start()
    try:
        await asyncio.to_thread(stack.wait_ready, "rasa", f"{settings.rasa.url}/", started, 300)
        assert services.phone is not None, "the phone channel did not start"
        yield App(stack, services)
    finally:
        await actions.cleanup()
        await services.close()
        stack.stop()


def stored(app: App, conversation_id: str) -> list[dict[str, Any]]:
    return [
        {"role": r["role"], "text": r["text"], **json.loads(r["data"] or "{}")}
        for r in messages(app.stack, conversation_id)
    ]


def replies(rows: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """The bot's messages answering the caller's `text` (up to the next turn)."""
    out: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        if row["role"] == "user" and row["text"] == text:
            for after in rows[i + 1 :]:
                if after["role"] != "bot":
                    break
                out.append(after)
    return out


async def answer_to(
    app: App, conversation_id: str, text: str, key: str, within: float = 60
) -> list[dict[str, Any]]:
    """The bot's messages answering `text`, once one of them has `key`."""
    async with asyncio.timeout(within):
        while True:
            found = replies(stored(app, conversation_id), text)
            if any(key in m for m in found):
                return found
            await asyncio.sleep(0.2)


async def silent_caller(tmp_path: Path, seconds: int) -> Baresip:
    """A baresip caller whose microphone is `seconds` of silence (its words are given
    to the live call as text, see the module's docstring); not started yet."""
    silent = tmp_path / "silence.wav"
    proc = await asyncio.create_subprocess_exec(
        *("sox", "-n", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer"),
        *(str(silent), "trim", "0", str(seconds)),
    )
    assert await proc.wait() == 0
    return Baresip(tmp_path / "caller", silent, "caller")


async def test_a_life_event_on_a_call_gets_its_procedures_and_the_keypad_reads_one(
    app: App, tmp_path: Path
) -> None:
    caller = await silent_caller(tmp_path, 90)
    await caller.start()
    try:
        await caller.dial(app.sip_uri)
        await caller.wait_event("CALL_ESTABLISHED", within=20)
        call = await app.live_call()
        await call.hear(SAID)
        said = await answer_to(app, call.conversation_id, SAID, "life_event")
        spoken = call.state.last_spoken
        menu = dict(call.state.menu)
        await asyncio.sleep(12)  # let the list be heard
        await caller.send_dtmf("1")
        choice = menu["1"][0]
        chosen = await answer_to(app, call.conversation_id, choice, "sources")
        await asyncio.sleep(6)
        await caller.hangup()
        await caller.wait_event("CALL_CLOSED", within=10)
    finally:
        await caller.stop()

    rows = stored(app, call.conversation_id)
    # Condolences first, then the procedures in their order: the declaration of the
    # death (within 24 hours) first, three at most on the phone, and a person.
    assert said[0]["text"] == "Toutes nos condoléances.", rows
    steps = said[-1]
    assert steps["life_event"] == DEATH, rows
    assert steps["articles"][0] == "deces-declaration" and len(steps["articles"]) == 3
    assert spoken.startswith("Toutes nos condoléances."), spoken
    assert "Voici les démarches à prévoir après le décès d'un proche" in spoken
    assert "Tapez 1 pour : Déclarer un décès" in spoken and "Tapez 4 pour" in spoken
    assert [payload for _, payload in menu.values()] == [
        *(f'/ask_question{{"kb_article":"{slug}"}}' for slug in steps["articles"]),
        "/request_human",
    ]
    # Digit 1 read the declaration of the death, from its article.
    article = next(m for m in chosen if "sources" in m)
    assert article.get("articles", [None])[0] == "deces-declaration", rows
    assert article["sources"][0]["url"].startswith("https://"), rows
    # All of it was said aloud: seconds of speech reached the caller.
    (recording,) = caller.recordings("dec")
    assert voiced_seconds(recording) > 10
    # And the statistics count the question under the event, on the phone.
    stats = await collect(app.services.engine, app.stack.settings.data_dir / TRACKER_FILE)
    assert (DEATH, 1, 1) in stats.life_events


async def test_an_emergency_said_on_a_call_is_read_out_in_full_first(
    app: App, tmp_path: Path
) -> None:
    """Spoken replies are cut to two sentences, except the emergency numbers: all of
    them are read, fire's first, before anything else."""
    said = "au secours il y a le feu dans ma cuisine"
    caller = await silent_caller(tmp_path, 60)
    await caller.start()
    try:
        await caller.dial(app.sip_uri)
        await caller.wait_event("CALL_ESTABLISHED", within=20)
        call = await app.live_call()
        await call.hear(said)
        answered = await answer_to(app, call.conversation_id, said, "emergency")
        spoken = call.state.last_spoken
        await caller.hangup()
        await caller.wait_event("CALL_CLOSED", within=10)
    finally:
        await caller.stop()
    assert answered[0]["emergency"] is True, answered
    assert spoken.startswith("Si une personne est en danger, appelez immédiatement"), spoken
    numbers = [n for n in ("18", "112", "17", "15", "114", "3919", "3114", "119") if n in spoken]
    assert numbers == ["18", "112", "17", "15", "114", "3919", "3114", "119"], spoken
    assert spoken.index("18") < spoken.index("112") < spoken.index("15")
    assert "je ne peux pas envoyer de secours moi-même" in spoken, spoken
