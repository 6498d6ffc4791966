"""PCM helpers shared by the speech blocks: s16le <-> numpy, resampling, levels, WAV.

Telephony audio is 16-bit little-endian mono PCM at 8 kHz (see `voice.session`);
recognisers want 16 kHz, espeak writes 22,050 Hz. Resampling uses libsoxr
(`soxr`): `resample` for whole buffers, `StreamResampler` for a live stream cut
in 20 ms frames, which keeps the filter state between chunks so the joins are
seamless.
"""

from __future__ import annotations

import math
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soxr

from voice.session import FRAME_BYTES, SAMPLE_RATE

_INT16_SCALE = 32768.0
# dBFS of an all-zero buffer: a finite floor keeps comparisons and JSON simple.
SILENCE_DBFS = -120.0


def _check_pcm(pcm: bytes) -> None:
    if len(pcm) % 2:
        raise ValueError(f"s16le PCM must have an even number of bytes, got {len(pcm)}")


def pcm_to_int16(pcm: bytes) -> np.ndarray:
    """s16le bytes -> int16 array (a copy, writable)."""
    _check_pcm(pcm)
    return np.frombuffer(pcm, dtype="<i2").astype(np.int16)


def int16_to_pcm(samples: np.ndarray) -> bytes:
    """int16 array -> s16le bytes."""
    return np.asarray(samples, dtype=np.int16).astype("<i2").tobytes()


def pcm_to_float(pcm: bytes) -> np.ndarray:
    """s16le bytes -> float32 samples in [-1, 1)."""
    return pcm_to_int16(pcm).astype(np.float32) / _INT16_SCALE


def float_to_pcm(samples: np.ndarray) -> bytes:
    """float samples in [-1, 1] -> s16le bytes (clipped, rounded)."""
    scaled = np.rint(np.asarray(samples, dtype=np.float64) * _INT16_SCALE)
    return int16_to_pcm(np.clip(scaled, -32768, 32767).astype(np.int16))


def resample(pcm: bytes, from_rate: int, to_rate: int, *, quality: str = "HQ") -> bytes:
    """Resample a whole s16le mono buffer (one shot, no state kept)."""
    _check_pcm(pcm)
    if from_rate <= 0 or to_rate <= 0:
        raise ValueError(f"sample rates must be positive: {from_rate} -> {to_rate}")
    if from_rate == to_rate or not pcm:
        return pcm
    out = soxr.resample(pcm_to_int16(pcm), from_rate, to_rate, quality=quality)
    return int16_to_pcm(out)


class StreamResampler:
    """Stateful resampler for a stream of s16le chunks (e.g. 8 kHz frames -> 16 kHz).

    Feed chunks with `process`; call `flush` once at the end of the stream to
    get the samples still held in the filter. After `flush` (or `reset`) the
    object can take a new stream.
    """

    def __init__(self, from_rate: int, to_rate: int, *, quality: str = "HQ") -> None:
        if from_rate <= 0 or to_rate <= 0:
            raise ValueError(f"sample rates must be positive: {from_rate} -> {to_rate}")
        self.from_rate = from_rate
        self.to_rate = to_rate
        self._quality = quality
        self._stream: soxr.ResampleStream | None = None
        self.reset()

    def reset(self) -> None:
        if self.from_rate == self.to_rate:
            self._stream = None
        else:
            self._stream = soxr.ResampleStream(
                self.from_rate, self.to_rate, 1, dtype="int16", quality=self._quality
            )

    def process(self, pcm: bytes) -> bytes:
        _check_pcm(pcm)
        if self._stream is None:
            return pcm
        if not pcm:
            return b""
        return int16_to_pcm(self._stream.resample_chunk(pcm_to_int16(pcm), last=False))

    def flush(self) -> bytes:
        """End of stream: the remaining output; the resampler is then ready for a new stream."""
        if self._stream is None:
            return b""
        tail = self._stream.resample_chunk(np.zeros(0, dtype=np.int16), last=True)
        self.reset()
        return int16_to_pcm(tail)


def rms(pcm: bytes) -> float:
    """Root mean square level, relative to full scale (0.0 to ~1.0)."""
    if not pcm:
        return 0.0
    samples = pcm_to_float(pcm).astype(np.float64)
    return float(np.sqrt(np.mean(samples * samples)))


def dbfs(pcm: bytes) -> float:
    """RMS level in dBFS (a full-scale square wave is 0 dBFS); SILENCE_DBFS for silence."""
    level = rms(pcm)
    if level <= 0.0:
        return SILENCE_DBFS
    return max(SILENCE_DBFS, 20.0 * math.log10(level))


def duration_s(pcm: bytes, rate: int = SAMPLE_RATE) -> float:
    return len(pcm) / 2 / rate


def split_frames(
    pcm: bytes, frame_bytes: int = FRAME_BYTES, *, pad: bool = False
) -> Iterator[bytes]:
    """Cut PCM into fixed-size frames; the short tail is dropped, or zero-padded if `pad`."""
    for start in range(0, len(pcm), frame_bytes):
        frame = pcm[start : start + frame_bytes]
        if len(frame) < frame_bytes:
            if not pad:
                return
            frame += bytes(frame_bytes - len(frame))
        yield frame


def silence(ms: int, rate: int = SAMPLE_RATE) -> bytes:
    return bytes(2 * (rate * ms // 1000))


def tone(freq_hz: float, ms: int, rate: int = SAMPLE_RATE, *, level_dbfs: float = -12.0) -> bytes:
    """A sine tone; `level_dbfs` is its RMS level."""
    n = rate * ms // 1000
    amplitude = math.sqrt(2.0) * 10 ** (level_dbfs / 20.0)
    t = np.arange(n, dtype=np.float64) / rate
    return float_to_pcm(amplitude * np.sin(2 * np.pi * freq_hz * t))


def read_wav(path: str | Path) -> tuple[bytes, int]:
    """Read a 16-bit PCM WAV file -> (mono s16le PCM, sample rate); stereo is downmixed."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2 or w.getcomptype() != "NONE":
            raise ValueError(f"{path}: only 16-bit PCM WAV is supported")
        channels, rate = w.getnchannels(), w.getframerate()
        data = w.readframes(w.getnframes())
    if channels > 1:
        samples = pcm_to_int16(data).reshape(-1, channels).astype(np.int32)
        data = int16_to_pcm(samples.mean(axis=1).round().astype(np.int16))
    return data, rate


def write_wav(path: str | Path, pcm: bytes, rate: int = SAMPLE_RATE) -> None:
    _check_pcm(pcm)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
