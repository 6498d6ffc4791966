"""The neutral interface between a telephony transport and the call logic.

A transport (SIP/RTP here; an Asterisk AudioSocket adapter could sit beside it)
turns a call into a `VoiceSession`: 20 ms frames of 16-bit mono PCM at 8 kHz in
and out, keypad digits, and hang-up. The call logic (`voice/call.py`) only sees
this interface, so it never knows which protocol carried the call.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

SAMPLE_RATE = 8000
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000  # 160
FRAME_BYTES = FRAME_SAMPLES * 2  # s16le mono


class HangupCause(StrEnum):
    CALLER = "caller"  # the caller hung up (BYE/CANCEL received)
    BOT = "bot"  # the assistant ended the call
    TRANSFERRED = "transferred"  # the call left to a human
    ERROR = "error"  # transport failure (media timeout...)


@dataclass(frozen=True)
class AudioFrame:
    """20 ms of s16le mono PCM at 8 kHz (FRAME_BYTES bytes)."""

    pcm: bytes
    # Monotonic arrival time (s), for end-pointing and latency figures.
    received_at: float


@dataclass(frozen=True)
class DtmfDigit:
    digit: str  # "0"-"9", "*", "#", "A"-"D"
    received_at: float


@dataclass(frozen=True)
class PlaybackResult:
    """How a `play` ended: LiveKit-style, so the dialogue keeps only what was heard."""

    interrupted: bool
    played_ms: int


class VoiceSession(Protocol):
    """One call as the call logic sees it."""

    call_id: str
    caller: str  # caller id as given by the transport (minimise: not stored by default)

    @property
    def events(self) -> asyncio.Queue[AudioFrame | DtmfDigit | HangupCause]:
        """Caller audio frames, digits, and finally a HangupCause."""
        ...

    async def play(self, pcm: bytes) -> PlaybackResult:
        """Send PCM (8 kHz s16le mono) with real-time pacing; returns when played or cleared."""
        ...

    def clear_playback(self) -> None:
        """Stop what is playing now (barge-in): `play` returns with interrupted=True."""
        ...

    async def transfer(self, target: str) -> bool:
        """Blind transfer to a SIP URI or extension; True if the peer accepted it."""
        ...

    async def hangup(self) -> None:
        """End the call from our side."""
        ...
