"""Talks to the Rasa server's REST channel."""

from __future__ import annotations

from typing import Any

import aiohttp


class RasaUnavailable(Exception):
    """Rasa did not answer in time or answered with an error."""


class RasaClient:
    def __init__(self, base_url: str, timeout_s: float) -> None:
        self._base_url = base_url.rstrip("/")
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
                f"{self._base_url}/webhooks/rest/webhook", json=body
            ) as resp:
                if resp.status != 200:
                    raise RasaUnavailable(f"Rasa answered HTTP {resp.status}")
                data = await resp.json()
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise RasaUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(data, list):
            raise RasaUnavailable(f"unexpected Rasa answer: {type(data).__name__}")
        return [m for m in data if isinstance(m, dict)]

    async def is_ready(self) -> bool:
        """True when Rasa is up with a model loaded."""
        try:
            async with self._http().get(f"{self._base_url}/status") as resp:
                if resp.status == 200:
                    return True
            # /status needs --enable-api; fall back to the always-on root route.
            async with self._http().get(f"{self._base_url}/") as resp:
                return resp.status == 200
        except (TimeoutError, aiohttp.ClientError):
            return False
