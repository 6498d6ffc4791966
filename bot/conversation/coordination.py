"""State that app instances must agree on: which agents are connected, and which
turn of a conversation runs now.

One process (default): a dict and asyncio locks. Scaled out (`redis.url`):

- presence: each instance keeps its own count of open agent consoles in a Redis
  hash `guichet:presence:<instance>` that expires unless refreshed (heartbeat),
  so a crashed instance's agents disappear by themselves after PRESENCE_TTL_S;
  "online" is the union over all instances;
- turn locks: a Redis lock per conversation (with a lifetime, so a crashed
  holder never blocks a conversation for long) around the in-process one, so two
  turns of one conversation reaching two instances (HTTP fallback through the
  load balancer) still run one after the other.

When Redis is unreachable both fall back to the instance's own view (logged), and
/readyz reports degraded through the event bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from redis.exceptions import LockError, RedisError

log = logging.getLogger(__name__)

PRESENCE_PREFIX = "guichet:presence:"
PRESENCE_TTL_S = 15
HEARTBEAT_S = 5.0
LOCK_PREFIX = "guichet:turn:"
# Longer than any turn (Rasa timeout 2.5 s + storage); a crashed holder frees it then.
TURN_LOCK_TTL_S = 30.0
TURN_LOCK_WAIT_S = 20.0


class Presence:
    """Agent consoles open in this process."""

    def __init__(self) -> None:
        self._local: dict[str, int] = {}

    def connected(self, agent: str) -> None:
        self._local[agent] = self._local.get(agent, 0) + 1

    def disconnected(self, agent: str) -> int:
        """Returns how many consoles the agent still has open here."""
        left = max(0, self._local.get(agent, 0) - 1)
        if left:
            self._local[agent] = left
        else:
            self._local.pop(agent, None)
        return left

    def local_agents(self) -> set[str]:
        return {a for a, n in self._local.items() if n > 0}

    def online_agents(self) -> set[str]:
        """Last known agents online anywhere (synchronous, may lag a heartbeat)."""
        return self.local_agents()

    async def refresh(self) -> set[str]:
        """Agents online anywhere, now."""
        return self.online_agents()

    async def is_online(self, agent: str) -> bool:
        return agent in await self.refresh()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


class RedisPresence(Presence):
    def __init__(self, client: aioredis.Redis, instance: str) -> None:
        super().__init__()
        self._redis = client
        self._key = PRESENCE_PREFIX + instance
        self._known: set[str] = set()
        self._write_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._heartbeat: asyncio.Task[None] | None = None

    def connected(self, agent: str) -> None:
        super().connected(agent)
        self._known.add(agent)
        self._write_soon()

    def disconnected(self, agent: str) -> int:
        left = super().disconnected(agent)
        self._write_soon()
        return left

    def online_agents(self) -> set[str]:
        return self._known | self.local_agents()

    async def refresh(self) -> set[str]:
        try:
            agents: set[str] = set()
            async for key in self._redis.scan_iter(match=PRESENCE_PREFIX + "*", count=100):
                for agent, count in (await self._redis.hgetall(key)).items():
                    if int(count) > 0:
                        agents.add(agent.decode() if isinstance(agent, bytes) else str(agent))
            self._known = agents
        except (RedisError, OSError) as exc:
            log.warning("agents' presence unreadable in Redis (%s); using this instance's", exc)
            self._known = set()
        return self.online_agents()

    def _write_soon(self) -> None:
        task = asyncio.ensure_future(self._write())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(self) -> None:
        async with self._write_lock:
            try:
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.delete(self._key)
                    if self._local:
                        pipe.hset(self._key, mapping={a: n for a, n in self._local.items()})
                        pipe.expire(self._key, PRESENCE_TTL_S)
                    await pipe.execute()
            except (RedisError, OSError) as exc:
                log.warning("agents' presence not written to Redis: %s", exc)

    async def _beat(self) -> None:
        # Also restores this instance's entry after Redis restarted empty.
        while True:
            await self._write()
            await self.refresh()
            await asyncio.sleep(HEARTBEAT_S)

    async def start(self) -> None:
        self._heartbeat = asyncio.create_task(self._beat(), name="presence-heartbeat")

    async def close(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
        self._local.clear()
        await self._write()  # this instance's agents are gone at once, not after the TTL


class TurnLocks:
    """One turn at a time per conversation, in this process."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def local(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        async with self.local(key):
            yield


class RedisTurnLocks(TurnLocks):
    """The in-process lock first (no Redis round trip between turns of one
    WebSocket), then the Redis one shared by every instance."""

    def __init__(self, client: aioredis.Redis) -> None:
        super().__init__()
        self._redis = client

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        async with self.local(key):
            lock = self._redis.lock(
                LOCK_PREFIX + key,
                timeout=TURN_LOCK_TTL_S,
                blocking_timeout=TURN_LOCK_WAIT_S,
                sleep=0.02,
            )
            acquired = False
            try:
                acquired = bool(await lock.acquire())
                if not acquired:
                    log.warning("turn lock of %s still held after %.0f s", key, TURN_LOCK_WAIT_S)
            except (RedisError, OSError) as exc:
                log.warning("turn lock unavailable in Redis (%s); this instance's only", exc)
            try:
                yield
            finally:
                if acquired:
                    with contextlib.suppress(LockError, RedisError, OSError):
                        await lock.release()


def shared_state(bus: object) -> tuple[Presence, TurnLocks]:
    """Presence and turn locks matching the bus: through its Redis when it has one."""
    from bot.conversation.events import RedisEventBus

    if isinstance(bus, RedisEventBus):
        return RedisPresence(bus.redis, bus.instance), RedisTurnLocks(bus.redis)
    return Presence(), TurnLocks()
