"""What the callbot's turn-taking would do on recorded French speech (in-process).

The call (voice/call.py) ends a Whisper caller's turn after `voice.complete_turn_ms` of
silence when the words decoded at the caller's pause end a sentence (voice/turns.py),
instead of the VAD's 500 ms. The risk is a caller cut at a pause inside what they are
saying; the gain, the silence not waited at the end. This replays Debian's human French
prompts (asterisk-core-sounds-fr-wav, >= 4 words, µ-law round trip) through the VAD and,
at every pause it reports (160 ms of silence), decodes the audio so far with the
packaged Whisper model, as the call would, and judges its words:

* inner pauses (the speaker went on): how long the silence lasted and whether the
  words so far looked complete; such a pause would have ended the turn too soon if its
  silence reached `complete_turn_ms` and the decode had finished by then;
* final pauses (the end of the prompt): how often the words look complete (the turn
  ends sooner) or unfinished (it waits longer), and the decode time measured here.

Usage: python benchmarks/turn_taking.py [--limit N] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.eval_stt import find_pairs
from voice.audio import read_wav, resample, silence, split_frames
from voice.g711 import ulaw_decode, ulaw_encode
from voice.session import SAMPLE_RATE
from voice.turns import Ending, ending
from voice.vad import SpeechEnded, SpeechPaused, SpeechStarted, VoiceActivityDetector

PROMPTS = Path("/usr/share/asterisk/sounds/fr")
FRAME_MS = 20
PAUSE_MS = 160
END_POINT_MS = 500
CANDIDATES_MS = (200, 240, 260, 280, 300, 320, 360, 400)


@dataclass
class Pause:
    prompt: str
    # final: the VAD's 500 ms end-point came; else the speaker went on within it.
    final: bool
    silence_ms: int  # silence after the last voiced frame (500 for a final pause)
    words: str
    ending: str
    decode_ms: float
    # A final pause inside the prompt: the silence before the speaker went on.
    resumed_after_ms: int | None = None


def pauses_of(name: str, pcm: bytes, decode: Any) -> list[Pause]:
    heard = ulaw_decode(ulaw_encode(silence(300) + pcm + silence(1500)))
    vad = VoiceActivityDetector()
    out: list[Pause] = []
    pending: tuple[SpeechPaused, str, float] | None = None
    last_end: tuple[Pause, int] | None = None  # a final pause and its utterance's end frame

    def judged(pause: SpeechPaused, words: str, ms: float, final: bool, index: int) -> Pause:
        # Voice came back on frame `index` (or the end-point came there).
        silence_ms = END_POINT_MS if final else (index - pause.detected_frame - 1) * FRAME_MS
        silence_ms += 0 if final else PAUSE_MS
        return Pause(name, final, silence_ms, words, str(ending(words)), round(ms, 1))

    for index, frame in enumerate(split_frames(heard)):
        for event in vad.process(frame):
            if isinstance(event, SpeechStarted):
                if last_end is not None:
                    last_end[0].resumed_after_ms = (event.start_frame - last_end[1]) * FRAME_MS
                    last_end = None
                pending = None
            elif isinstance(event, SpeechPaused):
                started = time.perf_counter()
                words = decode(event.pcm)
                pending = (event, words, (time.perf_counter() - started) * 1000)
            elif isinstance(event, SpeechEnded) and pending is not None:
                final = pending[0].frames == event.frames
                out.append(judged(*pending, final, index))
                last_end = (out[-1], event.end_frame) if final else None
                pending = None
        if pending is not None and vad.in_speech and not vad.still_paused(pending[0]):
            out.append(judged(*pending, False, index))
            pending = None
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, help="only the first N prompts")
    parser.add_argument("--json", action="store_true", help="print every pause as JSON")
    args = parser.parse_args()

    from voice.stt import default_whisper_path
    from voice.whisper import WhisperRecognizer, resolve_model_dir

    recognizer = WhisperRecognizer(resolve_model_dir(default_whisper_path()))
    pairs = [p for p in find_pairs(PROMPTS) if len(p.reference.split()) >= 4]
    pairs = pairs[: args.limit] if args.limit else pairs
    pauses: list[Pause] = []
    for pair in pairs:
        pcm, rate = read_wav(pair.wav)
        pcm = resample(pcm, rate, SAMPLE_RATE)
        pcm += bytes(-len(pcm) % 320)
        pauses += pauses_of(pair.name, pcm, recognizer.transcribe)
    if args.json:
        print(json.dumps([asdict(p) for p in pauses], ensure_ascii=False, indent=1))
        return 0

    inner = [p for p in pauses if not p.final]
    final = [p for p in pauses if p.final]
    print(f"{len(pairs)} prompts, {len(inner)} inner pauses, {len(final)} final pauses")
    print("\ninner pauses whose silence reached X (the speaker then went on):")
    print("  X ms | pauses | words complete | complete and decoded by then | prompts")
    for x in CANDIDATES_MS:
        reached = [p for p in inner if p.silence_ms >= x]
        complete = [p for p in reached if p.ending == Ending.COMPLETE]
        in_time = [p for p in complete if PAUSE_MS + p.decode_ms <= p.silence_ms]
        prompts = len({p.prompt for p in in_time})
        print(
            f"  {x:4d} | {len(reached):6d} | {len(complete):14d} | {len(in_time):28d} | {prompts}"
        )
    counts = {e: sum(1 for p in final if p.ending == e) for e in Ending}
    print("\nfinal pauses:", ", ".join(f"{e}: {n}" for e, n in counts.items()))
    decodes = [p.decode_ms for p in final]
    if decodes:
        print(
            f"decode at the final pause: median {statistics.median(decodes):.0f} ms, "
            f"max {max(decodes):.0f} ms (this machine, one decode at a time)"
        )
    split = [p for p in final if p.resumed_after_ms is not None]
    print(
        f"\nprompts the 500 ms end-point cut: {len({p.prompt for p in split})} "
        f"({len(split)} cuts); the speaker went on after:"
    )
    for p in split:
        print(f"  {p.prompt} [{p.resumed_after_ms} ms, {p.ending}]: {p.words!r}")
    print("\nfinal pauses judged unfinished:")
    for p in final:
        if p.ending != Ending.COMPLETE:
            print(f"  {p.prompt}: {p.words!r} ({p.ending})")
    print("\ninner pauses >= 240 ms judged complete:")
    for p in inner:
        if p.silence_ms >= 240 and p.ending == Ending.COMPLETE:
            print(f"  {p.prompt} [{p.silence_ms} ms]: {p.words!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
