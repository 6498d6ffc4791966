"""A `VoiceSession` double (voice/session.py) for tests of the call logic: the caller's
events come from a queue the test fills, the bot's audio is "played" at once, or held
until the test releases it (a long goodbye), and transfers and hang-ups are recorded."""

from __future__ import annotations

import asyncio

from voice.session import AudioFrame, DtmfDigit, HangupCause, PlaybackResult

Event = AudioFrame | DtmfDigit | HangupCause


class Line:
    caller = ""

    def __init__(
        self,
        call_id: str = "call-test-1",
        events: asyncio.Queue[Event] | None = None,
        transfer_accepted: bool = False,
    ) -> None:
        self.call_id = call_id
        self._events: asyncio.Queue[Event] = events if events is not None else asyncio.Queue()
        self.transfer_accepted = transfer_accepted
        self.transfers: list[str] = []
        self.hung_up = False
        self.plays = 0
        self.cleared = 0
        # Plays from this one on (0 = the greeting) last until release() or clear_playback().
        self.hold_from: int | None = None
        self.holding = asyncio.Event()
        self._released = asyncio.Event()

    @property
    def events(self) -> asyncio.Queue[Event]:
        return self._events

    async def play(self, pcm: bytes) -> PlaybackResult:
        index, self.plays = self.plays, self.plays + 1
        if self.hold_from is None or index < self.hold_from:
            return PlaybackResult(interrupted=False, played_ms=0)
        self._released.clear()
        self.holding.set()
        await self._released.wait()
        self.holding.clear()
        return PlaybackResult(interrupted=self.cleared > 0, played_ms=0)

    def release(self) -> None:
        self._released.set()

    def clear_playback(self) -> None:
        self.cleared += 1
        self._released.set()

    async def transfer(self, target: str) -> bool:
        self.transfers.append(target)
        return self.transfer_accepted

    async def hangup(self) -> None:
        self.hung_up = True
