from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voice.audio import (
    SILENCE_DBFS,
    StreamResampler,
    dbfs,
    duration_s,
    float_to_pcm,
    int16_to_pcm,
    pcm_to_float,
    pcm_to_int16,
    read_wav,
    resample,
    rms,
    silence,
    split_frames,
    tone,
    write_wav,
)
from voice.session import FRAME_BYTES


def peak_hz(pcm: bytes, rate: int) -> float:
    samples = pcm_to_float(pcm)
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


def test_int16_and_float_round_trip() -> None:
    values = np.array([0, 1, -1, 32767, -32768, 1234], dtype=np.int16)
    pcm = int16_to_pcm(values)
    assert len(pcm) == 12
    assert pcm[:4] == b"\x00\x00\x01\x00"  # little-endian
    assert np.array_equal(pcm_to_int16(pcm), values)
    assert float_to_pcm(pcm_to_float(pcm)) == pcm
    # Out-of-range floats are clipped, not wrapped.
    assert pcm_to_int16(float_to_pcm(np.array([2.0, -2.0]))).tolist() == [32767, -32768]


def test_odd_byte_count_is_rejected() -> None:
    with pytest.raises(ValueError, match="even"):
        pcm_to_int16(b"\x00\x01\x02")
    with pytest.raises(ValueError):
        resample(b"\x00", 8000, 16000)


def test_resample_keeps_duration_and_pitch() -> None:
    pcm = tone(440, 1000, 8000)
    up = resample(pcm, 8000, 16000)
    assert len(up) == 2 * len(pcm)
    assert abs(peak_hz(up, 16000) - 440) < 5
    down = resample(tone(1000, 1000, 22050), 22050, 8000)
    assert len(down) // 2 == 8000
    assert abs(peak_hz(down, 8000) - 1000) < 5
    assert resample(pcm, 8000, 8000) == pcm
    assert resample(b"", 8000, 16000) == b""


def test_stream_resampler_matches_one_shot() -> None:
    pcm = tone(300, 500, 8000) + tone(1200, 500, 8000)
    stream = StreamResampler(8000, 16000)
    out = b"".join(stream.process(frame) for frame in split_frames(pcm)) + stream.flush()
    whole = resample(pcm, 8000, 16000)
    assert abs(len(out) - len(whole)) <= 4
    n = min(len(out), len(whole)) // 2
    a = pcm_to_float(out)[200 : n - 200]
    b = pcm_to_float(whole)[200 : n - 200]
    assert float(np.max(np.abs(a - b))) < 0.01
    # After flush the resampler takes a new stream.
    again = b"".join(stream.process(f) for f in split_frames(pcm)) + stream.flush()
    assert len(again) == len(out)
    diff = pcm_to_int16(again).astype(np.int32) - pcm_to_int16(out).astype(np.int32)
    assert int(np.max(np.abs(diff))) <= 2  # int16 output is dithered by libsoxr


def test_stream_resampler_same_rate_passes_through() -> None:
    stream = StreamResampler(8000, 8000)
    assert stream.process(b"\x01\x00\x02\x00") == b"\x01\x00\x02\x00"
    assert stream.flush() == b""


def test_levels() -> None:
    assert rms(b"") == 0.0
    assert dbfs(silence(20)) == SILENCE_DBFS
    assert dbfs(tone(1000, 200, level_dbfs=-12.0)) == pytest.approx(-12.0, abs=0.2)
    assert dbfs(tone(1000, 200, level_dbfs=-40.0)) == pytest.approx(-40.0, abs=0.2)
    square = int16_to_pcm(np.array([32767, -32767] * 80, dtype=np.int16))
    assert dbfs(square) == pytest.approx(0.0, abs=0.01)


def test_frames_silence_and_duration() -> None:
    pcm = silence(50)  # 2.5 frames
    assert len(pcm) == 800
    assert duration_s(pcm) == pytest.approx(0.05)
    assert [len(f) for f in split_frames(pcm)] == [FRAME_BYTES, FRAME_BYTES]
    padded = list(split_frames(pcm, pad=True))
    assert len(padded) == 3 and padded[-1] == bytes(FRAME_BYTES)


def test_wav_round_trip_and_stereo_downmix(tmp_path: Path) -> None:
    pcm = tone(500, 100)
    write_wav(tmp_path / "a.wav", pcm, 8000)
    assert read_wav(tmp_path / "a.wav") == (pcm, 8000)

    import wave

    left = np.full(10, 1000, dtype=np.int16)
    right = np.full(10, 3000, dtype=np.int16)
    with wave.open(str(tmp_path / "st.wav"), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.stack([left, right], axis=1).tobytes())
    mono, rate = read_wav(tmp_path / "st.wav")
    assert rate == 16000
    assert pcm_to_int16(mono).tolist() == [2000] * 10
