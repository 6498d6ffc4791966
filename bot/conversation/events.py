"""In-process publish/subscribe: pushes to citizens' and agents' open connections.

Topics are strings: "conversation:<id>" for a citizen's widget, "agents" for
every agent console. One process only; across app instances this becomes
Redis pub/sub (issue #6) behind the same three methods.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

# A slow client must not make the publisher wait or grow memory without bound.
QUEUE_LIMIT = 500


class EventBus:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)

    def publish(self, topic: str, frame: dict[str, Any]) -> int:
        """Deliver to every subscriber of the topic; returns how many received it."""
        delivered = 0
        for queue in list(self._subscribers.get(topic, ())):
            try:
                queue.put_nowait(frame)
                delivered += 1
            except asyncio.QueueFull:
                # The connection is stuck; its reader will be closed by the channel.
                continue
        return delivered

    def subscribers(self, topic: str) -> int:
        return len(self._subscribers.get(topic, ()))

    @asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_LIMIT)
        self._subscribers[topic].add(queue)
        try:
            yield queue
        finally:
            self._subscribers[topic].discard(queue)
            if not self._subscribers[topic]:
                del self._subscribers[topic]


def conversation_topic(conversation_id: str) -> str:
    return f"conversation:{conversation_id}"


AGENTS_TOPIC = "agents"
