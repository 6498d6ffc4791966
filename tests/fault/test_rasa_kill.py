"""Rasa killed with SIGKILL in the middle of a conversation, over the real WebSocket.

tests/integration/test_resilience.py stops Rasa cleanly (SIGTERM) between two turns
of an HTTP conversation. Here Rasa dies without warning while a turn is in flight,
inside the report form: the citizen's socket stays open, the in-flight message and
the next ones get the French apology with the town hall's number, and once Rasa is
back the same conversation continues the form from its SQL tracker store, up to a
stored report. Both databases pass `PRAGMA integrity_check` afterwards.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
import uuid
from typing import Any

import aiohttp
import pytest

from tests.fault.checks import assert_sqlite_sound
from tools.launcher import Stack

pytestmark = [pytest.mark.integration, pytest.mark.disruptive]

ASK_LOCATION = "Où se trouve le problème"
ASK_DESCRIPTION = "Décrivez le problème"
ASK_CONSENT = "Souhaitez-vous être recontacté"


class Citizen:
    """A browser tab: reads its socket all the time (answering the server's pings, as
    a browser does, also while Rasa restarts) and hands over the bot's replies."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.frames.put_nowait(msg.json())

    async def close(self) -> None:
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)

    async def send(self, text: str, payload: str | None = None) -> None:
        frame: dict[str, Any] = {"type": "message", "text": text}
        if payload:
            frame["payload"] = payload
        await self.ws.send_json(frame)

    async def reply(self) -> list[dict[str, Any]]:
        while True:
            frame = await asyncio.wait_for(self.frames.get(), 30)
            if frame["type"] == "bot":
                messages: list[dict[str, Any]] = frame["messages"]
                return messages
            assert frame["type"] in ("typing", "history"), frame

    async def say(self, text: str, payload: str | None = None) -> str:
        await self.send(text, payload)
        return "\n".join(m["text"] for m in await self.reply())


def kill_rasa(stack: Stack) -> None:
    proc = stack.processes.pop("rasa")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def start_rasa(stack: Stack) -> None:
    started = time.monotonic()
    stack.start_rasa()
    stack.wait_ready("rasa", f"{stack.settings.rasa.url}/", started, 240)


def is_apology(messages: list[dict[str, Any]], stack: Stack) -> bool:
    text = "\n".join(m["text"] for m in messages)
    return bool(messages[0].get("degraded")) and stack.settings.town.phone in text


async def test_rasa_killed_mid_turn_then_the_form_continues(stack: Stack) -> None:
    session = str(uuid.uuid4())
    url = stack.app_url.replace("http", "ws", 1) + f"/ws?session={session}"
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        c = Citizen(ws)
        assert (await asyncio.wait_for(c.frames.get(), 30))["type"] == "history"
        await c.say("je veux signaler un problème")
        assert ASK_LOCATION in await c.say("Voirie", '/inform{"report_category":"voirie"}')

        # Killed while this turn is with Rasa (or just after it answered).
        await c.send("place du Marché")
        await asyncio.to_thread(kill_rasa, stack)
        try:
            in_flight = await c.reply()
            answered = ASK_DESCRIPTION in in_flight[0]["text"]
            assert answered or is_apology(in_flight, stack), in_flight
            # Rasa is dead: every message gets the apology, quickly, on the same socket.
            await c.send("il y a un gros trou")
            assert is_apology(await c.reply(), stack)
        finally:
            await asyncio.to_thread(start_rasa, stack)

        # Same socket, same conversation: the form goes on where Rasa's tracker store
        # left it (the location is asked again only if Rasa died before storing it).
        reply = await c.say("place du Marché")
        if ASK_DESCRIPTION in reply:
            reply = await c.say("un gros trou dans la chaussée")
        assert ASK_CONSENT in reply, reply
        done = await c.say("Non", "/deny")
        assert "SIG-" in done, done
        assert not ws.closed  # one socket all along
        await c.close()

    reference = done.split("SIG-", 1)[1][:6]
    db = stack.settings.data_dir / "guichet.db"
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT location, conversation_id FROM reports WHERE reference = ?",
            (f"SIG-{reference}",),
        ).fetchone()
    assert row == ("place du Marché", session)
    assert_sqlite_sound(db)
    assert_sqlite_sound(stack.settings.data_dir / "rasa_tracker.db")
