"""PostgreSQL and Redis of the shared scaled stack go away and come back; each app
instance says it is degraded meanwhile and recovers by itself. Marked disruptive, so
it runs after every other test (tests/conftest.py), whatever the file order."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import aiohttp
import pytest

from tests.support.chat import Chat
from tools.scaled import ScaledStack

pytestmark = [pytest.mark.scaled, pytest.mark.disruptive, pytest.mark.timeout(600)]

RECOVERY_BOUND_S = 60.0


async def readiness(http: aiohttp.ClientSession, base: str) -> tuple[int, dict[str, Any]]:
    async with http.get(f"{base}/readyz") as resp:
        return resp.status, dict((await resp.json())["checks"])


async def until(http: aiohttp.ClientSession, base: str, check: str, value: bool) -> None:
    deadline = time.monotonic() + RECOVERY_BOUND_S
    while True:
        status, checks = await readiness(http, base)
        if checks.get(check) is value and (status == 200) is all(checks.values()):
            return
        assert time.monotonic() < deadline, f"{base}: {check} still {checks} ({status})"
        await asyncio.sleep(0.5)


@pytest.mark.parametrize("engine", ["redis", "postgres"])
async def test_readiness_follows_shared_engines_and_recovers(
    scaled: ScaledStack, http: aiohttp.ClientSession, engine: str
) -> None:
    check = {"redis": "redis", "postgres": "database"}[engine]
    for base in scaled.app_urls:
        await until(http, base, check, True)
    service = scaled.services[engine]
    service.stop()
    try:
        for base in scaled.app_urls:
            await until(http, base, check, False)
            status, _ = await readiness(http, base)
            assert status == 503
    finally:
        service.start()
        service.wait_ready(60)
    for base in scaled.app_urls:
        await until(http, base, check, True)
    # And the conversation goes on, through both instances.
    session = str(uuid.uuid4())
    reply = await Chat(scaled.public_url, session).say("bonjour")
    assert reply and "assistant" in reply[0]["text"]
