"""Text-to-speech: the `SpeechSynthesizer` interface and its pyttsx3 (espeak-ng) implementation.

pyttsx3's engine is a process-wide singleton whose run loop is not re-entrant,
and it has sharp edges (measured with 2.99): `runAndWait()` with nothing queued
never returns, and two `save_to_file` before one `runAndWait` write only the
last file. So one daemon thread owns the engine for the whole process and
takes requests from a queue, one `save_to_file` + `runAndWait` each; every
`Pyttsx3Synthesizer` shares that worker and passes its voice and rate along
with each request.

espeak writes 22,050 Hz WAV; it is resampled to 8 kHz s16le mono (telephony).
Note: espeak's voice is intelligible to people but not to speech recognisers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from voice.audio import read_wav, resample
from voice.session import SAMPLE_RATE

log = logging.getLogger(__name__)

DEFAULT_RATE_WPM = 170


class SpeechSynthesisError(RuntimeError):
    """The engine could not produce audio (no French voice, engine failure, time-out...)."""


@runtime_checkable
class SpeechSynthesizer(Protocol):
    async def synthesize(self, text: str) -> bytes:
        """PCM for `text`: 8 kHz s16le mono; b"" when there is nothing to say."""
        ...


def _speakable(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


@dataclass(frozen=True)
class _Request:
    text: str
    voice: str | None  # explicit voice id, or None to pick by language
    language: str
    rate_wpm: int
    volume: float
    future: concurrent.futures.Future[tuple[bytes, str]]


_STOP = object()
_engine_lock = threading.Lock()


def _silence_saved_message(module: Any) -> None:
    """pyttsx3's espeak driver print()s "Audio saved to <file>" after each file.

    Shadow `print` in that module only (a module global wins over the builtin):
    those lines are dropped, anything else goes to the log. Process-wide
    stdout redirection would swallow other threads' output too.
    """

    def quiet_print(*args: Any, **kwargs: Any) -> None:
        message = " ".join(str(a) for a in args)
        if not message.startswith("Audio saved to"):
            log.warning("pyttsx3: %s", message)

    module.print = quiet_print


def _language_matches(voice: Any, language: str) -> int:
    """0 = no match; higher is better (exact tag beats primary subtag)."""
    wanted = language.lower().replace("_", "-")
    primary = wanted.split("-")[0]
    best = 0
    tags = [str(t).lower().replace("_", "-") for t in (getattr(voice, "languages", None) or [])]
    for tag in tags:
        if tag == wanted or (tag == f"{primary}-{primary}" and wanted == primary):
            best = max(best, 3)
        elif tag.split("-")[0] == primary:
            best = max(best, 2)
    voice_id = str(getattr(voice, "id", "")).lower()
    if best == 0 and voice_id.rsplit("/", 1)[-1].split("-")[0] == primary:
        best = 1
    return best


def pick_voice(voices: list[Any], language: str) -> str | None:
    """The id of the best voice for `language` ("fr": fr-fr first, then fr-be, fr-ch...)."""
    scored = [(_language_matches(v, language), i, v) for i, v in enumerate(voices)]
    scored = [s for s in scored if s[0] > 0]
    if not scored:
        return None
    scored.sort(key=lambda s: (-s[0], s[1]))
    return str(scored[0][2].id)


class _EngineWorker:
    """The one thread that drives pyttsx3 in this process."""

    def __init__(self) -> None:
        self._requests: queue.Queue[_Request | object] = queue.Queue()
        self._tmpdir = Path(tempfile.mkdtemp(prefix="guichet-tts-"))
        self._thread = threading.Thread(target=self._run, name="tts-pyttsx3", daemon=True)
        self._counter = 0
        self._espeak: Any = None
        self._thread.start()

    def submit(self, request: _Request) -> None:
        self._requests.put(request)

    def stop(self, timeout: float | None = 10.0) -> None:
        self._requests.put(_STOP)
        self._thread.join(timeout)
        shutil.rmtree(self._tmpdir, ignore_errors=True)

    def _run(self) -> None:
        # A worker started while a previous one is still finishing waits here:
        # never two threads on the engine.
        with _engine_lock:
            self._serve()

    def _serve(self) -> None:
        engine: Any = None
        init_error: BaseException | None = None
        try:
            import pyttsx3
            import pyttsx3.drivers._espeak as espeak_lib
            import pyttsx3.drivers.espeak as espeak_driver

            _silence_saved_message(espeak_driver)
            engine = pyttsx3.init("espeak")
            self._espeak = espeak_lib
            # runAndWait pumps endLoop -> driver.stop(), which calls espeak_Cancel if
            # espeak looks busy; espeak's queue thread also flags itself busy for an
            # instant when it closes an idle stream. A Cancel landing then would cut
            # the text we are about to synthesise. We never interrupt an utterance
            # and wait for espeak to be idle around each one (_wait_idle), so the
            # driver's stop has nothing to do.
            driver = engine.proxy._driver
            driver._stopping = False
            driver.stop = lambda: None
        except Exception as exc:  # no libespeak-ng, broken install...
            init_error = exc
        voices: list[Any] | None = None
        current: tuple[str, int, float] | None = None
        while True:
            item = self._requests.get()
            if item is _STOP:
                break
            assert isinstance(item, _Request)
            if item.future.done() or not item.future.set_running_or_notify_cancel():
                continue
            if init_error is not None:
                item.future.set_exception(
                    SpeechSynthesisError(f"cannot start pyttsx3/espeak: {init_error}")
                )
                continue
            try:
                if voices is None:
                    voices = list(engine.getProperty("voices"))
                voice_id = item.voice or pick_voice(voices, item.language)
                if voice_id is None:
                    raise SpeechSynthesisError(
                        f"no espeak voice for language {item.language!r} "
                        "(is espeak-ng-data installed?)"
                    )
                wanted = (voice_id, item.rate_wpm, item.volume)
                if wanted != current:
                    engine.setProperty("voice", voice_id)
                    engine.setProperty("rate", item.rate_wpm)
                    engine.setProperty("volume", item.volume)
                    current = wanted
                item.future.set_result((self._synthesize(engine, item.text), voice_id))
            except Exception as exc:
                current = None
                item.future.set_exception(
                    exc
                    if isinstance(exc, SpeechSynthesisError)
                    else SpeechSynthesisError(f"speech synthesis failed: {exc}")
                )

    def _wait_idle(self, timeout_s: float = 10.0) -> None:
        """Wait for espeak's own thread to drain its command queue.

        In AUDIO_OUTPUT_RETRIEVAL mode espeak synthesises on an internal thread
        and also queues SetParameter (rate, volume) there. pyttsx3's runAndWait
        calls espeak_Cancel when espeak is still busy, which drops those queued
        commands or cancels the new text (seen here: the previous rate kept, or
        an empty file, when requests follow each other closely).
        """
        deadline = time.monotonic() + timeout_s
        while self._espeak.IsPlaying():
            if time.monotonic() > deadline:
                raise SpeechSynthesisError(f"espeak stayed busy for more than {timeout_s} s")
            time.sleep(0.002)

    def _synthesize(self, engine: Any, text: str) -> bytes:
        self._counter += 1
        path = self._tmpdir / f"utt-{self._counter}.wav"
        try:
            # Exactly one file queued per run: runAndWait never runs on an empty queue.
            engine.save_to_file(text, str(path))
            self._wait_idle()
            engine.runAndWait()
            self._wait_idle()
            if not path.exists():
                raise SpeechSynthesisError("espeak wrote no audio file")
            pcm, rate = read_wav(path)
        finally:
            path.unlink(missing_ok=True)
        return resample(pcm, rate, SAMPLE_RATE)


_worker: _EngineWorker | None = None
_worker_users = 0
_worker_lock = threading.Lock()


def _acquire_worker() -> _EngineWorker:
    global _worker, _worker_users
    with _worker_lock:
        if _worker is None:
            _worker = _EngineWorker()
        _worker_users += 1
        return _worker


def _release_worker() -> None:
    global _worker, _worker_users
    with _worker_lock:
        _worker_users -= 1
        if _worker_users > 0 or _worker is None:
            return
        worker, _worker = _worker, None
    worker.stop()


class Pyttsx3Synthesizer:
    """espeak-ng through pyttsx3, French voice by default, with an LRU cache of phrases."""

    def __init__(
        self,
        *,
        language: str = "fr",
        voice: str | None = None,
        rate_wpm: int = DEFAULT_RATE_WPM,
        volume: float = 1.0,
        cache_size: int = 128,
        timeout_s: float = 30.0,
    ) -> None:
        if rate_wpm <= 0:
            raise ValueError(f"rate_wpm must be positive, got {rate_wpm}")
        self.language = language
        self.rate_wpm = rate_wpm
        self.volume = volume
        self.timeout_s = timeout_s
        self._voice = voice
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._cache_size = cache_size
        self._cache_lock = threading.Lock()
        self._closed = False
        self.voice_id: str | None = voice  # set after the first synthesis
        self._worker = _acquire_worker()

    # -- cache --

    def _cached(self, text: str) -> bytes | None:
        with self._cache_lock:
            pcm = self._cache.get(text)
            if pcm is not None:
                self._cache.move_to_end(text)
            return pcm

    def _remember(self, text: str, pcm: bytes) -> None:
        if self._cache_size <= 0:
            return
        with self._cache_lock:
            self._cache[text] = pcm
            self._cache.move_to_end(text)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    @property
    def cache_len(self) -> int:
        return len(self._cache)

    # -- synthesis --

    def _submit(self, text: str) -> concurrent.futures.Future[tuple[bytes, str]]:
        if self._closed:
            raise SpeechSynthesisError("synthesizer is shut down")
        future: concurrent.futures.Future[tuple[bytes, str]] = concurrent.futures.Future()
        self._worker.submit(
            _Request(text, self._voice, self.language, self.rate_wpm, self.volume, future)
        )
        return future

    def _done(self, text: str, result: tuple[bytes, str]) -> bytes:
        pcm, voice_id = result
        self.voice_id = voice_id
        self._remember(text, pcm)
        return pcm

    async def synthesize(self, text: str) -> bytes:
        text = text.strip()
        if not _speakable(text):
            return b""
        cached = self._cached(text)
        if cached is not None:
            return cached
        future = self._submit(text)
        try:
            result = await asyncio.wait_for(asyncio.wrap_future(future), self.timeout_s)
        except TimeoutError as exc:
            raise SpeechSynthesisError(
                f"speech synthesis timed out after {self.timeout_s} s"
            ) from exc
        return self._done(text, result)

    def synthesize_blocking(self, text: str) -> bytes:
        """Same as `synthesize`, for code outside the event loop (scripts, prompt builds)."""
        text = text.strip()
        if not _speakable(text):
            return b""
        cached = self._cached(text)
        if cached is not None:
            return cached
        try:
            result = self._submit(text).result(self.timeout_s)
        except concurrent.futures.TimeoutError as exc:
            raise SpeechSynthesisError(
                f"speech synthesis timed out after {self.timeout_s} s"
            ) from exc
        return self._done(text, result)

    def shutdown(self) -> None:
        """Release the shared worker; the last synthesizer to leave stops its thread."""
        if self._closed:
            return
        self._closed = True
        _release_worker()

    async def aclose(self) -> None:
        await asyncio.to_thread(self.shutdown)
