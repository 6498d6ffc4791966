"""A citizen's conversation through the app's HTTP chat endpoint."""

from __future__ import annotations

from typing import Any

import aiohttp


class Chat:
    """One citizen's conversation through the app's HTTP chat endpoint."""

    def __init__(self, base_url: str, session_id: str) -> None:
        self.url = f"{base_url}/api/chat/{session_id}"
        self.session_id = session_id

    async def say(self, text: str, payload: str | None = None) -> list[dict[str, Any]]:
        body: dict[str, Any] = {"text": text}
        if payload:
            body["payload"] = payload
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{self.url}/messages", json=body) as resp,
        ):
            assert resp.status == 200, await resp.text()
            messages: list[dict[str, Any]] = (await resp.json())["messages"]
            return messages

    async def history(self) -> list[dict[str, Any]]:
        async with aiohttp.ClientSession() as http, http.get(f"{self.url}/history") as resp:
            assert resp.status == 200
            result: list[dict[str, Any]] = (await resp.json())["messages"]
            return result


def texts(messages: list[dict[str, Any]]) -> str:
    return "\n".join(m["text"] for m in messages)
