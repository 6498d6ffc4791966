"""A call reads the app's settings as they are (no copy of the voice knobs): the town's
name and phone, `voice.max_silences` and `voice.silence_reprompt_s`, and
`handoff.phone_transfer_target`. Doubles for the line, the voices and the dialogue."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any, cast

from bot.conversation.service import ConversationService
from bot.settings import Settings
from tests.conftest import make_settings
from voice.call import PhoneCall
from voice.session import AudioFrame, DtmfDigit, HangupCause, PlaybackResult
from voice.stt import SpeechRecognizer


class Line:
    """A VoiceSession double: what the bot says arrives as text, played at once."""

    call_id = "call-settings-1"
    caller = ""

    def __init__(self) -> None:
        self._events: asyncio.Queue[AudioFrame | DtmfDigit | HangupCause] = asyncio.Queue()
        self.transfers: list[str] = []
        self.hung_up = False

    @property
    def events(self) -> asyncio.Queue[AudioFrame | DtmfDigit | HangupCause]:
        return self._events

    async def play(self, pcm: bytes) -> PlaybackResult:
        return PlaybackResult(interrupted=False, played_ms=0)

    def clear_playback(self) -> None:
        pass

    async def transfer(self, target: str) -> bool:
        self.transfers.append(target)
        return False  # the PBX refuses: the call offers a callback

    async def hangup(self) -> None:
        self.hung_up = True


class Voice:
    """A synthesiser double that keeps the texts."""

    def __init__(self) -> None:
        self.said: list[str] = []

    async def synthesize(self, text: str) -> bytes:
        self.said.append(text)
        return b""


def settings(tmp_path: Path, **voice: Any) -> Settings:
    base = make_settings(
        tmp_path,
        "http://127.0.0.1:1",
        GUICHET__TOWN__NAME="Saint-Exemple",
        GUICHET__TOWN__PHONE="01 23 45 67 89",
        GUICHET__HANDOFF__PHONE_TRANSFER_TARGET="sip:accueil@pbx.example.org",
    )
    return dataclasses.replace(base, voice=dataclasses.replace(base.voice, **voice))


def call(line: Line, voice: Voice, s: Settings) -> PhoneCall:
    return PhoneCall(
        line,
        cast(ConversationService, None),  # no utterance reaches the dialogue here
        cast(SpeechRecognizer, object()),
        voice,
        s,
    )


async def test_the_greeting_names_the_town_and_silences_end_the_call(tmp_path: Path) -> None:
    line, voice = Line(), Voice()
    s = settings(tmp_path, silence_reprompt_s=0.05, max_silences=2)
    await asyncio.wait_for(call(line, voice, s).run(), timeout=10)
    assert "mairie de Saint-Exemple" in voice.said[0]
    assert voice.said[1:] == [
        "Je vous écoute. Vous pouvez aussi taper 0 pour parler à un agent.",
        "Je ne vous entends plus. Merci de votre appel, au revoir.",
    ]
    assert line.hung_up


async def test_zero_transfers_to_the_settings_target_then_gives_the_town_phone(
    tmp_path: Path,
) -> None:
    line, voice = Line(), Voice()
    phone_call = call(line, voice, settings(tmp_path, silence_reprompt_s=60))
    for digit in ("0", "2"):  # a person, please; then no callback
        line.events.put_nowait(DtmfDigit(digit, 0.0))
    await asyncio.wait_for(phone_call.run(), timeout=10)
    assert line.transfers == ["sip:accueil@pbx.example.org"]
    assert "rappeler la mairie au 01 23 45 67 89" in voice.said[-1]
    assert line.hung_up
