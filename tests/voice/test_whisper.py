"""The faster-whisper engine: the packaged model, the recogniser, and its word error
rate on real French telephone speech (Debian's asterisk-core-sounds-fr-wav)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tests.support.system import needs_french_prompts
from tools.eval_stt import edit_distance, find_pairs, normalize, summarise
from tools.eval_stt import evaluate as evaluate_stt
from voice.audio import pcm_to_float, read_wav, resample
from voice.session import SAMPLE_RATE
from voice.stt import SpeechModelMissing, SpeechRecognizer
from voice.whisper import (
    PACKAGED_MODEL_SHA256,
    WhisperOptions,
    WhisperRecognizer,
    assemble_packaged_model,
    resolve_model_dir,
)

pytestmark = pytest.mark.voice

PROMPTS = Path("/usr/share/asterisk/sounds/fr")
# Callers speak in sentences; the target is scored on the prompts of 4 words or more
# (252 of them, about 20 minutes of speech). Isolated words (digits, letters, the
# phonetic alphabet) are a known weakness of Whisper, measured in docs/benchmarks.md;
# on the phone, digits and yes/no go through the keypad.
MIN_WORDS = 4
# The same int8 model decodes differently on different CPUs (CTranslate2 picks its
# kernels by instruction set): 14.2 % measured on an AMD EPYC VM, 16.5 % on an Intel
# Xeon one, the same audio and code (docs/benchmarks.md). The bound catches a real
# regression (greedy decoding, a wrong resampling, the wrong language) on either.
WER_TARGET = 0.18


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return assemble_packaged_model(tmp_path_factory.mktemp("whisper") / "whisper-base")


@pytest.fixture(scope="module")
def recognizer(model_dir: Path) -> WhisperRecognizer:
    return WhisperRecognizer(model_dir)


def test_packaged_model_is_joined_verified_and_reused(model_dir: Path) -> None:
    for name in ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt"):
        assert (model_dir / name).is_file(), name
    assert (model_dir / "guichet-model.sha256").read_text().strip() == PACKAGED_MODEL_SHA256
    # Both halves: the joined file is the size of the two parts together (~145 MB).
    assert (model_dir / "model.bin").stat().st_size > 140_000_000
    before = (model_dir / "model.bin").stat().st_mtime_ns
    assert assemble_packaged_model(model_dir) == model_dir
    assert (model_dir / "model.bin").stat().st_mtime_ns == before  # not rebuilt
    assert not [p for p in model_dir.parent.iterdir() if p.name.startswith(".whisper-")]


def test_a_damaged_model_is_rebuilt(tmp_path: Path, model_dir: Path) -> None:
    target = tmp_path / "whisper-base"
    assemble_packaged_model(target)
    with open(target / "model.bin", "r+b") as f:  # a half-written file from a crash
        f.truncate(1000)
    (target / "guichet-model.sha256").write_text("0" * 64 + "\n")
    assemble_packaged_model(target)
    assert (target / "model.bin").stat().st_size == (model_dir / "model.bin").stat().st_size


def test_an_operators_model_directory_is_used_as_is(tmp_path: Path) -> None:
    own = tmp_path / "whisper-small"
    own.mkdir()
    (own / "model.bin").write_bytes(b"not a real model")
    (own / "config.json").write_text("{}")
    assert resolve_model_dir(own) == own  # no stamp: the operator's, never overwritten
    with pytest.raises(SpeechModelMissing, match="could not be loaded"):
        WhisperRecognizer(own)


@needs_french_prompts
def test_recognizer_follows_the_streaming_interface(recognizer: WhisperRecognizer) -> None:
    assert isinstance(recognizer, SpeechRecognizer)
    pcm, rate = read_wav(PROMPTS / "vm-goodbye.wav")  # "Au revoir."
    pcm = resample(pcm, rate, SAMPLE_RATE)
    recognizer.start()
    for i in range(0, len(pcm), 1600):  # 100 ms chunks, as a call feeds it
        assert recognizer.accept(pcm[i : i + 1600]) is None  # no partial results
    text = recognizer.finish()
    assert text.lower().strip(" .!") in ("au revoir", "aurevoir"), text
    assert recognizer.finish() == ""  # the buffer was consumed


def test_the_encoder_window_is_fitted_to_short_utterances(
    recognizer: WhisperRecognizer, model_dir: Path
) -> None:
    window = recognizer._window
    assert window.frames(150) == 600  # 1.5 s: the 6 s minimum
    assert window.frames(420) == 800  # 4.2 s + 3 s margin, rounded up to whole seconds
    assert window.frames(2650) is None  # near 30 s: Whisper's own window
    full = WhisperRecognizer(model_dir, options=WhisperOptions(window_margin_s=None))
    assert full._window.frames(150) is None


def test_fitted_and_full_windows_hear_a_sentence_alike(
    recognizer: WhisperRecognizer, model_dir: Path
) -> None:
    full = WhisperRecognizer(model_dir, options=WhisperOptions(window_margin_s=None))
    references = {p.wav.stem: p.reference for p in find_pairs(PROMPTS, None)}
    # 1.5, 2.2 and 2.8 s of speech: what a caller's question lasts. Any window but
    # Whisper's 30 s moves a word here and there ("parler à un préposé" became "parler
    # un proposé"; on all 252 sentences 16.2 % WER against 15.9 %, docs/benchmarks.md),
    # so each is allowed two more errors and the three together two; an empty, looping
    # or garbled decode makes five or more on each.
    fitted_total = full_total = 0
    for name in ("conf-errormenu", "queue-callswaiting", "agent-pass"):
        pcm, rate = read_wav(PROMPTS / f"{name}.wav")
        pcm = resample(pcm, rate, SAMPLE_RATE)
        reference = normalize(references[name])
        fitted = recognizer.transcribe(pcm)
        full_errors = edit_distance(reference, normalize(full.transcribe(pcm)))
        fitted_errors = edit_distance(reference, normalize(fitted))
        assert fitted_errors <= full_errors + 2, (name, fitted)
        fitted_total, full_total = fitted_total + fitted_errors, full_total + full_errors
        audio = pcm_to_float(resample(pcm, SAMPLE_RATE, 16000)).astype(np.float32)
        # It was the fitted decode, not the full-window fallback, that answered.
        assert recognizer._window.decode(audio) == fitted
    assert fitted_total <= full_total + 2


def test_a_decode_that_waits_for_another_calls_is_greedy(
    recognizer: WhisperRecognizer, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import voice.whisper as whisper

    beams: list[int | None] = []
    real_decode = whisper._FittedWindow.decode
    first_decoding = threading.Event()
    release = threading.Event()

    def recording_decode(
        window: whisper._FittedWindow, audio: np.ndarray, beam: int | None = None
    ) -> str | None:
        beams.append(beam)
        if not first_decoding.is_set():
            first_decoding.set()
            release.wait(30)  # the first decode is still running
        return real_decode(window, audio, beam)

    monkeypatch.setattr(whisper._FittedWindow, "decode", recording_decode)
    pcm, rate = read_wav(PROMPTS / "conf-errormenu.wav")  # "Ce choix n'est pas valide"
    pcm = resample(pcm, rate, SAMPLE_RATE)

    def while_decoding(first_call: WhisperRecognizer) -> str:
        beams.clear()
        first_decoding.clear()
        release.clear()
        first = threading.Thread(target=first_call.transcribe, args=(pcm,))
        first.start()
        assert first_decoding.wait(30)
        try:
            return recognizer.transcribe(pcm)
        finally:
            release.set()
            first.join(60)

    # Another call's decode is running: this one is greedy, and still right.
    second = while_decoding(WhisperRecognizer(model_dir))
    assert beams == [5, 1]
    assert normalize(second) == normalize("Ce choix n'est pas valide"), second
    # The same call's own earlier decode (an early decode at a pause) is not another
    # caller: full beam search.
    while_decoding(recognizer)
    assert beams == [5, 5]
    assert not whisper._decodes


def test_a_fitted_decode_that_repeats_itself_is_not_trusted(
    recognizer: WhisperRecognizer,
) -> None:
    # What a window hugging 1.5 s of "Ce choix n'est pas valide" decoded to (margin 1 s).
    looped = " ".join(["ce choix n'est pas valide"] * 14)
    assert recognizer._window._repeats(looped, 1.5)
    assert not recognizer._window._repeats("Ce choix n'est pas valide.", 1.5)
    assert not recognizer._window._repeats(
        "Composez le nouveau numéro de poste suivi du dièse ou, pour un service immédiat, "
        "appuyez sur dièse dès maintenant.",
        7.3,
    )


def test_silence_and_noise_give_no_text(recognizer: WhisperRecognizer) -> None:
    # Whisper invents subtitles in silence; a call must not hear a question that was
    # never asked when the VAD lets a noise through.
    rng = np.random.default_rng(7)
    noise = (rng.standard_normal(3 * SAMPLE_RATE) * 32768 * 10 ** (-30 / 20)).astype(np.int16)
    assert recognizer.transcribe(bytes(3 * SAMPLE_RATE * 2)) == ""
    assert recognizer.transcribe(noise.tobytes()) == ""
    assert recognizer.transcribe(b"\x00\x01" * 100) == ""  # 25 ms: too short to be speech


@needs_french_prompts
# All 252 sentences take about 4 minutes on a quiet 2-core machine, more than the
# default 300 s on a loaded CI one; a sample would not measure the same target (every
# 4th sentence scored 16.8 %, its transcripts' own misspellings weigh more).
@pytest.mark.timeout(1200)
def test_word_error_rate_on_real_french_telephone_speech(recognizer: WhisperRecognizer) -> None:
    pairs = find_pairs(PROMPTS, None)
    assert len(pairs) > 300, "the Debian French prompts and their transcripts were not found"
    sentences = [p for p in pairs if len(normalize(p.reference)) >= MIN_WORDS]
    summary = summarise(
        evaluate_stt(recognizer, sentences), engine="whisper", model="", directory="", load_s=0
    )
    worst = sorted(summary.items, key=lambda r: r.errors, reverse=True)[:5]
    report = "\n".join(f"{r.name}: {r.reference!r} -> {r.hypothesis!r}" for r in worst)
    print(f"WER {summary.wer:.1%} on {summary.files} sentences, RTF {summary.rtf:.2f}\n{report}")
    assert summary.files > 200 and summary.ref_words > 2500
    assert summary.wer <= WER_TARGET, report


def test_engine_is_chosen_from_the_settings(tmp_path: Path) -> None:
    from bot.settings import SettingsError, load_settings

    env = {"GUICHET_DATA_DIR": str(tmp_path)}
    voice = load_settings(env=env).voice
    assert voice.stt_engine == "auto"
    assert voice.whisper_model == tmp_path / "models" / "whisper-base"
    with pytest.raises(SettingsError, match="stt_engine"):
        load_settings(env={**env, "GUICHET__VOICE__STT_ENGINE": "kaldi"})


def test_auto_prefers_an_installed_vosk_model_else_whisper(tmp_path: Path) -> None:
    from bot.settings import load_settings
    from voice.channel import PhoneChannel

    def engine(**env: str) -> str:
        settings = load_settings(env={"GUICHET_DATA_DIR": str(tmp_path), **env})
        return PhoneChannel(SimpleNamespace(settings=settings)).choose_engine()  # type: ignore[arg-type]

    assert engine() == "whisper"  # no French Vosk model in a fresh data directory
    (tmp_path / "vosk").mkdir()
    assert engine(GUICHET__VOICE__VOSK_MODEL=str(tmp_path / "vosk")) == "vosk"
    assert engine(GUICHET__VOICE__STT_ENGINE="vosk") == "vosk"
    assert (
        engine(
            GUICHET__VOICE__VOSK_MODEL=str(tmp_path / "vosk"), GUICHET__VOICE__STT_ENGINE="whisper"
        )
        == "whisper"
    )


def test_a_calls_recogniser_takes_its_window_from_the_settings(model_dir: Path) -> None:
    from bot.settings import load_settings
    from voice.channel import PhoneChannel

    def recogniser(window: str) -> WhisperRecognizer:
        env = {"GUICHET__VOICE__WHISPER_MODEL": str(model_dir)}
        settings = load_settings(env={**env, "GUICHET__VOICE__WHISPER_WINDOW": window})
        channel = PhoneChannel(SimpleNamespace(settings=settings), engine="whisper")  # type: ignore[arg-type]
        made = channel.new_recognizer()
        assert isinstance(made, WhisperRecognizer)
        return made

    assert recogniser("fit")._window.frames(150) == 600
    assert recogniser("full")._window.frames(150) is None
