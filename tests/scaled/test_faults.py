"""Faults under a modest chat load on the scaled stack (issue #6), through nginx.

Twelve citizens keep talking over the real WebSocket (questions with known answers,
2.5 to 4 s between messages, each from its own forwarded address) while the test

* SIGKILLs one Rasa server, then one app instance: the conversations go on with the
  remaining ones. Only a message that was in flight at a kill may get the apology or
  be delayed: when its socket dies with its app instance, the citizen reconnects with
  the same session (as the widget does) and, if the stored history does not hold the
  answer, sends the message again (as the person would). No reply is lost or
  misrouted and every stored transcript is exactly what the sockets saw. The killed
  processes are started again, so the session's stack stays usable;
* stops PostgreSQL, then Redis, while every citizen writes: every instance's /readyz
  says `degraded`, then `ready` again by itself; no socket is dropped (a message in
  flight gets its answer or the apology on its socket), nothing stored before is
  lost, only apologies given while PostgreSQL was away may be missing from the
  transcripts, and the chat works afterwards.

Only bounded waits, no timed assertions; everything on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from tools.scaled import ScaledStack

pytestmark = [pytest.mark.scaled, pytest.mark.disruptive, pytest.mark.timeout(420)]

CITIZENS = 12
# Under the per-session limit of bot/settings.yml (burst 10, 20 a minute).
THINK_S = (2.5, 4.0)
# Bounds, not expectations: a reply that does not come ends the test.
REPLY_BOUND_S = 60.0
RECONNECT_BOUND_S = 90.0
PROGRESS_BOUND_S = 90.0
READY_BOUND_S = 60.0
RASA_START_BOUND_S = 240.0
QUESTIONS = [
    "la mairie est ouverte le samedi ?",
    "quelle est l'adresse de la mairie",
    "vous êtes un robot ?",
]
CLOSED: dict[str, Any] = {"type": "closed"}


def signature(messages: list[dict[str, Any]]) -> str:
    return json.dumps([m.get("text") for m in messages], ensure_ascii=False)


def is_apology(messages: list[dict[str, Any]]) -> bool:
    return any(m.get("degraded") for m in messages)


@dataclass
class Turn:
    text: str
    sent_at: float
    replied_at: float | None = None
    replies: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None  # an error frame's code
    interrupted: int = 0  # socket closures while it waited
    resent: int = 0  # sent again after reconnecting


def stored_turns(history: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    turns: list[tuple[str, list[str]]] = []
    for m in history:
        if m.get("role") == "user":
            turns.append((str(m["text"]), []))
        elif m.get("role") == "bot" and turns:
            turns[-1][1].append(str(m["text"]))
    return turns


class Citizen:
    """One widget: one session id, a socket through nginx, reconnection and re-sending
    of an unanswered message when the socket drops (what a browser tab does)."""

    def __init__(self, http: aiohttp.ClientSession, base: str, address: str) -> None:
        self.http = http
        self.base = base
        self.session = str(uuid.uuid4())
        # Each citizen has its own address (nginx appends the peer to X-Forwarded-For
        # and the apps trust it), so the per-IP limit applies per citizen, as in real life.
        self.headers = {"X-Forwarded-For": address}
        self.turns: list[Turn] = []
        self.reconnects = 0
        self.unsolicited = 0
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        self._waiting = False

    @property
    def ws_url(self) -> str:
        return self.base.replace("http", "ws", 1) + f"/ws?session={self.session}"

    async def connect(self) -> list[dict[str, Any]]:
        """A socket and its history frame; retried (bounded) while nothing answers."""
        deadline = time.monotonic() + RECONNECT_BOUND_S
        while True:
            try:
                ws = await asyncio.wait_for(
                    self.http.ws_connect(self.ws_url, headers=self.headers), 10
                )
                first = await ws.receive(timeout=15)
                if first.type == aiohttp.WSMsgType.TEXT:
                    frame = json.loads(first.data)
                    if frame.get("type") == "history":
                        break
                await ws.close()
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
                pass
            assert time.monotonic() < deadline, f"{self.session}: no socket for a long time"
            await asyncio.sleep(0.5)
        self.ws = ws
        self._frames = asyncio.Queue()
        self._reader = asyncio.create_task(self._read(ws, self._frames))
        history: list[dict[str, Any]] = frame["messages"]
        return history

    async def _read(
        self, ws: aiohttp.ClientWebSocketResponse, frames: asyncio.Queue[dict[str, Any]]
    ) -> None:
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                frame = json.loads(msg.data)
                if frame.get("type") not in ("bot", "error"):
                    continue  # typing
                if self._waiting:
                    self._waiting = False
                    frames.put_nowait(frame)
                else:
                    self.unsolicited += 1
        except (aiohttp.ClientError, OSError, ValueError):
            pass
        finally:
            frames.put_nowait(CLOSED)

    async def _send(self, text: str) -> bool:
        assert self.ws is not None
        self._waiting = True
        try:
            await self.ws.send_json({"type": "message", "text": text})
            return True
        except (aiohttp.ClientError, ConnectionError, RuntimeError):
            return False

    async def ask(self, text: str) -> Turn:
        if self._reader is not None and self._reader.done():
            # Dropped while idle (its instance died between two messages): reopen
            # before typing, as the widget does; no message was waiting.
            await self._drop_socket()
            self.reconnects += 1
            await self.connect()
        turn = Turn(text, time.monotonic())
        self.turns.append(turn)
        sent = await self._send(text)
        while True:
            frame = await asyncio.wait_for(self._frames.get(), REPLY_BOUND_S) if sent else CLOSED
            if frame["type"] == "bot":
                turn.replies = frame["messages"]
                break
            if frame["type"] == "error":
                turn.error = str(frame.get("code"))
                break
            # The socket dropped (its app instance died): reconnect with the same
            # session; the reply is in the history if the turn completed, else send again.
            turn.interrupted += 1
            self._waiting = False
            await self._drop_socket()
            self.reconnects += 1
            history = stored_turns(await self.connect())
            done = len(self.turns) - 1
            if len(history) > done and history[done][0] == text and history[done][1]:
                turn.replies = [{"text": t} for t in history[done][1]]
                break
            turn.resent += 1
            sent = await self._send(text)
        turn.replied_at = time.monotonic()
        return turn

    async def _drop_socket(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)

    async def close(self) -> None:
        await self._drop_socket()


@dataclass
class Fault:
    name: str
    started: float
    ended: float = 0.0

    def spans(self, turn: Turn) -> bool:
        """The turn was waiting for its reply at some moment of the fault."""
        return turn.sent_at <= self.ended and (
            turn.replied_at is None or turn.replied_at >= self.started
        )


class Load:
    """Citizens talking until stopped; `known` maps each question to its answer."""

    def __init__(self, http: aiohttp.ClientSession, base: str, known: dict[str, str]) -> None:
        self.known = known
        self.citizens = [Citizen(http, base, f"198.51.100.{i + 1}") for i in range(CITIZENS)]
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        for c in self.citizens:
            await c.connect()
        self._tasks = [
            asyncio.create_task(self._talk(c, random.Random(i)))
            for i, c in enumerate(self.citizens)
        ]

    async def _talk(self, citizen: Citizen, rng: random.Random) -> None:
        while not self._stop.is_set():
            await citizen.ask(rng.choice(list(self.known)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), rng.uniform(*THINK_S))

    def answered(self) -> int:
        """Turns answered so far, by the citizen with the fewest."""
        return min(sum(t.replied_at is not None for t in c.turns) for c in self.citizens)

    async def progress(self, turns: int, what: str) -> None:
        """Every citizen gets `turns` more answers (bounded wait)."""
        target = self.answered() + turns
        deadline = time.monotonic() + PROGRESS_BOUND_S
        while self.answered() < target:
            self.raise_if_failed()
            assert time.monotonic() < deadline, f"the chat stalled {what}"
            await asyncio.sleep(0.2)

    async def sent_since(self, since: float, what: str) -> None:
        """Every citizen sends a message after `since` (bounded wait)."""
        deadline = time.monotonic() + PROGRESS_BOUND_S
        while min(sum(t.sent_at >= since for t in c.turns) for c in self.citizens) < 1:
            self.raise_if_failed()
            assert time.monotonic() < deadline, f"the citizens stopped writing {what}"
            await asyncio.sleep(0.2)

    def raise_if_failed(self) -> None:
        for task in self._tasks:
            if task.done() and task.exception() is not None:
                raise AssertionError(f"a citizen failed: {task.exception()!r}")

    async def stop(self) -> None:
        self._stop.set()
        results = await asyncio.gather(*self._tasks, return_exceptions=True)
        for c in self.citizens:
            await c.close()
        failures = [r for r in results if isinstance(r, BaseException)]
        assert not failures, f"citizens failed (a reply never came?): {failures!r}"


async def known_answers(base: str) -> dict[str, str]:
    """Each question's answer, asked in a fresh session; all different."""
    known: dict[str, str] = {}
    async with aiohttp.ClientSession() as http:
        for question in QUESTIONS:
            async with http.post(
                f"{base}/api/chat/{uuid.uuid4()}/messages",
                json={"text": question},
                headers={"X-Forwarded-For": "198.51.100.200"},
            ) as resp:
                assert resp.status == 200, await resp.text()
                messages = (await resp.json())["messages"]
            assert not is_apology(messages), f"{question!r}: {messages}"
            known[question] = signature(messages)
    assert len(set(known.values())) == len(known), known
    return known


async def readiness(http: aiohttp.ClientSession, base: str) -> tuple[int, dict[str, bool]]:
    try:
        async with http.get(f"{base}/readyz", timeout=aiohttp.ClientTimeout(total=10)) as resp:
            return resp.status, dict((await resp.json())["checks"])
    except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
        return 0, {}


async def until_ready(
    http: aiohttp.ClientSession, bases: list[str], check: str, value: bool
) -> None:
    """Each instance's /readyz shows `check` at `value` (200 only when all are true)."""
    deadline = time.monotonic() + READY_BOUND_S
    for base in bases:
        while True:
            status, checks = await readiness(http, base)
            if checks.get(check) is value and (status == 200) is all(checks.values()):
                break
            assert time.monotonic() < deadline, f"{base}: {check} still {checks} ({status})"
            await asyncio.sleep(0.3)


async def check_outcome(
    load: Load,
    base: str,
    faults: list[Fault],
    allow: Callable[[Turn], bool],
    database_away: bool = False,
) -> dict[str, int]:
    """Replies right or excused, nothing lost or misrouted, transcripts exact."""
    counts = {"turns": 0, "apologies": 0, "interrupted": 0, "resent": 0, "reconnects": 0}
    counts["unstored"] = 0

    def unstorable(turn: Turn) -> bool:
        return database_away and is_apology(turn.replies) and any(f.spans(turn) for f in faults)

    wrong: list[str] = []
    async with aiohttp.ClientSession() as http:
        for c in load.citizens:
            if c.unsolicited:
                wrong.append(f"{c.session}: {c.unsolicited} replies nobody waited for")
            counts["reconnects"] += c.reconnects
            for i, turn in enumerate(c.turns):
                counts["turns"] += 1
                where = f"{c.session} turn {i} {turn.text!r}"
                if turn.replied_at is None or turn.error is not None:
                    wrong.append(f"{where}: no reply (error frame {turn.error})")
                    continue
                excused = any(f.spans(turn) for f in faults) and allow(turn)
                counts["interrupted"] += bool(turn.interrupted)
                counts["resent"] += turn.resent
                if turn.interrupted and not excused:
                    wrong.append(f"{where}: interrupted outside a fault")
                if is_apology(turn.replies):
                    counts["apologies"] += 1
                    if not excused:
                        wrong.append(f"{where}: apology outside a fault")
                elif signature(turn.replies) != load.known[turn.text]:
                    wrong.append(f"{where}: got {signature(turn.replies)[:120]}")
            async with http.get(f"{base}/api/chat/{c.session}/history", headers=c.headers) as resp:
                assert resp.status == 200
                stored = stored_turns((await resp.json())["messages"])
            # An apology given while the database was away may be missing (it could not
            # be stored); every other turn is there, in order.
            seen = [(t.text, [str(m["text"]) for m in t.replies], unstorable(t)) for t in c.turns]
            j, in_order = 0, True
            for text, replies, may_miss in seen:
                if j < len(stored) and stored[j] == (text, replies):
                    j += 1
                elif may_miss:
                    counts["unstored"] += 1
                else:
                    in_order = False
                    break
            if not in_order or j != len(stored):
                wrong.append(
                    f"{c.session}: stored transcript differs from the socket's: "
                    f"{len(stored)} stored turns, {len(seen)} seen"
                )
    print(f"counts: {counts}")
    assert not wrong, "\n".join(wrong)
    return counts


async def test_rasa_and_app_killed_under_load(scaled: ScaledStack) -> None:
    base = scaled.public_url
    known = await known_answers(base)
    rasa, app = scaled.services["rasa1"], scaled.services["app2"]
    faults: list[Fault] = []
    async with aiohttp.ClientSession() as http:
        load = Load(http, base, known)
        await load.start()
        try:
            await load.progress(2, "before the faults")
            for service in (rasa, app):
                fault = Fault(service.name, time.monotonic())
                await asyncio.to_thread(service.kill)
                fault.ended = time.monotonic()
                faults.append(fault)
                # The conversations go on with the remaining Rasa server / app instance.
                await load.progress(3, f"after {service.name} was killed")
        finally:
            await load.stop()
            for service in (rasa, app):
                service.start()
            await asyncio.to_thread(app.wait_ready, READY_BOUND_S)
            await asyncio.to_thread(rasa.wait_ready, RASA_START_BOUND_S)

    # Only a message in flight at a kill was touched: at most once each.
    counts = await check_outcome(load, base, faults, lambda t: t.interrupted <= 1)
    assert counts["reconnects"] > 0, "no socket was on the killed app instance"
    print(f"kills: {counts}")

    # Back to two of each: every instance is ready and answers.
    async with aiohttp.ClientSession() as http:
        await until_ready(http, scaled.app_urls, "rasa", True)
        for url in scaled.app_urls:
            async with http.post(
                f"{url}/api/chat/{uuid.uuid4()}/messages", json={"text": QUESTIONS[0]}
            ) as resp:
                assert resp.status == 200
                assert signature((await resp.json())["messages"]) == known[QUESTIONS[0]]


@pytest.mark.parametrize("engine", ["postgres", "redis"])
async def test_engine_restarted_under_load(scaled: ScaledStack, engine: str) -> None:
    base = scaled.public_url
    check = {"postgres": "database", "redis": "redis"}[engine]
    service = scaled.services[engine]
    known = await known_answers(base)
    async with aiohttp.ClientSession() as http:
        await until_ready(http, scaled.app_urls, check, True)
        load = Load(http, base, known)
        await load.start()
        try:
            await load.progress(2, f"before {engine} stopped")
            before = {c.session: len(c.turns) for c in load.citizens}
            fault = Fault(engine, time.monotonic())
            await asyncio.to_thread(service.stop)
            try:
                # Every instance says so, and every citizen writes meanwhile.
                await until_ready(http, scaled.app_urls, check, False)
                await load.sent_since(fault.started, f"while {engine} is away")
            finally:
                service.start()
                await asyncio.to_thread(service.wait_ready, READY_BOUND_S)
            # Back without restarting anything else.
            await until_ready(http, scaled.app_urls, check, True)
            fault.ended = time.monotonic()
            await load.progress(3, f"after {engine} came back")
        finally:
            await load.stop()

    # No socket is dropped: the message in flight gets its reply or the apology on the
    # same socket (the widget does not send a message again by itself).
    counts = await check_outcome(
        load, base, [fault], lambda t: not t.interrupted, database_away=engine == "postgres"
    )
    # Nothing stored before the outage is lost (check_outcome compared every turn).
    assert all(len(c.turns) > before[c.session] for c in load.citizens)
    print(f"{engine} restart: {counts}")
