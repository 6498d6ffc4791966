"""Speech-to-text: the `SpeechRecognizer` interface and its Vosk implementation.

A `vosk.Model` is heavy (hundreds of MB, seconds to load): it is loaded once per
process and path, and shared. Each call gets its own `VoskRecognizer` (one
`KaldiRecognizer`), fed with the caller's 8 kHz audio resampled to the model's
rate (conf/mfcc.conf `--sample-frequency`, 16 kHz when absent).

Decoding is CPU work in C: the `*_async` methods run it in a thread pool so the
event loop (RTP pacing, other calls) never waits on it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from voice.audio import StreamResampler
from voice.session import SAMPLE_RATE

_T = TypeVar("_T")

DEFAULT_MODEL_SAMPLE_RATE = 16000
# Where `make voice-model` is expected to unpack the French model.
MODEL_PATH_ENV = "GUICHET_VOSK_MODEL"
# One transcribe() feeds the recogniser in chunks of this many bytes of 8 kHz audio (0.5 s).
_TRANSCRIBE_CHUNK = SAMPLE_RATE
# One second of faint deterministic noise at up to 48 kHz, fed once per call to warm up.
_WARM_UP_NOISE = (np.random.default_rng(0).standard_normal(48000) * 300).astype("<i2").tobytes()


class SpeechModelMissing(RuntimeError):
    """The configured speech model directory does not exist or is not a model."""

    def __init__(self, path: str | Path, detail: str = "does not exist") -> None:
        self.path = Path(path)
        super().__init__(
            f"Speech recognition model {detail}: {self.path}. "
            "Run `make voice-model` to install the French Vosk model, "
            f"or point the configuration (or {MODEL_PATH_ENV}) at a Vosk model directory."
        )


def default_model_path() -> Path:
    """$GUICHET_VOSK_MODEL, else <data dir>/models/vosk-fr."""
    explicit = os.environ.get(MODEL_PATH_ENV)
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("GUICHET_DATA_DIR", "data")) / "models" / "vosk-fr"


def default_whisper_path() -> Path:
    """<data dir>/models/whisper-base (the packaged model is assembled there)."""
    return Path(os.environ.get("GUICHET_DATA_DIR", "data")) / "models" / "whisper-base"


@runtime_checkable
class SpeechRecognizer(Protocol):
    """Streaming recogniser for one call; input is 8 kHz s16le mono PCM.

    Use `start()`, then `accept()` per chunk (any length, typically 20 ms frames
    or one VAD utterance), then `finish()` for the final text. The async
    variants do the same work off the event loop; await them in order.
    """

    def start(self) -> None: ...

    def accept(self, pcm_8k: bytes) -> str | None:
        """Feed audio; the running transcript if it changed, else None."""
        ...

    def finish(self) -> str:
        """End of utterance: the final text; the recogniser is ready for `start` again."""
        ...

    def transcribe(self, pcm_8k: bytes) -> str: ...

    async def accept_async(self, pcm_8k: bytes) -> str | None: ...

    async def finish_async(self) -> str: ...

    async def transcribe_async(self, pcm_8k: bytes) -> str: ...


@runtime_checkable
class UtteranceDecoder(Protocol):
    """A recogniser that decodes whole utterances (Whisper): it can decode audio
    without touching the streaming buffer, so the call can start decoding at the
    caller's first pause and keep the text if nothing follows before the end-point."""

    async def decode_async(self, pcm_8k: bytes) -> str: ...


# --- shared model and thread pool --------------------------------------------------

_models: dict[Path, Any] = {}
_models_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()
_quiet = False


def _vosk() -> Any:
    global _quiet
    import vosk

    if not _quiet:
        vosk.SetLogLevel(-1)  # Kaldi's log lines would flood the logs at every load
        _quiet = True
    return vosk


def _check_model_dir(path: Path) -> None:
    if not path.is_dir():
        raise SpeechModelMissing(path)
    if not (path / "am").is_dir() and not (path / "final.mdl").exists():
        raise SpeechModelMissing(path, "is not a Vosk model directory (no am/)")


def load_model(model_path: str | Path) -> Any:
    """The process-wide `vosk.Model` for this path, loaded on first use (blocking)."""
    path = Path(model_path).expanduser().resolve()
    with _models_lock:
        model = _models.get(path)
        if model is not None:
            return model
        _check_model_dir(path)
        vosk = _vosk()
        try:
            model = vosk.Model(str(path))
        except Exception as exc:  # vosk raises a bare Exception("Failed to create a model")
            raise SpeechModelMissing(path, f"could not be loaded ({exc})") from exc
        _models[path] = model
        return model


async def load_model_async(model_path: str | Path) -> Any:
    """`load_model` in a worker thread: for application start-up."""
    return await asyncio.to_thread(load_model, model_path)


def model_sample_rate(model_path: str | Path) -> int:
    """The rate the model was trained on: --sample-frequency in conf/mfcc.conf (16 kHz default)."""
    conf = Path(model_path) / "conf" / "mfcc.conf"
    try:
        text = conf.read_text(encoding="utf-8")
    except OSError:
        return DEFAULT_MODEL_SAMPLE_RATE
    match = re.search(r"^\s*--sample-frequency\s*=\s*([0-9.]+)", text, re.MULTILINE)
    return int(float(match.group(1))) if match else DEFAULT_MODEL_SAMPLE_RATE


def shared_executor() -> ThreadPoolExecutor:
    """The pool decoding runs in (one thread per core: decoding is CPU-bound)."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(
                max_workers=max(1, os.cpu_count() or 1), thread_name_prefix="stt"
            )
        return _executor


# --- Vosk ----------------------------------------------------------------------------


class VoskRecognizer:
    """One call's recogniser on a shared Vosk model.

    Not for concurrent use from several tasks: one call, one instance, calls in
    order. A lock still serialises the worker-thread calls.
    """

    def __init__(
        self,
        model_path: str | Path,
        *,
        input_rate: int = SAMPLE_RATE,
        executor: Executor | None = None,
    ) -> None:
        self.model_path = Path(model_path).expanduser().resolve()
        self.model = load_model(self.model_path)
        self.model_rate = model_sample_rate(self.model_path)
        self.input_rate = input_rate
        self._executor = executor
        self._lock = threading.Lock()
        self._resampler = StreamResampler(input_rate, self.model_rate)
        self._recognizer: Any = None
        self._segments: list[str] = []
        self._last_reported = ""

    # -- streaming (blocking; call from a worker thread or via the async variants) --

    def start(self) -> None:
        """Begin a new utterance (cheap: the Kaldi recogniser is built on first audio)."""
        with self._lock:
            self._reset()

    def _reset(self) -> None:
        # Building a KaldiRecognizer costs hundreds of ms (measured ~600 ms with the
        # Korean model): keep it for the whole call and only reset its state.
        if self._recognizer is not None:
            self._recognizer.Reset()
        self._segments = []
        self._last_reported = ""
        self._resampler.reset()

    async def warm_up_async(self) -> None:
        """Build the Kaldi recogniser now (e.g. during the greeting), off the loop."""
        await self._run(self._warm_up)

    def _warm_up(self) -> None:
        with self._lock:
            rec = self._kaldi()
            # Building is not enough: Kaldi's first decode on a recogniser costs about a
            # second (graph pages, caches; measured 1.1 s with the Korean model, later
            # decodes ~0.1 s). One second of faint noise pays it during the greeting.
            rec.AcceptWaveform(_WARM_UP_NOISE[: self.model_rate * 2])
            rec.Reset()

    def _kaldi(self) -> Any:
        if self._recognizer is None:
            rec = _vosk().KaldiRecognizer(self.model, float(self.model_rate))
            rec.SetWords(False)
            self._recognizer = rec
        return self._recognizer

    def _feed(self, pcm_model_rate: bytes) -> None:
        if not pcm_model_rate:
            return
        rec = self._kaldi()
        if rec.AcceptWaveform(pcm_model_rate):
            # Vosk found an end point: this segment is final, keep it.
            text = json.loads(rec.Result()).get("text", "").strip()
            if text:
                self._segments.append(text)

    def _running_text(self) -> str:
        partial = ""
        if self._recognizer is not None:
            partial = json.loads(self._recognizer.PartialResult()).get("partial", "").strip()
        return " ".join([*self._segments, partial]).strip()

    def accept(self, pcm_8k: bytes) -> str | None:
        with self._lock:
            self._feed(self._resampler.process(pcm_8k))
            text = self._running_text()
            if text == self._last_reported:
                return None
            self._last_reported = text
            return text

    def finish(self) -> str:
        with self._lock:
            self._feed(self._resampler.flush())
            if self._recognizer is not None:
                text = json.loads(self._recognizer.FinalResult()).get("text", "").strip()
                if text:
                    self._segments.append(text)
            final = " ".join(self._segments).strip()
            self._reset()
            return final

    def transcribe(self, pcm_8k: bytes) -> str:
        """One-shot: the text of a whole buffer of 8 kHz audio."""
        self.start()
        for i in range(0, len(pcm_8k), _TRANSCRIBE_CHUNK):
            self.accept(pcm_8k[i : i + _TRANSCRIBE_CHUNK])
        return self.finish()

    # -- async: same work in the thread pool --

    def _run(self, fn: Callable[..., _T], *args: Any) -> Awaitable[_T]:
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self._executor or shared_executor(), fn, *args)

    async def accept_async(self, pcm_8k: bytes) -> str | None:
        return await self._run(self.accept, pcm_8k)

    async def finish_async(self) -> str:
        return await self._run(self.finish)

    async def transcribe_async(self, pcm_8k: bytes) -> str:
        return await self._run(self.transcribe, pcm_8k)

    def close(self) -> None:
        """Drop the Kaldi recogniser (the shared model stays loaded)."""
        with self._lock:
            self._reset()
