"""Voice activity detection and end-pointing over 20 ms frames.

`VoiceActivityDetector` classifies each frame with webrtcvad (plus an energy
floor, since webrtcvad calls faint line noise speech) and runs a small state
machine over the results:

* SILENCE -> SPEECH after `start_frames` consecutive voiced frames
  (3 x 20 ms = 60 ms: fast enough to stop playback on barge-in);
* SPEECH -> SILENCE after `end_frames` consecutive unvoiced frames
  (25 x 20 ms = 500 ms of silence ends the utterance), or when a voiced frame
  lies `max_frames` after the start (a caller who never pauses is cut there);
* on the way, `pause_frames` unvoiced frames (8 x 20 ms = 160 ms) give a
  `SpeechPaused` carrying the audio so far: a recogniser that decodes whole
  utterances starts on it, and if the silence goes on to the end-point its
  `SpeechEnded.frames` are exactly the same frames, so the decode is reused.

Whoever reads the events may also decide the end-point itself (voice/call.py does, from
the words decoded at the pause, voice/turns.py): `end_now` ends the utterance at once,
with the `SpeechEnded` the silence end-point would have given, and `hold_end` moves the
current utterance's end-point to a longer silence.

It is pure and synchronous: feed frames with `process`, get events back.
Frame indices count the frames given since construction (or `reset`), from 0.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import StrEnum

import webrtcvad

from voice.audio import dbfs
from voice.session import FRAME_MS, SAMPLE_RATE


class EndReason(StrEnum):
    SILENCE = "silence"  # end_frames unvoiced frames after the speech
    MAX_LENGTH = "max_length"  # the utterance reached max_frames
    FLUSH = "flush"  # the stream ended (hang-up) while speech was going on
    COMPLETE = "complete"  # ended on request (end_now): the words heard were a whole sentence


@dataclass(frozen=True)
class SpeechStarted:
    # Index of the first voiced frame of the run that triggered the start.
    start_frame: int
    # Index of the frame whose processing emitted the event (start_frame + start_frames - 1).
    detected_frame: int


@dataclass(frozen=True)
class SpeechEnded:
    start_frame: int
    # One past the last voiced frame (exclusive), so end_frame - start_frame is the speech length.
    end_frame: int
    detected_frame: int
    reason: EndReason
    # Index of frames[0] (start_frame minus the pre-roll actually available).
    first_frame: int
    # The utterance audio: pre-roll + speech + up to post_roll trailing frames.
    frames: tuple[bytes, ...]
    frame_ms: int = FRAME_MS

    @property
    def pcm(self) -> bytes:
        return b"".join(self.frames)

    @property
    def speech_ms(self) -> int:
        return (self.end_frame - self.start_frame) * self.frame_ms


@dataclass(frozen=True)
class SpeechPaused:
    """The caller stopped for `pause_frames`: the utterance as it would end now."""

    start_frame: int
    detected_frame: int
    # The frames SpeechEnded would carry if no voiced frame came before the end-point.
    frames: tuple[bytes, ...]

    @property
    def pcm(self) -> bytes:
        return b"".join(self.frames)


VadEvent = SpeechStarted | SpeechPaused | SpeechEnded


class VoiceActivityDetector:
    def __init__(
        self,
        *,
        aggressiveness: int = 2,
        sample_rate: int = SAMPLE_RATE,
        frame_ms: int = FRAME_MS,
        start_frames: int = 3,
        end_frames: int = 25,
        max_frames: int = 750,
        pre_roll_frames: int = 10,
        post_roll_frames: int = 5,
        pause_frames: int = 8,
        min_dbfs: float | None = -50.0,
    ) -> None:
        if aggressiveness not in (0, 1, 2, 3):
            raise ValueError(f"aggressiveness must be 0-3, got {aggressiveness}")
        if frame_ms not in (10, 20, 30):
            raise ValueError(f"webrtcvad takes 10, 20 or 30 ms frames, not {frame_ms}")
        if sample_rate not in (8000, 16000, 32000, 48000):
            raise ValueError(f"webrtcvad takes 8, 16, 32 or 48 kHz, not {sample_rate}")
        if start_frames < 1 or end_frames < 1 or pre_roll_frames < 0 or post_roll_frames < 0:
            raise ValueError("start_frames/end_frames must be >= 1, rolls >= 0")
        if max_frames < start_frames:
            raise ValueError("max_frames must be >= start_frames")
        if pause_frames < 0:
            raise ValueError("pause_frames must be >= 0 (0: no SpeechPaused)")
        self.aggressiveness = aggressiveness
        self.sample_rate = sample_rate
        self.frame_ms = frame_ms
        self.frame_bytes = 2 * sample_rate * frame_ms // 1000
        self.start_frames = start_frames
        self.end_frames = end_frames
        self.max_frames = max_frames
        self.pre_roll_frames = pre_roll_frames
        self.post_roll_frames = post_roll_frames
        # Only a pause shorter than the end-point and longer than the post-roll gives
        # the same frames as the end would.
        self.pause_frames = pause_frames if post_roll_frames < pause_frames < end_frames else 0
        self.min_dbfs = min_dbfs
        self._vad = webrtcvad.Vad(aggressiveness)
        self.reset()

    def reset(self) -> None:
        """Forget everything: back to silence, frame index 0."""
        self._vad = webrtcvad.Vad(self.aggressiveness)
        self._index = 0
        self._in_speech = False
        self._voiced_run = 0
        self._unvoiced_run = 0
        self._start_frame = 0
        self._first_frame = 0
        # Recent frames while in silence (pre-roll + the run being confirmed).
        self._recent: deque[bytes] = deque(maxlen=self.pre_roll_frames + self.start_frames)
        self._utterance: list[bytes] = []
        self._end_after = self.end_frames  # this utterance's end-point (hold_end)

    @property
    def in_speech(self) -> bool:
        return self._in_speech

    @property
    def frame_index(self) -> int:
        """Index the next frame will get."""
        return self._index

    @property
    def silence_frames(self) -> int:
        """Unvoiced frames since the utterance's last voiced one (0 outside speech)."""
        return self._unvoiced_run if self._in_speech else 0

    @property
    def end_after_frames(self) -> int:
        """Unvoiced frames that end the current utterance (`end_frames` unless held)."""
        return self._end_after

    def still_paused(self, pause: SpeechPaused) -> bool:
        """Whether no voiced frame came since `pause`: the utterance would still end
        with `pause.frames`."""
        return (
            self._in_speech
            and self.pause_frames > 0
            and pause.start_frame == self._start_frame
            and self._unvoiced_run - self.pause_frames == self._index - 1 - pause.detected_frame
        )

    def hold_end(self, frames: int) -> None:
        """End the current utterance after `frames` unvoiced frames instead of
        `end_frames` (never sooner); the next utterance has `end_frames` again. Frames
        already silent count: holding to fewer than `silence_frames` ends on the next
        unvoiced frame."""
        if self._in_speech:
            self._end_after = max(self.end_frames, frames)

    def end_now(self, reason: EndReason = EndReason.COMPLETE) -> SpeechEnded | None:
        """End the utterance in progress now, as the end-point would after the last frame
        given (None outside speech): the same frames, trailing silence cut to the
        post-roll."""
        if not self._in_speech:
            return None
        return self._end(self._index - 1, reason)

    def is_voiced(self, frame: bytes) -> bool:
        """The raw per-frame decision (webrtcvad + energy floor), without the state machine."""
        if len(frame) != self.frame_bytes:
            raise ValueError(
                f"VAD frames must be {self.frame_bytes} bytes "
                f"({self.frame_ms} ms at {self.sample_rate} Hz), got {len(frame)}"
            )
        if self.min_dbfs is not None and dbfs(frame) < self.min_dbfs:
            return False
        return bool(self._vad.is_speech(frame, self.sample_rate))

    def process(self, frame: bytes) -> list[VadEvent]:
        """Take one frame; return the events it caused (usually none)."""
        voiced = self.is_voiced(frame)
        index = self._index
        self._index += 1
        events: list[VadEvent] = []
        if not self._in_speech:
            self._recent.append(frame)
            self._voiced_run = self._voiced_run + 1 if voiced else 0
            if self._voiced_run >= self.start_frames:
                self._in_speech = True
                self._start_frame = index - self.start_frames + 1
                self._unvoiced_run = 0
                self._utterance = list(self._recent)
                self._first_frame = index - len(self._recent) + 1
                self._recent.clear()
                self._voiced_run = 0
                events.append(SpeechStarted(self._start_frame, index))
            return events

        self._utterance.append(frame)
        self._unvoiced_run = 0 if voiced else self._unvoiced_run + 1
        if self._unvoiced_run >= self._end_after:
            events.append(self._end(index, EndReason.SILENCE))
        elif self.pause_frames and self._unvoiced_run == self.pause_frames:
            events.append(SpeechPaused(self._start_frame, index, self._kept_frames()))
        elif voiced and index - self._start_frame + 1 >= self.max_frames:
            # Counted on voiced frames: trailing silence still ends by SILENCE.
            events.append(self._end(index, EndReason.MAX_LENGTH))
        return events

    def flush(self) -> list[VadEvent]:
        """End of stream: close the utterance in progress, if any."""
        if not self._in_speech:
            return []
        return [self._end(self._index - 1, EndReason.FLUSH)]

    def _kept_frames(self) -> tuple[bytes, ...]:
        """The utterance with at most `post_roll_frames` of its trailing silence."""
        keep = len(self._utterance) - max(0, self._unvoiced_run - self.post_roll_frames)
        return tuple(self._utterance[:keep])

    def _end(self, index: int, reason: EndReason) -> SpeechEnded:
        end_frame = index + 1 - self._unvoiced_run
        event = SpeechEnded(
            start_frame=self._start_frame,
            end_frame=end_frame,
            detected_frame=index,
            reason=reason,
            first_frame=self._first_frame,
            frames=self._kept_frames(),
            frame_ms=self.frame_ms,
        )
        self._in_speech = False
        self._utterance = []
        self._end_after = self.end_frames
        self._unvoiced_run = 0
        self._voiced_run = 0
        self._recent.clear()
        return event
