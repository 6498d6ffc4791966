"""When a call ends the caller's turn: from the words decoded at the caller's pause
(voice/turns.py) with a whole-utterance recogniser, after the VAD's fixed 500 ms
otherwise.

A real `PhoneCall` and VAD on a line double whose queue counts the audio frames the
call has taken: that count is the clock. The caller's speech is tones (voiced frames
for webrtcvad) and silence, 20 ms a frame; a recogniser double gives the words of each
stretch of audio by its length in frames and finishes a decode once the call has taken
a given number of further frames. Nothing here is timed on the wall clock."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest

from bot.conversation.messages import BotMessage
from bot.conversation.service import ConversationService, UserTurn
from bot.observability.metrics import CALL_TURN_ENDS
from bot.settings import Settings
from tests.conftest import make_settings
from tests.support.phone_line import Line
from voice.audio import silence, split_frames, tone
from voice.call import PhoneCall
from voice.session import AudioFrame, DtmfDigit, HangupCause
from voice.stt import SpeechRecognizer, UtteranceDecoder

Event = AudioFrame | DtmfDigit | HangupCause
FRAME_BYTES = 320  # 20 ms at 8 kHz
# The VAD's defaults: the utterance keeps 10 frames of pre-roll and 5 of trailing silence.
PRE_ROLL, POST_ROLL = 10, 5
FIXED_END = 25  # frames of silence: the 500 ms end-point


class CountingQueue(asyncio.Queue[Event]):
    """The line's events; `taken` counts the audio frames the call has read."""

    def __init__(self) -> None:
        super().__init__()
        self.taken = 0
        self.progress = asyncio.Event()

    def get_nowait(self) -> Event:
        item = super().get_nowait()
        if isinstance(item, AudioFrame):
            self.taken += 1
            self.progress.set()
        return item


def line_saying(pcm: bytes) -> Line:
    """A line whose caller says `pcm` (20 ms frames), then hangs up."""
    events = CountingQueue()
    for i, frame in enumerate(split_frames(pcm)):
        events.put_nowait(AudioFrame(frame, i * 0.02))
    events.put_nowait(HangupCause.CALLER)
    return Line("call-turns-1", events)


class Dialogue:
    """The conversation double: what it heard, and how many frames the call had taken."""

    def __init__(self, line: Line) -> None:
        self.line = line
        self.heard: list[tuple[str, int]] = []

    def normalise(self, turn: UserTurn) -> UserTurn:
        return turn

    async def handle(self, turn: UserTurn) -> list[BotMessage]:
        self.heard.append((turn.text, cast(CountingQueue, self.line.events).taken))
        return [BotMessage("Très bien.")]


class Voice:
    async def synthesize(self, text: str) -> bytes:
        return b""


class Streaming:
    """A streaming recogniser double (Vosk): no whole-utterance decode."""

    def __init__(self, words: Callable[[int], str]) -> None:
        self.words = words
        self._frames = 0

    def start(self) -> None:
        self._frames = 0

    def accept(self, pcm_8k: bytes) -> str | None:
        self._frames += len(pcm_8k) // FRAME_BYTES
        return None

    def finish(self) -> str:
        frames, self._frames = self._frames, 0
        return self.words(frames)

    def transcribe(self, pcm_8k: bytes) -> str:
        return self.words(len(pcm_8k) // FRAME_BYTES)

    async def accept_async(self, pcm_8k: bytes) -> str | None:
        return self.accept(pcm_8k)

    async def finish_async(self) -> str:
        return self.finish()

    async def transcribe_async(self, pcm_8k: bytes) -> str:
        return self.transcribe(pcm_8k)


class Decoder(Streaming):
    """A whole-utterance recogniser double (Whisper): each decode ends once the call
    has taken `delay` more frames of the line (0: at once)."""

    def __init__(self, words: Callable[[int], str], line: Line, delay: int = 0) -> None:
        super().__init__(words)
        self.line = line
        self.delay = delay
        self.decoded: list[int] = []  # frames of each decode asked for

    async def decode_async(self, pcm_8k: bytes) -> str:
        frames = len(pcm_8k) // FRAME_BYTES
        self.decoded.append(frames)
        queue = cast(CountingQueue, self.line.events)
        until = queue.taken + self.delay
        try:
            # The bound only breaks the wait when the call does not read the line
            # while it awaits this decode (the 500 ms end-point's way).
            async with asyncio.timeout(0.5):
                while queue.taken < until:
                    queue.progress.clear()
                    await queue.progress.wait()
        except TimeoutError:
            pass
        return self.words(frames)


def words(table: dict[int, str]) -> Callable[[int], str]:
    """The words of a stretch of audio by its length in frames ("?" for any other)."""
    return lambda frames: table.get(frames, f"? ({frames} frames)")


def settings(tmp_path: Path, **voice: Any) -> Settings:
    base = make_settings(tmp_path, "http://127.0.0.1:1")
    return dataclasses.replace(
        base, voice=dataclasses.replace(base.voice, silence_reprompt_s=600, **voice)
    )


ENDS = ("complete", "silence", "unfinished", "decoding", "max_length")


def turn_ends() -> dict[str, float]:
    return {end: CALL_TURN_ENDS.labels(end)._value.get() for end in ENDS}


async def heard(
    line: Line, recognizer: SpeechRecognizer | Decoder, s: Settings
) -> tuple[list[tuple[str, int]], PhoneCall, list[str]]:
    """The turns heard (text, frames taken), the call, and what ended each turn (the
    guichet_call_turn_ends metric)."""
    dialogue = Dialogue(line)
    call = PhoneCall(
        line, cast(ConversationService, dialogue), cast(SpeechRecognizer, recognizer), Voice(), s
    )
    before = turn_ends()
    await asyncio.wait_for(call.run(), timeout=30)
    after = turn_ends()
    ends = [end for end in ENDS for _ in range(int(after[end] - before[end]))]
    return dialogue.heard, call, ends


# 200 ms of silence, a 600 ms question (frames 10-39), then silence.
QUESTION = silence(200) + tone(440, 600) + silence(2000)
QUESTION_FRAMES = PRE_ROLL + 30 + POST_ROLL  # what the VAD keeps of it
LAST_VOICED = 39


@pytest.mark.parametrize(
    ("engine", "voice", "end_silence", "end"),
    [
        # Whisper: "?" after 300 ms of silence (15 frames), not 500 ms (25).
        ("whisper", {}, 15, "complete"),
        ("whisper", {"complete_turn_ms": 240}, 12, "complete"),
        # The town keeps the fixed end-point; Vosk and early_decode off always do.
        ("whisper", {"complete_turn_ms": 0, "incomplete_turn_ms": 0}, FIXED_END, "silence"),
        ("whisper", {"early_decode": False}, FIXED_END, "silence"),
        ("vosk", {}, FIXED_END, "silence"),
    ],
)
async def test_a_complete_question_ends_the_turn_before_the_fixed_end_point(
    tmp_path: Path, engine: str, voice: dict[str, Any], end_silence: int, end: str
) -> None:
    line = line_saying(QUESTION)

    def text(frames: int) -> str:  # streamed, the audio starts later than the VAD's
        return "Quels sont les horaires de la mairie ?"

    recognizer = Decoder(text, line) if engine == "whisper" else Streaming(text)
    assert isinstance(recognizer, UtteranceDecoder) is (engine == "whisper")
    turns, call, ends = await heard(line, recognizer, settings(tmp_path, **voice))
    # Heard once, on the frame that was the end_silence-th silent one.
    assert turns == [("Quels sont les horaires de la mairie ?", LAST_VOICED + end_silence + 1)]
    assert ends == [end]
    early = engine == "whisper" and voice.get("early_decode", True)
    assert call.state.early_decodes == (1 if early else 0)


async def test_unfinished_words_wait_past_500_ms_and_the_continuation_is_one_utterance(
    tmp_path: Path,
) -> None:
    # "je voudrais euh" (frames 10-39), 700 ms of silence (40-74), "une carte
    # d'identité" (75-94), silence.
    line = line_saying(
        silence(200) + tone(440, 600) + silence(700) + tone(440, 400) + silence(2000)
    )
    first, whole = QUESTION_FRAMES, PRE_ROLL + 30 + 35 + 20 + POST_ROLL
    decoder = Decoder(
        words({first: "Je voudrais euh", whole: "Je voudrais euh une carte d'identité."}), line
    )
    turns, call, ends = await heard(line, decoder, settings(tmp_path))
    # Not answered after 500 ms of silence (frame 64): one turn, the whole sentence,
    # ended 300 ms after its last voiced frame (94).
    assert turns == [("Je voudrais euh une carte d'identité.", 94 + 15 + 1)]
    assert ends == ["complete"]
    assert decoder.decoded == [first, whole] and call.state.early_decodes == 1


async def test_unfinished_words_wait_for_incomplete_turn_ms_at_most(tmp_path: Path) -> None:
    line = line_saying(QUESTION)
    decoder = Decoder(words({QUESTION_FRAMES: "Je voudrais euh"}), line)
    turns, call, ends = await heard(line, decoder, settings(tmp_path, incomplete_turn_ms=800))
    # The caller says nothing more: the turn ends after 800 ms (40 frames) of silence,
    # with the words of the early decode (decoded once).
    assert turns == [("Je voudrais euh", LAST_VOICED + 40 + 1)]
    assert ends == ["unfinished"]
    assert decoder.decoded == [QUESTION_FRAMES] and call.state.early_decodes == 1


async def test_a_caller_who_speaks_again_after_the_pause_gets_the_whole_utterance(
    tmp_path: Path,
) -> None:
    # "Bonjour" (frames 10-29), 200 ms of silence (30-39: a pause, shorter than 300 ms),
    # "je voudrais une carte" (40-59), silence. The first decode's words are complete,
    # and finish while the caller speaks again: they must not end the turn.
    line = line_saying(
        silence(200) + tone(440, 400) + silence(200) + tone(440, 400) + silence(2000)
    )
    first, whole = PRE_ROLL + 20 + POST_ROLL, PRE_ROLL + 20 + 10 + 20 + POST_ROLL
    decoder = Decoder(
        words({first: "Bonjour.", whole: "Bonjour, je voudrais une carte d'identité."}),
        line,
        delay=4,
    )
    turns, _call, ends = await heard(line, decoder, settings(tmp_path))
    assert decoder.decoded == [first, whole] and ends == ["complete"]
    assert turns == [("Bonjour, je voudrais une carte d'identité.", 59 + 15 + 1)]


async def test_a_decode_still_running_at_500_ms_holds_the_end_point_until_its_words(
    tmp_path: Path,
) -> None:
    # The decode started at the pause (frame 47) takes 30 frames (600 ms).
    line = line_saying(QUESTION)
    decoder = Decoder(words({QUESTION_FRAMES: "Je voudrais euh"}), line, delay=30)
    turns, _call, ends = await heard(line, decoder, settings(tmp_path))
    # Unfinished words, known after 500 ms: still the 1 s wait.
    assert turns == [("Je voudrais euh", LAST_VOICED + 50 + 1)] and ends == ["unfinished"]

    line = line_saying(QUESTION)
    decoder = Decoder(words({QUESTION_FRAMES: "Quels sont les horaires ?"}), line, delay=30)
    turns, _call, ends = await heard(line, decoder, settings(tmp_path))
    # A whole question: the turn ends on the frame after the decode finished (frame
    # 47 + 30), not on a fixed one.
    assert turns == [("Quels sont les horaires ?", 47 + 30 + 1)] and ends == ["decoding"]
