"""Talks to the Rasa server's REST channel (to one of several, by conversation)."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import aiohttp


class RasaUnavailable(Exception):
    """Rasa did not answer in time or answered with an error."""


class RasaClient:
    def __init__(self, base_url: str | Sequence[str], timeout_s: float, token: str = "") -> None:
        urls = [base_url] if isinstance(base_url, str) else list(base_url)
        if not urls:
            raise ValueError("RasaClient needs at least one Rasa URL")
        self._base_urls = [u.rstrip("/") for u in urls]
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        # One pooled session for all conversations: a connection per turn would
        # add a TCP handshake to every message.
        self._session = aiohttp.ClientSession(
            timeout=self._timeout, connector=aiohttp.TCPConnector(limit=100)
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def server_for(self, sender_id: str) -> str:
        """The Rasa server of a conversation: always the same one for the same id (a
        CRC, not Python's per-process salted hash), so its tracker, its lock and its
        order of turns stay in one process."""
        if len(self._base_urls) == 1:
            return self._base_urls[0]
        return self._base_urls[zlib.crc32(sender_id.encode()) % len(self._base_urls)]

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("RasaClient.start() was not awaited")
        return self._session

    async def send_message(
        self,
        sender_id: str,
        text: str,
        input_channel: str,
        metadata: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Send one user message; returns Rasa's bot messages (REST format)."""
        body = {
            "sender": sender_id,
            "message": text,
            "input_channel": input_channel,
            "metadata": metadata or {},
        }
        try:
            async with self._http().post(
                f"{self.server_for(sender_id)}/webhooks/rest/webhook", json=body
            ) as resp:
                if resp.status != 200:
                    raise RasaUnavailable(f"Rasa answered HTTP {resp.status}")
                data = await resp.json()
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise RasaUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(data, list):
            raise RasaUnavailable(f"unexpected Rasa answer: {type(data).__name__}")
        return [m for m in data if isinstance(m, dict)]

    async def append_events(self, sender_id: str, events: list[dict[str, Any]]) -> None:
        """Add events to a conversation's tracker (Rasa's HTTP API, needs the token).

        Used while a human holds the conversation: `resume` when the bot takes
        over again, `bot` events for what the agent said, so the tracker tells
        the whole conversation.
        """
        try:
            async with self._http().post(
                f"{self.server_for(sender_id)}/conversations/{sender_id}/tracker/events",
                params={"token": self._token, "include_events": "NONE"},
                json=events,
            ) as resp:
                if resp.status != 200:
                    raise RasaUnavailable(f"Rasa answered HTTP {resp.status} to tracker events")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RasaUnavailable(f"{type(exc).__name__}: {exc}") from exc

    async def tracker(self, sender_id: str) -> dict[str, Any]:
        """The conversation as Rasa sees it (events with intents, slots)."""
        try:
            async with self._http().get(
                f"{self.server_for(sender_id)}/conversations/{sender_id}/tracker",
                params={"token": self._token, "include_events": "ALL"},
            ) as resp:
                if resp.status != 200:
                    raise RasaUnavailable(f"Rasa answered HTTP {resp.status} to a tracker read")
                data = await resp.json()
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise RasaUnavailable(f"{type(exc).__name__}: {exc}") from exc
        return data if isinstance(data, dict) else {}

    async def is_ready(self) -> bool:
        """True when every Rasa server is up with a model loaded."""
        for base_url in self._base_urls:
            if not await self._server_ready(base_url):
                return False
        return True

    async def _server_ready(self, base_url: str) -> bool:
        try:
            async with self._http().get(f"{base_url}/status") as resp:
                if resp.status == 200:
                    return True
            # /status needs --enable-api; fall back to the always-on root route.
            async with self._http().get(f"{base_url}/") as resp:
                return resp.status == 200
        except (TimeoutError, aiohttp.ClientError):
            return False
