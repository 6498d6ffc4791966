"""Rasa's action endpoint (loopback only) bounds what a request body may inflate to."""

from __future__ import annotations

import json
import zlib
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from rasa_sdk.executor import ActionExecutor

from bot.conversation.action_server import MAX_ACTION_REQUEST_BYTES, create_action_app


def deflated_spaces(size: int) -> bytes:
    """`size` spaces, deflated (about a thousandth of the size)."""
    deflater = zlib.compressobj(9)
    chunk = b" " * (1024 * 1024)
    parts = [deflater.compress(chunk) for _ in range(size // len(chunk))]
    return b"".join(parts) + deflater.flush()


@pytest.fixture
async def endpoint() -> AsyncIterator[str]:
    server = TestServer(create_action_app(ActionExecutor()), host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("/webhook"))
    await server.close()


async def post(url: str, body: bytes) -> tuple[int, dict[str, object]]:
    headers = {"Content-Encoding": "deflate", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as r:
        return r.status, await r.json(content_type=None)


async def test_deflated_calls_are_read_and_bombs_refused(endpoint: str) -> None:
    call = {"next_action": "action_nope", "sender_id": "s", "tracker": {}, "domain": {}}
    # A normal deflated call is read (here: an action this executor does not have).
    status, body = await post(endpoint, zlib.compress(json.dumps(call).encode()))
    assert status == 404 and body["action_name"] == "action_nope"
    # Deflated twice: ~70 KB on the wire, 64 MiB once inflated twice.
    twice = zlib.compress(deflated_spaces(2 * MAX_ACTION_REQUEST_BYTES))
    assert len(twice) < 200_000
    status, body = await post(endpoint, twice)
    assert (status, body) == (413, {"error": "request body too large"})
    # Deflated once past the limit: aiohttp's own inflation stops at the limit.
    status, body = await post(endpoint, deflated_spaces(2 * MAX_ACTION_REQUEST_BYTES))
    assert (status, body) == (413, {"error": "request body too large"})
    # Still serving afterwards.
    status, _ = await post(endpoint, zlib.compress(json.dumps(call).encode()))
    assert status == 404
