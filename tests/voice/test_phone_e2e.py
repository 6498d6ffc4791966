"""The callbot end to end: baresip calls the real app (Rasa, knowledge base,
handoff) through its SIP agent. Speech recognition runs the real Vosk engine
with the Korean model (no French model can be installed here), so these tests
drive the dialogue with the keypad and check audio, barge-in, transfer and the
callback request; recognition of French speech is measured separately with
`python -m tools.eval_stt` once the French model is installed."""

from __future__ import annotations

import asyncio
import sqlite3
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from tests.support.system import require_program
from tests.voice.baresip import Baresip, make_mic_wav
from tools.launcher import Stack
from voice.audio import silence, tone, write_wav
from voice.session import VoiceSession
from voice.sip.agent import SipAgent
from voice.sip.config import SipConfig

pytestmark = [pytest.mark.voice, pytest.mark.integration]


def voiced_seconds(path: Path) -> float:
    """Seconds of 20 ms frames above -40 dBFS in a recording."""
    with wave.open(str(path)) as w:
        return voiced_pcm_seconds(w.readframes(w.getnframes()), w.getframerate())


def voiced_pcm_seconds(pcm: bytes, rate: int) -> float:
    """Seconds of 20 ms frames above -40 dBFS in s16le PCM."""
    samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float64)
    frame = rate // 50
    frames = samples[: len(samples) // frame * frame].reshape(-1, frame)
    rms = np.sqrt((frames**2).mean(axis=1)) / 32768
    return float((rms > 10 ** (-40 / 20)).sum() / 50)


def call_rows(stack: Stack) -> list[sqlite3.Row]:
    with sqlite3.connect(stack.settings.data_dir / "guichet.db") as db:
        db.row_factory = sqlite3.Row
        return db.execute("SELECT * FROM calls ORDER BY id").fetchall()


@pytest.fixture
async def silent_mic(tmp_path: Path) -> Path:
    path = tmp_path / "silence.wav"
    require_program("sox", "sox")
    proc = await asyncio.create_subprocess_exec(
        "sox",
        "-n",
        "-r",
        "8000",
        "-c",
        "1",
        "-b",
        "16",
        "-e",
        "signed-integer",
        str(path),
        "trim",
        "0",
        "60",
    )
    await proc.wait()
    return path


@pytest.fixture
async def caller(tmp_path: Path, silent_mic: Path) -> AsyncIterator[Baresip]:
    peer = Baresip(tmp_path / "caller", silent_mic, "caller")
    await peer.start()
    yield peer
    await peer.stop()


async def refuse_every_call(session: VoiceSession) -> None:
    raise AssertionError("max_calls=0: no call is ever answered")


def bot_uri(stack: Stack) -> str:
    return f"sip:guichet@127.0.0.1:{stack.sip_port}"  # type: ignore[attr-defined]


async def wait_for_call_end(stack: Stack, count: int, within: float = 30) -> sqlite3.Row:
    async with asyncio.timeout(within):
        while True:
            rows = call_rows(stack)
            if len(rows) >= count and rows[-1]["ended_at"] is not None:
                return rows[-1]
            await asyncio.sleep(0.2)


async def test_call_is_answered_with_a_spoken_greeting(stack: Stack, caller: Baresip) -> None:
    before = len(call_rows(stack))
    await caller.dial(bot_uri(stack))
    await caller.wait_event("CALL_ESTABLISHED", within=20)
    # The greeting (about 7 s): hang up once the caller has heard more than 3 s of it
    # (3.5: the recording on file is read by 20 ms frames, the growing one as it comes).
    await caller.wait_heard(3.5, voiced_pcm_seconds, within=30)
    await caller.hangup()
    await caller.wait_event("CALL_CLOSED", within=10)
    row = await wait_for_call_end(stack, before + 1)
    assert row["outcome"] == "hung_up"
    (recording,) = caller.recordings("dec")
    # Real speech from espeak-ng through pyttsx3, G.711 and RTP: seconds of it.
    assert voiced_seconds(recording) > 3


def messages(stack: Stack, conversation_id: str) -> list[sqlite3.Row]:
    with sqlite3.connect(stack.settings.data_dir / "guichet.db") as db:
        db.row_factory = sqlite3.Row
        return db.execute(
            "SELECT role, text, data FROM messages WHERE conversation_id = ? ORDER BY id",
            (conversation_id,),
        ).fetchall()


async def wait_for_call_start(stack: Stack, before: int, within: float = 20) -> str:
    """The conversation id of the call journalled after the first `before` ones."""
    async with asyncio.timeout(within):
        while True:
            rows = call_rows(stack)
            if len(rows) > before and rows[before]["conversation_id"]:
                return str(rows[before]["conversation_id"])
            await asyncio.sleep(0.2)


async def wait_for_roles(
    stack: Stack, conversation_id: str, roles: list[str], within: float = 45
) -> list[sqlite3.Row]:
    """The conversation's messages once they start with `roles`."""
    async with asyncio.timeout(within):
        while True:
            rows = messages(stack, conversation_id)
            if [r["role"] for r in rows][: len(roles)] == roles:
                return rows
            await asyncio.sleep(0.2)


def answered_turn(rows: list[sqlite3.Row], text: str) -> sqlite3.Row | None:
    """The bot's reply to the user message `text`, once stored."""
    for i, row in enumerate(rows):
        if row["role"] == "user" and row["text"] == text:
            return next((r for r in rows[i + 1 :] if r["role"] == "bot"), None)
    return None


def beeps_mic(path: Path, count: int) -> Path:
    """Short beeps the VAD takes for speech and the recogniser hears as nothing."""
    pcm = silence(1000)
    for _ in range(count):
        pcm += tone(2000, 120, level_dbfs=-20) + silence(2500)
    write_wav(path, pcm + silence(60_000), 8000)
    return path


async def test_keypad_menu_reaches_the_dialogue(stack: Stack, tmp_path: Path) -> None:
    # Utterances the recogniser cannot make out: after three (MAX_MISUNDERSTOOD is 2)
    # the call offers the keypad menu, whose 1 is "les horaires de la mairie". Later
    # beeps only ask to rephrase; the menu stays.
    peer = Baresip(tmp_path / "beeper", beeps_mic(tmp_path / "beeps.wav", 6), "beeper")
    await peer.start()
    try:
        before = len(call_rows(stack))
        await peer.dial(bot_uri(stack))
        await peer.wait_event("CALL_ESTABLISHED", within=20)
        conversation_id = await wait_for_call_start(stack, before)
        # Press 1 until it is a menu choice (before the menu, 1 is answered with
        # "Cette touche ne correspond à aucun choix" and is no turn).
        choice = "les horaires de la mairie"
        reply = None
        async with asyncio.timeout(60):
            while reply is None:
                await peer.send_dtmf("1")
                for _ in range(10):
                    await asyncio.sleep(0.2)
                    reply = answered_turn(messages(stack, conversation_id), choice)
                    if reply is not None:
                        break
        await peer.hangup()
        await peer.wait_event("CALL_CLOSED", within=10)
        row = await wait_for_call_end(stack, before + 1)
    finally:
        await peer.stop()
    # The menu's payload went through Rasa: a stored turn with the bot's answer.
    assert reply["text"].strip(), [tuple(r) for r in messages(stack, conversation_id)]
    assert row["turns"] >= 1 and row["outcome"] == "answered_by_bot"


async def test_zero_transfers_to_the_agent_extension(
    stack: Stack, caller: Baresip, tmp_path: Path, silent_mic: Path
) -> None:
    agent = Baresip(tmp_path / "agent", silent_mic, "agent", answer=True)
    agent.sip_port = stack.agent_port  # type: ignore[attr-defined]
    await agent.start()
    try:
        before = len(call_rows(stack))
        await caller.dial(bot_uri(stack))
        await caller.wait_event("CALL_ESTABLISHED", within=20)
        await wait_for_call_start(stack, before)  # the call's dialogue is running
        await caller.send_dtmf("0")
        # The caller's phone follows the REFER and calls the agent's extension.
        await agent.wait_event("CALL_ESTABLISHED", within=30)
        row = await wait_for_call_end(stack, before + 1)
        assert row["outcome"] == "transferred"
    finally:
        await agent.stop()


async def test_busy_agent_line_leads_to_a_callback_read_aloud(
    stack: Stack, caller: Baresip
) -> None:
    # The agents' line answers 486 Busy Here: the transfer fails, the caller is
    # offered a callback and accepts with 1.
    refused = asyncio.Event()

    def watch(direction: str, data: bytes, addr: tuple[str, int]) -> None:
        if direction == "out" and data.startswith(b"SIP/2.0 486 "):
            refused.set()

    busy = SipAgent(
        SipConfig(port=stack.agent_port, max_calls=0, rtp_port_min=32000, rtp_port_max=32010),  # type: ignore[attr-defined]
        refuse_every_call,
        trace=watch,
    )
    await busy.start()
    try:
        before = len(call_rows(stack))
        await caller.dial(bot_uri(stack))
        await caller.wait_event("CALL_ESTABLISHED", within=20)
        await wait_for_call_start(stack, before)  # the call's dialogue is running
        await caller.send_dtmf("0")
        # "Je vous transfère…" is spoken, then the REFER: the caller's phone calls the
        # agents' line, which refuses.
        async with asyncio.timeout(30):
            await refused.wait()
        # Then the callback offer is spoken: press 1 once the caller hears it (3 s of
        # voice after the refusal), not on a guess of when the call reads its keys.
        heard = voiced_pcm_seconds(*caller.heard_so_far())
        await caller.wait_heard(heard + 3, voiced_pcm_seconds, within=30)
        await caller.send_dtmf("1")
        # The call with the bot (the refused leg to the agents' line closed before).
        await caller.wait_event("CALL_CLOSED", within=60, peer="guichet@")
        row = await wait_for_call_end(stack, before + 1)
    finally:
        await busy.stop()
    assert row["outcome"] == "callback" and row["ticket_reference"].startswith("RAP-")
    with sqlite3.connect(stack.settings.data_dir / "guichet.db") as db:
        contact, channel = db.execute(
            "SELECT contact, channel FROM tickets WHERE reference = ?", (row["ticket_reference"],)
        ).fetchone()
    assert channel == "phone" and "caller" in contact


async def test_caller_speech_interrupts_the_greeting(stack: Stack, tmp_path: Path) -> None:
    mic = make_mic_wav(
        tmp_path / "speech.wav", "Bonjour, je voudrais les horaires de la mairie.", 30
    )
    # Speech from the first second: the greeting (7 s) must stop early, and what the
    # caller said becomes a turn (the Korean model hears something, never nothing).
    peer = Baresip(tmp_path / "talker", mic, "talker")
    await peer.start()
    try:
        before = len(call_rows(stack))
        await peer.dial(bot_uri(stack))
        await peer.wait_event("CALL_ESTABLISHED", within=20)
        conversation_id = await wait_for_call_start(stack, before)
        await wait_for_roles(stack, conversation_id, ["user", "bot"])
        await peer.hangup()
        await peer.wait_event("CALL_CLOSED", within=10)
        row = await wait_for_call_end(stack, before + 1)
    finally:
        await peer.stop()
    assert row["barge_ins"] >= 1
    # Only a turn makes a caller's hang-up "answered_by_bot".
    assert row["turns"] >= 1 and row["outcome"] == "answered_by_bot"
    assert messages(stack, conversation_id)[0]["role"] == "user"
