"""The callbot's silence timer and agents' hours, on the app's own services in this
process (Services.start with voice on: real SIP agent, Vosk recogniser, espeak-ng voice,
SQLite journal) with a baresip caller. Neither path asks Rasa anything, so the
Rasa stand-in only proves that: it must receive nothing. The shared test stack keeps
its silence timer at 30 s so that no other phone test is ever reprompted; here the
timer is short enough to fire."""

from __future__ import annotations

import sqlite3
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from aiohttp.test_utils import TestServer

from bot.app import Services
from tests.conftest import free_port, korean_vosk_model, make_settings
from tests.support.rasa_double import RasaDouble
from tests.support.waiting import wait_until
from tests.voice.baresip import Baresip, free_even_port
from tests.voice.test_phone_e2e import voiced_pcm_seconds
from voice.audio import silence, write_wav

pytestmark = [pytest.mark.voice, pytest.mark.integration, pytest.mark.timeout(300)]

# Silence is counted from the last check while the bot spoke (every 0.5 s): 2 s leave
# at least 1.5 s of quiet between what the bot says, against gaps under 1 s in speech.
SILENCE_REPROMPT_S = 2.0
REPROMPT = "Je vous écoute. Vous pouvez aussi taper 0 pour parler à un agent."
GOODBYE = "Je ne vous entends plus. Merci de votre appel, au revoir."
# Agents' hours that are never open: every day from midnight to one minute past.
NEVER_OPEN = (
    "{"
    + ", ".join(
        f'"{d}": ["00:00-00:01"]' for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    )
    + "}"
)


@dataclass
class PhoneApp:
    services: Services
    rasa: RasaDouble
    sip_port: int
    agent_port: int

    @property
    def uri(self) -> str:
        return f"sip:guichet@127.0.0.1:{self.sip_port}"

    def calls(self) -> list[sqlite3.Row]:
        with sqlite3.connect(self.services.settings.data_dir / "guichet.db") as db:
            db.row_factory = sqlite3.Row
            return db.execute("SELECT * FROM calls ORDER BY id").fetchall()

    async def ended_call(self, count: int) -> sqlite3.Row:
        """The `count`-th call, once its end is journalled."""

        def ended() -> sqlite3.Row | None:
            rows = self.calls()
            return rows[count - 1] if len(rows) >= count and rows[count - 1]["ended_at"] else None

        row: sqlite3.Row = await wait_until(ended, f"the end of call {count}", within=30)
        return row


@pytest.fixture(scope="module")
async def phone_app(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[PhoneApp]:
    double = RasaDouble()
    rasa = TestServer(double.app(), host="127.0.0.1")
    await rasa.start_server()
    data_dir = tmp_path_factory.mktemp("phone-timers")
    sip_port, agent_port, rtp = free_port(), free_port(), free_even_port()
    settings = make_settings(
        data_dir,
        str(rasa.make_url("")).rstrip("/"),
        GUICHET__VOICE__ENABLED="true",
        GUICHET__VOICE__STT_ENGINE="vosk",
        GUICHET__VOICE__VOSK_MODEL=str(korean_vosk_model()),
        GUICHET__VOICE__SIP_PORT=str(sip_port),
        GUICHET__VOICE__RTP_PORT_MIN=str(rtp),
        GUICHET__VOICE__RTP_PORT_MAX=str(rtp + 9),
        GUICHET__VOICE__SILENCE_REPROMPT_S=str(SILENCE_REPROMPT_S),
        GUICHET__VOICE__MAX_SILENCES="2",
        GUICHET__HANDOFF__AGENT_HOURS=NEVER_OPEN,
        GUICHET__HANDOFF__PHONE_TRANSFER_TARGET=f"sip:agent@127.0.0.1:{agent_port}",
    )
    services = await Services.start(settings)
    assert services.phone is not None, "the phone channel did not start"
    try:
        yield PhoneApp(services, double, sip_port, agent_port)
    finally:
        await services.close()
        await rasa.close()


@pytest.fixture
def silent_mic(tmp_path: Path) -> Path:
    path = tmp_path / "silence.wav"
    write_wav(path, silence(90_000), 8000)
    return path


def voiced_spans(path: Path, gap_s: float) -> list[float]:
    """Seconds of voice (20 ms frames above -40 dBFS) of each stretch of a recording
    that is separated from the next by at least `gap_s` of silence."""
    with wave.open(str(path)) as w:
        rate = w.getframerate()
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float64)
    frame = rate // 50
    frames = samples[: len(samples) // frame * frame].reshape(-1, frame)
    voiced = np.sqrt((frames**2).mean(axis=1)) / 32768 > 10 ** (-40 / 20)
    spans: list[float] = []
    quiet = gap_s * 50  # start a new span after that many quiet frames
    for is_voiced in voiced:
        if is_voiced:
            if quiet >= gap_s * 50:
                spans.append(0.0)
            spans[-1] += 0.02
            quiet = 0
        else:
            quiet += 1
    return spans


async def spoken_seconds(app: PhoneApp, text: str, tmp_path: Path) -> float:
    """Seconds of voice in `text` as the app's own synthesiser says it."""
    assert app.services.phone is not None and app.services.phone.synthesizer is not None
    path = tmp_path / "said.wav"
    write_wav(path, await app.services.phone.synthesizer.synthesize(text), 8000)
    return sum(voiced_spans(path, gap_s=10))


async def test_a_silent_caller_is_prompted_then_the_bot_hangs_up(
    phone_app: PhoneApp, silent_mic: Path, tmp_path: Path
) -> None:
    caller = Baresip(tmp_path / "quiet", silent_mic, "quiet")
    await caller.start()
    before = len(phone_app.calls())
    try:
        await caller.dial(phone_app.uri)
        await caller.wait_event("CALL_ESTABLISHED", within=20)
        # The test never hangs up: the bot must, after max_silences (2) silences.
        closed = await caller.wait_event("CALL_CLOSED", within=120)
    finally:
        await caller.stop()
    assert "Connection reset by peer" in closed.get("param", "")  # baresip's words for a BYE
    row = await phone_app.ended_call(before + 1)
    assert (row["outcome"], row["turns"]) == ("hung_up", 0)
    # What the caller heard: the greeting, the reprompt after the first silence, the
    # goodbye after the second; each said in full (as long as the synthesiser makes it).
    (recording,) = caller.recordings("dec")
    greeting, reprompt, goodbye = voiced_spans(recording, gap_s=1.0)
    assert reprompt == pytest.approx(await spoken_seconds(phone_app, REPROMPT, tmp_path), abs=0.3)
    assert goodbye == pytest.approx(await spoken_seconds(phone_app, GOODBYE, tmp_path), abs=0.3)
    assert greeting > 3
    assert phone_app.rasa.received == []


async def test_zero_out_of_the_agents_hours_offers_a_callback_without_a_transfer(
    phone_app: PhoneApp, silent_mic: Path, tmp_path: Path
) -> None:
    agent = Baresip(tmp_path / "agent", silent_mic, "agent", answer=True)
    agent.sip_port = phone_app.agent_port
    await agent.start()
    caller = Baresip(tmp_path / "caller", silent_mic, "0612345678")
    await caller.start()
    try:
        before = len(phone_app.calls())
        await caller.dial(phone_app.uri)
        await caller.wait_event("CALL_ESTABLISHED", within=20)
        await wait_until(lambda: len(phone_app.calls()) > before, "the call's start", within=20)
        heard = voiced_pcm_seconds(*caller.heard_so_far())
        await caller.send_dtmf("0")
        # Out of the agents' hours, 0 must lead to the callback offer (with a transfer,
        # the call would be gone): accept it once 2 s of it were heard.
        await caller.wait_heard(heard + 2, voiced_pcm_seconds, within=30)
        await caller.send_dtmf("1")
        await caller.wait_event("CALL_CLOSED", within=90)  # the bot reads the reference, ends
        row = await phone_app.ended_call(before + 1)
    finally:
        await caller.stop()
        await agent.stop()
    assert row["outcome"] == "callback" and row["ticket_reference"].startswith("RAP-")
    # The agents' extension never rang.
    assert not [e for e in agent.seen if e.get("type", "").startswith("CALL_")], agent.seen
    with sqlite3.connect(phone_app.services.settings.data_dir / "guichet.db") as db:
        contact, channel = db.execute(
            "SELECT contact, channel FROM tickets WHERE reference = ?", (row["ticket_reference"],)
        ).fetchone()
    assert channel == "phone" and "0612345678" in contact
    assert phone_app.rasa.received == []
