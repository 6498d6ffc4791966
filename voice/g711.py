"""G.711 (ITU-T G.711) µ-law and A-law, the two codecs of the phone channel's RTP.

Numpy lookup tables (`audioop` is gone in Python 3.13), built once at import from the
classic segment/quantisation formulation: 16-bit little-endian PCM in, one byte per
sample out, and back. Pure functions: voice/rtp.py uses them for the call's stream,
the benchmarks' SIP caller for its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# RTP payload types (RFC 3551).
PCMU, PCMA = 0, 8


def _ulaw_decode_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, 0x84 - t, t - 0x84).astype(np.int16)


def _alaw_decode_table() -> np.ndarray:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    seg = (a & 0x70) >> 4
    t = (a & 0x0F) << 4
    t = np.where(seg == 0, t + 8, t + 0x108)
    t = np.where(seg > 1, t << np.maximum(seg - 1, 0), t)
    return np.where(a & 0x80, t, -t).astype(np.int16)


def _segment(value: np.ndarray, ends: list[int]) -> np.ndarray:
    return np.searchsorted(np.array(ends), value, side="left")


def _ulaw_encode_table() -> np.ndarray:
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 2
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    mag = np.minimum(np.abs(pcm), 8159) + 0x21
    seg = _segment(mag, [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
    code = (seg << 4) | ((mag >> (seg + 1)) & 0x0F)
    code = np.where(seg >= 8, 0x7F, code)
    return np.roll((code ^ mask).astype(np.uint8), -32768)  # index by uint16 view


def _alaw_encode_table() -> np.ndarray:
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 3
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    mag = np.where(pcm >= 0, pcm, -pcm - 1)
    seg = _segment(mag, [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])
    mant = np.where(seg < 2, (mag >> 1) & 0x0F, (mag >> np.maximum(seg, 1)) & 0x0F)
    code = np.where(seg >= 8, 0x7F, (seg << 4) | mant)
    return np.roll((code ^ mask).astype(np.uint8), -32768)


ULAW_DECODE = _ulaw_decode_table()
ALAW_DECODE = _alaw_decode_table()
ULAW_ENCODE = _ulaw_encode_table()
ALAW_ENCODE = _alaw_encode_table()


def _encode(pcm: bytes, table: np.ndarray) -> bytes:
    samples = np.frombuffer(pcm[: len(pcm) & ~1], dtype="<i2").view("<u2")
    return bytes(table[samples].tobytes())


def _decode(data: bytes, table: np.ndarray) -> bytes:
    return bytes(table[np.frombuffer(data, dtype=np.uint8)].astype("<i2").tobytes())


def ulaw_encode(pcm: bytes) -> bytes:
    return _encode(pcm, ULAW_ENCODE)


def ulaw_decode(data: bytes) -> bytes:
    return _decode(data, ULAW_DECODE)


def alaw_encode(pcm: bytes) -> bytes:
    return _encode(pcm, ALAW_ENCODE)


def alaw_decode(data: bytes) -> bytes:
    return _decode(data, ALAW_DECODE)


@dataclass(frozen=True)
class Codec:
    name: str
    payload_type: int
    encode: Callable[[bytes], bytes]
    decode: Callable[[bytes], bytes]


CODECS = {
    PCMU: Codec("PCMU", PCMU, ulaw_encode, ulaw_decode),
    PCMA: Codec("PCMA", PCMA, alaw_encode, alaw_decode),
}
