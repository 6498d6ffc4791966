"""Publish/subscribe: pushes to citizens' and agents' open connections.

Topics are strings: "conversation:<id>" for a citizen's connection, "agents" for
every agent console. What travels is a typed event (bot/conversation/handoff_events.py),
never a channel's wire frame: each subscriber renders it. `EventBus` is in-process
(one app instance); `RedisEventBus` has the same three methods and carries every
event through Redis pub/sub, so a push published by one app instance reaches
WebSockets held by any other (settings `redis.url`, docs/operations.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bot.conversation.handoff_events import HandoffEvent, UnknownEvent, from_wire, to_wire

log = logging.getLogger(__name__)

# A slow client must not make the publisher wait or grow memory without bound.
QUEUE_LIMIT = 500
# Frames waiting for Redis while it is unreachable; beyond that they are dropped.
OUTBOX_LIMIT = 10_000
CHANNEL_PREFIX = "guichet:bus:"
RECONNECT_DELAY_S = (0.1, 0.5, 1.0, 2.0)


class EventBus:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[HandoffEvent]]] = defaultdict(set)

    def publish(self, topic: str, event: HandoffEvent) -> int:
        """Deliver to every subscriber of the topic; returns how many received it."""
        return self._deliver(topic, event)

    def _deliver(self, topic: str, event: HandoffEvent) -> int:
        delivered = 0
        for queue in list(self._subscribers.get(topic, ())):
            try:
                queue.put_nowait(event)
                delivered += 1
            except asyncio.QueueFull:
                # The connection is stuck; its reader will be closed by the channel.
                continue
        return delivered

    def subscribers(self, topic: str) -> int:
        """Subscribers of the topic in this process."""
        return len(self._subscribers.get(topic, ()))

    @asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[asyncio.Queue[HandoffEvent]]:
        queue: asyncio.Queue[HandoffEvent] = asyncio.Queue(QUEUE_LIMIT)
        self._subscribers[topic].add(queue)
        try:
            yield queue
        finally:
            self._subscribers[topic].discard(queue)
            if not self._subscribers[topic]:
                del self._subscribers[topic]

    # Life cycle and health: nothing to do in-process.
    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def healthy(self) -> bool:
        return True


class RedisEventBus(EventBus):
    """Every frame goes through Redis, also to this process's own subscribers, so all
    of them see one order per publisher. Publishing stays synchronous for callers: frames
    are queued and sent in order by one task. While Redis is away, frames wait in a bounded
    outbox and subscriptions are restored on reconnection; `healthy()` says so for /readyz.
    """

    def __init__(self, url: str, prefix: str = CHANNEL_PREFIX) -> None:
        super().__init__()
        self._url = url
        self._prefix = prefix
        self._redis: aioredis.Redis = aioredis.Redis.from_url(
            url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=10
        )
        self._pubsub: Any = None
        self._outbox: asyncio.Queue[tuple[str, str]] = asyncio.Queue(OUTBOX_LIMIT)
        self._tasks: list[asyncio.Task[None]] = []
        # Channels confirmed by Redis; subscribe() waits for its own.
        self._confirmed: dict[str, asyncio.Event] = {}
        self._connected = asyncio.Event()
        self._sub_lock = asyncio.Lock()
        self.instance = f"{os.getpid()}-{secrets.token_hex(4)}"

    @property
    def redis(self) -> aioredis.Redis:
        return self._redis

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._send_loop(), name="bus-send"),
            asyncio.create_task(self._receive_loop(), name="bus-receive"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
        await self._redis.aclose()

    async def healthy(self) -> bool:
        try:
            return bool(await asyncio.wait_for(self._redis.ping(), 2))
        except (RedisError, OSError, TimeoutError):
            return False

    # --- publishing ---
    def publish(self, topic: str, event: HandoffEvent) -> int:
        """Queue the event for every instance; returns this process's subscriber count
        (the others are not known synchronously)."""
        try:
            self._outbox.put_nowait((self._prefix + topic, json.dumps(to_wire(event))))
        except asyncio.QueueFull:
            log.error("event bus outbox full (Redis unreachable?): frame on %s dropped", topic)
            return 0
        return self.subscribers(topic)

    async def _send_loop(self) -> None:
        attempt = 0
        while True:
            channel, data = await self._outbox.get()
            while True:
                try:
                    await self._redis.publish(channel, data)
                    attempt = 0
                    break
                except (RedisError, OSError) as exc:
                    delay = RECONNECT_DELAY_S[min(attempt, len(RECONNECT_DELAY_S) - 1)]
                    if attempt == 0:
                        log.warning("redis publish failed (%s); retrying", exc)
                    attempt += 1
                    await asyncio.sleep(delay)

    # --- subscribing ---
    @asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[asyncio.Queue[HandoffEvent]]:
        queue: asyncio.Queue[HandoffEvent] = asyncio.Queue(QUEUE_LIMIT)
        channel = self._prefix + topic
        first = not self._subscribers.get(topic)
        self._subscribers[topic].add(queue)
        try:
            if first:
                await self._redis_subscribe(channel)
            confirmed = self._confirmed.get(channel)
            if confirmed is not None:
                # Frames published after this point reach the queue, on any instance.
                # Bounded: with Redis away, the connection still works locally and
                # catches up when the subscription is restored.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(confirmed.wait(), 5)
            yield queue
        finally:
            self._subscribers[topic].discard(queue)
            if not self._subscribers[topic]:
                del self._subscribers[topic]
                await self._redis_unsubscribe(channel)

    async def _redis_subscribe(self, channel: str) -> None:
        async with self._sub_lock:
            self._confirmed.setdefault(channel, asyncio.Event())
            if self._pubsub is None or not self._connected.is_set():
                return  # the receive loop subscribes every channel when it connects
            try:
                await self._pubsub.subscribe(channel)
            except (RedisError, OSError) as exc:
                log.warning("redis subscribe to %s failed: %s", channel, exc)

    async def _redis_unsubscribe(self, channel: str) -> None:
        async with self._sub_lock:
            self._confirmed.pop(channel, None)
            if self._pubsub is None or not self._connected.is_set():
                return
            try:
                await self._pubsub.unsubscribe(channel)
            except (RedisError, OSError) as exc:
                log.info("redis unsubscribe from %s failed: %s", channel, exc)

    async def _receive_loop(self) -> None:
        attempt = 0
        while True:
            try:
                await self._receive()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._connected.clear()
                for event in self._confirmed.values():
                    event.clear()
                if attempt == 0:
                    log.warning("redis pub/sub connection lost (%s); reconnecting", exc)
                delay = RECONNECT_DELAY_S[min(attempt, len(RECONNECT_DELAY_S) - 1)]
                attempt += 1
                await asyncio.sleep(delay)
            else:
                attempt = 0

    async def _receive(self) -> None:
        pubsub = self._redis.pubsub()
        try:
            async with self._sub_lock:
                # A channel the API needs a subscription for, so the connection is real
                # even when no WebSocket is open; then everything subscribed meanwhile.
                await pubsub.subscribe(self._prefix + "_instance:" + self.instance)
                if self._confirmed:
                    await pubsub.subscribe(*self._confirmed)
                self._pubsub = pubsub
                self._connected.set()
            while True:
                message = await pubsub.get_message(timeout=5.0)
                if message is None:
                    continue
                kind = message.get("type")
                channel = message["channel"]
                channel = channel.decode() if isinstance(channel, bytes) else str(channel)
                if kind == "subscribe":
                    event = self._confirmed.get(channel)
                    if event is not None:
                        event.set()
                elif kind == "message":
                    topic = channel[len(self._prefix) :]
                    try:
                        pushed = from_wire(json.loads(message["data"]))
                    except (ValueError, TypeError, UnknownEvent):
                        log.warning("undecodable frame on %s", channel)
                        continue
                    self._deliver(topic, pushed)
        finally:
            self._pubsub = None
            self._connected.clear()
            with contextlib.suppress(Exception):
                await pubsub.aclose()


def create_bus(redis_url: str) -> EventBus:
    """In-process bus, or Redis pub/sub when `redis.url` is set."""
    return RedisEventBus(redis_url) if redis_url else EventBus()


def conversation_topic(conversation_id: str) -> str:
    return f"conversation:{conversation_id}"


AGENTS_TOPIC = "agents"
