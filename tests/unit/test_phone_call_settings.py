"""A call reads the app's settings as they are (no copy of the voice knobs): the town's
name and phone, `voice.max_silences` and `voice.silence_reprompt_s`, and
`handoff.phone_transfer_target`; and how a call ends. Doubles for the line
(tests/support/phone_line.py), the voices and the dialogue."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from bot.conversation.service import ConversationService
from bot.settings import Settings
from tests.conftest import make_settings
from tests.support.phone_line import Line
from voice.call import PhoneCall
from voice.session import AudioFrame, DtmfDigit, HangupCause
from voice.stt import SpeechRecognizer


class Voice:
    """A synthesiser double that keeps the texts."""

    def __init__(self) -> None:
        self.said: list[str] = []
        self._spoken = asyncio.Condition()

    async def synthesize(self, text: str) -> bytes:
        self.said.append(text)
        async with self._spoken:
            self._spoken.notify_all()
        return b""

    async def saying(self, fragment: str) -> None:
        """Returns once the bot has said something containing `fragment`."""
        async with self._spoken:
            await self._spoken.wait_for(lambda: any(fragment in t for t in self.said))


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
    line, voice = Line("call-settings-1"), Voice()
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
    line, voice = Line("call-settings-1"), Voice()
    phone_call = call(line, voice, settings(tmp_path, silence_reprompt_s=60))
    run = asyncio.ensure_future(phone_call.run())
    line.events.put_nowait(DtmfDigit("0", 0.0))  # a person, please
    # Keys pressed while the bot announces the transfer are not read: "2" (no
    # callback) answers the offer once it is made.
    await asyncio.wait_for(voice.saying("Souhaitez-vous être rappelé"), timeout=10)
    line.events.put_nowait(DtmfDigit("2", 0.0))
    await asyncio.wait_for(run, timeout=10)
    assert line.transfers == ["sip:accueil@pbx.example.org"]
    assert "rappeler la mairie au 01 23 45 67 89" in voice.said[-1]
    assert line.hung_up


async def _until(condition: Callable[[], bool]) -> None:
    while not condition():  # noqa: ASYNC110  # the queue has no "emptied" event
        await asyncio.sleep(0.01)


async def test_the_caller_is_not_listened_to_during_the_goodbye_and_nothing_piles_up(
    tmp_path: Path,
) -> None:
    line, voice = Line("call-end-1"), Voice()
    line.hold_from = 1  # the greeting plays at once, the goodbye lasts
    s = settings(tmp_path, silence_reprompt_s=0.05, max_silences=1)
    run = asyncio.ensure_future(call(line, voice, s).run())
    await asyncio.wait_for(line.holding.wait(), timeout=10)
    assert "au revoir" in voice.said[-1]
    for i in range(600):  # 12 s of the caller's audio while the goodbye plays
        line.events.put_nowait(AudioFrame(b"\0" * 320, i * 0.02))
    # Read and dropped as it comes (the SIP layer drops frames past 10 s queued).
    await asyncio.wait_for(_until(line.events.empty), timeout=10)
    assert not run.done() and not line.hung_up  # the goodbye is still being said
    line.release()
    await asyncio.wait_for(run, timeout=10)
    assert line.hung_up and line.cleared == 0


async def test_a_caller_who_hangs_up_during_the_goodbye_stops_it(tmp_path: Path) -> None:
    line, voice = Line("call-end-2"), Voice()
    line.hold_from = 1
    s = settings(tmp_path, silence_reprompt_s=0.05, max_silences=1)
    run = asyncio.ensure_future(call(line, voice, s).run())
    await asyncio.wait_for(line.holding.wait(), timeout=10)
    line.events.put_nowait(HangupCause.CALLER)
    await asyncio.wait_for(run, timeout=10)  # never released: the hang-up ended it
    assert line.cleared == 1


async def test_no_transfer_for_a_caller_who_hung_up_while_told_of_it(tmp_path: Path) -> None:
    line, voice = Line("call-end-3"), Voice()
    line.hold_from = 1  # "Je vous transfère…" lasts
    run = asyncio.ensure_future(call(line, voice, settings(tmp_path, silence_reprompt_s=60)).run())
    line.events.put_nowait(DtmfDigit("0", 0.0))
    await asyncio.wait_for(line.holding.wait(), timeout=10)
    assert voice.said[-1].startswith("Je vous transfère")
    line.events.put_nowait(HangupCause.CALLER)
    await asyncio.wait_for(run, timeout=10)
    assert line.transfers == []
