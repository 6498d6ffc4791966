"""The phone channel's journal of calls (outcome per call), for the console and statistics."""

from __future__ import annotations

from bot.storage.calls import CallStore


class CallJournal:
    def __init__(self, store: CallStore) -> None:
        self._store = store

    async def started(self, call_id: str, conversation_id: str) -> None:
        await self._store.started(call_id, conversation_id)

    async def ended(
        self,
        call_id: str,
        outcome: str,
        turns: int,
        barge_ins: int,
        ticket_reference: str | None = None,
    ) -> None:
        await self._store.ended(call_id, outcome, turns, barge_ins, ticket_reference)
