from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.support.system import needs_program
from voice.audio import dbfs, float_to_pcm, read_wav, resample, silence, split_frames, tone
from voice.vad import (
    EndReason,
    SpeechEnded,
    SpeechPaused,
    SpeechStarted,
    VadEvent,
    VoiceActivityDetector,
)


def run(vad: VoiceActivityDetector, pcm: bytes) -> list[tuple[int, VadEvent]]:
    """(index of the frame that produced it, event) for every event."""
    out: list[tuple[int, VadEvent]] = []
    for i, frame in enumerate(split_frames(pcm)):
        out += [(i, e) for e in vad.process(frame)]
    return out


def started(events: list[tuple[int, VadEvent]]) -> list[SpeechStarted]:
    return [e for _, e in events if isinstance(e, SpeechStarted)]


def ended(events: list[tuple[int, VadEvent]]) -> list[SpeechEnded]:
    return [e for _, e in events if isinstance(e, SpeechEnded)]


def test_silence_gives_no_event() -> None:
    vad = VoiceActivityDetector()
    assert run(vad, silence(3000)) == []
    assert vad.flush() == []
    assert vad.frame_index == 150


def test_faint_noise_is_below_the_energy_floor() -> None:
    rng = np.random.default_rng(1)
    noise = float_to_pcm(rng.normal(0.0, 10 ** (-62 / 20), 8000 * 2))
    assert dbfs(noise) < -55
    assert run(VoiceActivityDetector(), noise) == []


def test_tone_burst_start_and_end_frames() -> None:
    # 1 s silence (frames 0-49), 600 ms tone (frames 50-79), 1 s silence.
    vad = VoiceActivityDetector()
    events = run(vad, silence(1000) + tone(440, 600) + silence(1000))
    assert [type(e) for _, e in events] == [SpeechStarted, SpeechPaused, SpeechEnded]
    (at_start, start), (at_pause, pause), (at_end, end) = events
    # Start confirmed after 3 voiced frames: 60 ms, well inside the 100 ms barge-in budget.
    assert start == SpeechStarted(start_frame=50, detected_frame=52)
    assert at_start == 52
    assert isinstance(end, SpeechEnded)
    assert (end.start_frame, end.end_frame) == (50, 80)
    # Ends after 25 silent frames (500 ms).
    assert at_end == end.detected_frame == 80 + 25 - 1
    assert end.reason is EndReason.SILENCE
    assert end.speech_ms == 600
    # 10 frames of pre-roll + 30 of tone + 5 of trailing silence.
    assert end.first_frame == 40
    assert len(end.frames) == 45
    assert end.pcm == b"".join(end.frames)
    assert dbfs(end.frames[9]) < -100 and dbfs(end.frames[10]) > -20
    assert not vad.in_speech
    # After 8 silent frames (160 ms) the utterance as it ends: the same frames.
    assert at_pause == pause.detected_frame == 80 + 8 - 1
    assert pause.frames == end.frames and pause.start_frame == 50


def test_a_pause_then_more_speech_gives_a_new_pause_with_the_longer_utterance() -> None:
    events = run(
        VoiceActivityDetector(), tone(300, 400) + silence(300) + tone(300, 400) + silence(800)
    )
    pauses = [e for _, e in events if isinstance(e, SpeechPaused)]
    [end] = ended(events)
    # The first pause is stale once the caller went on; the last one is the end.
    assert len(pauses) == 2 and pauses[0].frames != end.frames
    assert pauses[1].frames == end.frames
    assert [type(e) for _, e in events][-2:] == [SpeechPaused, SpeechEnded]
    # No pause event when it would not give the end's frames (or when turned off).
    for vad in (VoiceActivityDetector(pause_frames=0), VoiceActivityDetector(pause_frames=3)):
        assert not [
            e for _, e in run(vad, tone(300, 400) + silence(800)) if isinstance(e, SpeechPaused)
        ]


def test_too_short_burst_does_not_start_speech() -> None:
    vad = VoiceActivityDetector()
    assert run(vad, silence(200) + tone(440, 40) + silence(600)) == []


def test_short_pause_keeps_one_utterance_long_pause_splits() -> None:
    one = run(
        VoiceActivityDetector(), tone(300, 400) + silence(300) + tone(300, 400) + silence(800)
    )
    assert len(started(one)) == 1 and len(ended(one)) == 1
    assert (ended(one)[0].start_frame, ended(one)[0].end_frame) == (0, 55)

    two = run(
        VoiceActivityDetector(), tone(300, 400) + silence(700) + tone(300, 400) + silence(800)
    )
    assert [(e.start_frame, e.end_frame) for e in ended(two)] == [(0, 20), (55, 75)]


def test_configurable_thresholds() -> None:
    vad = VoiceActivityDetector(
        start_frames=5, end_frames=10, pre_roll_frames=0, post_roll_frames=0
    )
    events = run(vad, silence(200) + tone(440, 300) + silence(400))
    start, end = started(events)[0], ended(events)[0]
    assert (start.start_frame, start.detected_frame) == (10, 14)
    assert (end.end_frame, end.detected_frame) == (25, 34)
    assert end.first_frame == 10 and len(end.frames) == 15


def test_max_utterance_length() -> None:
    vad = VoiceActivityDetector(max_frames=50)
    events = run(vad, tone(440, 2900) + silence(1000))
    ends = ended(events)
    assert ends[0].reason is EndReason.MAX_LENGTH
    assert (ends[0].start_frame, ends[0].detected_frame) == (0, 49)
    # Still talking: a new utterance starts 3 frames later.
    assert started(events)[1].start_frame == 50
    assert ends[-1].reason is EndReason.SILENCE
    assert (ends[-1].start_frame, ends[-1].end_frame) == (100, 145)
    assert len(ends) == 3


def test_flush_closes_the_utterance_in_progress() -> None:
    vad = VoiceActivityDetector()
    assert len(started(run(vad, silence(100) + tone(440, 400)))) == 1
    (event,) = vad.flush()
    assert isinstance(event, SpeechEnded)
    assert event.reason is EndReason.FLUSH
    assert (event.start_frame, event.end_frame) == (5, 25)
    assert vad.flush() == []
    vad.reset()
    assert vad.frame_index == 0


def test_bad_frames_and_settings_are_rejected() -> None:
    vad = VoiceActivityDetector()
    with pytest.raises(ValueError, match="320 bytes"):
        vad.process(bytes(100))
    with pytest.raises(ValueError):
        VoiceActivityDetector(aggressiveness=4)
    with pytest.raises(ValueError):
        VoiceActivityDetector(frame_ms=25)
    # 10 and 30 ms frames work at 8 kHz too.
    for ms in (10, 30):
        v = VoiceActivityDetector(frame_ms=ms)
        assert v.frame_bytes == 16 * ms
        events = []
        pcm = silence(300) + tone(440, 300) + silence(900)
        for i in range(0, len(pcm) - v.frame_bytes + 1, v.frame_bytes):
            events += v.process(pcm[i : i + v.frame_bytes])
        assert [type(e) for e in events if not isinstance(e, SpeechPaused)] == [
            SpeechStarted,
            SpeechEnded,
        ]


@needs_program("espeak-ng", "espeak-ng")
def test_espeak_speech_padded_with_silence(tmp_path: Path) -> None:
    wav = tmp_path / "speech.wav"
    subprocess.run(
        ["espeak-ng", "-v", "fr", "-w", str(wav), "Bonjour, je voudrais une carte d'identité"],
        check=True,
    )
    pcm, rate = read_wav(wav)
    speech = resample(pcm, rate, 8000)
    frames = list(split_frames(speech, pad=True))
    loud = [i for i, f in enumerate(frames) if dbfs(f) > -45]
    first_loud, last_loud = loud[0], loud[-1]

    vad = VoiceActivityDetector()
    events = run(vad, silence(1000) + b"".join(frames) + silence(1500))
    assert len(started(events)) == 1, events
    assert len(ended(events)) == 1
    end = ended(events)[0]
    assert abs(end.start_frame - (50 + first_loud)) <= 3
    assert abs(end.end_frame - (50 + last_loud + 1)) <= 3
    assert end.reason is EndReason.SILENCE
    assert 1500 <= end.speech_ms <= 3500


def feed(vad: VoiceActivityDetector, pcm: bytes) -> list[VadEvent]:
    return [e for frame in split_frames(pcm) for e in vad.process(frame)]


def test_end_now_gives_the_end_the_silence_would_have_given() -> None:
    # 200 ms silence (frames 0-9), 600 ms tone (10-39), then silence.
    vad = VoiceActivityDetector()
    events = feed(vad, silence(200) + tone(440, 600) + silence(160))
    [pause] = [e for e in events if isinstance(e, SpeechPaused)]
    assert vad.still_paused(pause) and vad.silence_frames == 8
    feed(vad, silence(140))  # 300 ms of silence in all, no event yet
    assert vad.in_speech and vad.silence_frames == 15 and vad.still_paused(pause)
    early = vad.end_now()
    assert early is not None and early.reason is EndReason.COMPLETE
    assert (early.start_frame, early.end_frame, early.detected_frame) == (10, 40, 54)
    assert early.frames == pause.frames  # the early decode's audio
    assert not vad.in_speech and vad.silence_frames == 0 and vad.end_now() is None
    # The same audio left to the 500 ms end-point: the same utterance, 10 frames later.
    [late] = ended(run(VoiceActivityDetector(), silence(200) + tone(440, 600) + silence(600)))
    assert late.reason is EndReason.SILENCE and late.detected_frame == 64
    assert (late.first_frame, late.start_frame, late.end_frame, late.frames) == (
        early.first_frame,
        early.start_frame,
        early.end_frame,
        early.frames,
    )
    # The VAD goes on as before: the next utterance starts and ends as usual.
    events = feed(vad, silence(100) + tone(440, 300) + silence(600))
    assert [type(e) for e in events] == [SpeechStarted, SpeechPaused, SpeechEnded]


def test_still_paused_is_false_once_the_caller_speaks_again() -> None:
    vad = VoiceActivityDetector()
    [pause] = [e for e in feed(vad, tone(440, 400) + silence(200)) if isinstance(e, SpeechPaused)]
    assert vad.still_paused(pause)
    feed(vad, tone(440, 100) + silence(200))  # voice again, then a new pause
    assert vad.in_speech and not vad.still_paused(pause)
    assert VoiceActivityDetector(pause_frames=0).still_paused(pause) is False


def test_hold_end_lengthens_this_utterance_only() -> None:
    vad = VoiceActivityDetector()
    # 400 ms tone (frames 0-19), the end-point held to 50 silent frames (1 s).
    feed(vad, tone(440, 400) + silence(100))
    vad.hold_end(50)
    assert vad.end_after_frames == 50
    assert [type(e) for e in feed(vad, silence(800))] == [SpeechPaused]
    assert vad.in_speech and vad.silence_frames == 45  # 900 ms: the same utterance
    events = feed(vad, silence(100))
    [end] = [e for e in events if isinstance(e, SpeechEnded)]
    assert end.reason is EndReason.SILENCE and (end.end_frame, end.detected_frame) == (20, 69)
    assert vad.end_after_frames == 25  # the next utterance ends after 500 ms again
    [again] = ended(run(vad, tone(440, 400) + silence(600)))
    assert again.detected_frame - again.end_frame + 1 == 25
    # Never shorter than end_frames; outside speech it does nothing.
    vad.hold_end(3)
    assert vad.end_after_frames == 25


def test_a_held_utterance_goes_on_when_the_caller_speaks_again() -> None:
    # 400 ms tone, 700 ms silence (past the usual 500 ms), 400 ms tone: one utterance.
    vad = VoiceActivityDetector()
    feed(vad, tone(440, 400) + silence(160))
    vad.hold_end(50)
    events = feed(vad, silence(540) + tone(440, 400) + silence(1200))
    [end] = [e for e in events if isinstance(e, SpeechEnded)]
    assert (end.start_frame, end.end_frame) == (0, 75)
    # Held for the whole utterance (the caller's next pause may hold it again).
    assert end.detected_frame == 75 + 50 - 1
    unheld = ended(run(VoiceActivityDetector(), tone(440, 400) + silence(700) + tone(440, 400)))
    assert len(unheld) == 1 and (unheld[0].start_frame, unheld[0].end_frame) == (0, 20)
