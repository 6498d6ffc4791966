"""Relay latency between citizens and agents during handoffs, on the real stack.

Starts Rasa and the app (`tools.launcher.Stack`) in a scratch data directory on
free loopback ports, agent hours always open. Creates N agent accounts; each
agent signs in through /admin/login and opens the console's WebSocket
(/agent/ws); each citizen opens the widget's WebSocket (/ws) and writes
"je veux parler à un agent", so the real dialogue queues the conversation.
Agent i takes citizen i's conversation; once every pair is connected they all
exchange M messages each way at the same time, ping-pong: the citizen writes,
the agent receives it and answers, the citizen receives the answer, and so on.

Latency is measured from the send on one side to the receipt of the relayed
frame on the other (same process, monotonic clock). A message not received
within --timeout seconds counts as lost. Targets: p95 <= 100 ms, 0 lost.
Every agent console receives every relayed message (the agents' topic is
shared), so N agents mean N deliveries per message: that fan-out is measured.

Pace (--think, seconds before each message): the default 1-3 s is a brisk
chat, already faster than people type (50 pairs: about 20 messages/s).
--think 0 is a stress test: every pair sends its next message as soon as the
previous one arrived, with Rasa (which still logs each citizen message) and
this client on the same machine; it measures saturation, not the target.

Bounded: at most 200 pairs and 100 messages each way; --deadline stops it.
Everything listens on 127.0.0.1 only.

Usage: python benchmarks/handoff_relay.py [--pairs 50] [--messages 10] [--think 1-3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import shutil
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.admin.users import Role, UserStore
from bot.core.db import create_engine
from bot.schema import create_schema
from bot.settings import load_settings
from tools import ROOT
from tools.launcher import Stack
from tools.rasa import ensure_model

MAX_PAIRS = 200
MAX_MESSAGES = 100
PASSWORD = "mot de passe du banc d'essai"
ASK_AGENT = "je veux parler à un agent"
ALWAYS_OPEN = (
    "{"
    + ", ".join(
        f'"{d}": ["00:00-23:59"]' for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    )
    + "}"
)
# Setting up handoffs goes through Rasa: a few at a time, so its own latency
# (not measured here) does not time requests out.
SETUP_CONCURRENCY = 4
SETUP_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Results:
    to_agent_ms: list[float] = field(default_factory=list)
    to_citizen_ms: list[float] = field(default_factory=list)
    lost: int = 0
    sent: int = 0
    setup_failures: int = 0
    errors: list[str] = field(default_factory=list)


class Peer:
    """One WebSocket and a reader that resolves what the test waits for."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.expected: dict[str, asyncio.Future[float]] = {}
        self.frames: dict[str, asyncio.Queue[dict[str, Any]]] = defaultdict(asyncio.Queue)
        self.reader = asyncio.create_task(self._read())

    def expect(self, text: str) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.expected[text] = future
        return future

    def _arrived(self, text: Any, at: float) -> None:
        future = self.expected.pop(text, None) if isinstance(text, str) else None
        if future is not None and not future.done():
            future.set_result(at)

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            at = time.perf_counter()
            frame = json.loads(msg.data)
            self.on_frame(frame, at)

    def on_frame(self, frame: dict[str, Any], at: float) -> None:
        self.frames[frame.get("type", "")].put_nowait(frame)

    async def next(self, kind: str) -> dict[str, Any]:
        return await asyncio.wait_for(self.frames[kind].get(), SETUP_TIMEOUT_S)

    async def close(self) -> None:
        await self.ws.close()
        self.reader.cancel()
        await asyncio.gather(self.reader, return_exceptions=True)


class Citizen(Peer):
    def on_frame(self, frame: dict[str, Any], at: float) -> None:
        if frame.get("type") == "agent":
            for m in frame.get("messages", []):
                self._arrived(m.get("text"), at)
            return
        super().on_frame(frame, at)


class Agent(Peer):
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.handoff_id: int | None = None
        self.waiting: dict[str, int] = {}  # conversation id -> handoff id
        self.queue_changed = asyncio.Event()
        super().__init__(ws)

    def on_frame(self, frame: dict[str, Any], at: float) -> None:
        kind = frame.get("type")
        if kind == "message":
            # Every console gets every relayed message; this agent waits for its own.
            if frame.get("handoff_id") == self.handoff_id and frame.get("role") == "user":
                self._arrived(frame.get("text"), at)
            return
        if kind == "queue":
            self.waiting = {
                h["conversation_id"]: h["id"]
                for h in frame.get("handoffs", [])
                if h.get("status") == "waiting"
            }
            self.queue_changed.set()
            return
        if kind in ("claimed", "error", "hello"):
            super().on_frame(frame, at)

    async def handoff_of(self, conversation_id: str) -> int:
        deadline = time.monotonic() + SETUP_TIMEOUT_S
        while conversation_id not in self.waiting:
            self.queue_changed.clear()
            await asyncio.wait_for(self.queue_changed.wait(), deadline - time.monotonic())
        return self.waiting[conversation_id]


async def sign_in(http: aiohttp.ClientSession, email: str) -> None:
    async with http.get("/admin/login") as resp:
        page = await resp.text()
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    if match is None:
        raise RuntimeError("no CSRF token on the sign-in page")
    form = {"csrf_token": match.group(1), "email": email, "password": PASSWORD, "next": "/agent"}
    async with http.post("/admin/login", data=form, allow_redirects=False) as resp:
        if resp.status != 303:
            raise RuntimeError(f"sign-in of {email} answered HTTP {resp.status}")


async def ask_for_agent(citizen: Citizen, results: Results) -> None:
    """Queue the conversation through the real dialogue.

    Queued means the citizen got the queue position (a `handoff` frame). When
    Rasa was too slow the widget's turn times out with an apology although the
    action may still queue the conversation; so wait for the position, and
    only ask again when none came.
    """
    for _ in range(3):
        await citizen.ws.send_json({"type": "message", "text": ASK_AGENT})
        try:
            while (await citizen.next("handoff")).get("status") != "waiting":
                pass
            return
        except TimeoutError:
            results.setup_failures += 1
    raise RuntimeError("the conversation was not queued after 3 requests")


@dataclass
class Pair:
    index: int
    http_agent: aiohttp.ClientSession
    http_citizen: aiohttp.ClientSession
    agent: Agent | None = None
    citizen: Citizen | None = None


async def set_up(
    pair: Pair, url: str, email: str, gate: asyncio.Semaphore, results: Results
) -> None:
    await sign_in(pair.http_agent, email)
    agent_ws = await pair.http_agent.ws_connect("/agent/ws", origin=url)
    pair.agent = agent = Agent(agent_ws)
    await agent.next("hello")
    session = str(uuid.uuid4())
    pair.citizen = citizen = Citizen(await pair.http_citizen.ws_connect(f"/ws?session={session}"))
    await citizen.next("history")
    async with gate:
        await ask_for_agent(citizen, results)
    handoff_id = await agent.handoff_of(session)
    agent.handoff_id = handoff_id
    await agent.ws.send_json({"type": "claim", "handoff_id": handoff_id})
    claimed = await agent.next("claimed")
    if not claimed.get("ok"):
        raise RuntimeError(f"agent {email} could not take handoff {handoff_id}")
    while (await citizen.next("handoff")).get("status") != "active":
        pass


async def converse(
    pair: Pair,
    messages: int,
    think: tuple[float, float],
    lost_after_s: float,
    results: Results,
    rng: random.Random,
) -> None:
    agent, citizen = pair.agent, pair.citizen
    assert agent is not None and citizen is not None and agent.handoff_id is not None
    for k in range(messages):
        if think[1] > 0:
            await asyncio.sleep(rng.uniform(*think))
        text = f"citoyen {pair.index} message {k} : bonjour, une question sur mon dossier"
        arrival = agent.expect(text)
        sent = time.perf_counter()
        await citizen.ws.send_json({"type": "message", "text": text})
        results.sent += 1
        try:
            results.to_agent_ms.append(
                (await asyncio.wait_for(arrival, lost_after_s) - sent) * 1000
            )
        except TimeoutError:
            results.lost += 1
            agent.expected.pop(text, None)
        if think[1] > 0:
            await asyncio.sleep(rng.uniform(*think))
        reply = f"agent {pair.index} réponse {k} : je regarde votre dossier"
        arrival = citizen.expect(reply)
        sent = time.perf_counter()
        await agent.ws.send_json({"type": "send", "handoff_id": agent.handoff_id, "text": reply})
        results.sent += 1
        try:
            results.to_citizen_ms.append(
                (await asyncio.wait_for(arrival, lost_after_s) - sent) * 1000
            )
        except TimeoutError:
            results.lost += 1
            citizen.expected.pop(reply, None)


async def bench(
    url: str, agents: list[str], messages: int, think: tuple[float, float], lost_after_s: float
) -> tuple[Results, dict[str, float]]:
    results = Results()
    timings: dict[str, float] = {}
    pairs = [
        Pair(
            i,
            # unsafe: the session cookie is set by an IP host (127.0.0.1).
            aiohttp.ClientSession(base_url=url, cookie_jar=aiohttp.CookieJar(unsafe=True)),
            aiohttp.ClientSession(base_url=url),
        )
        for i in range(len(agents))
    ]
    gate = asyncio.Semaphore(SETUP_CONCURRENCY)
    try:
        started = time.perf_counter()
        await asyncio.gather(
            *(set_up(p, url, email, gate, results) for p, email in zip(pairs, agents, strict=True))
        )
        timings["setup_s"] = time.perf_counter() - started
        rng = random.Random(42)
        started = time.perf_counter()
        await asyncio.gather(
            *(
                converse(p, messages, think, lost_after_s, results, random.Random(rng.random()))
                for p in pairs
            )
        )
        timings["exchange_s"] = time.perf_counter() - started
    finally:
        for p in pairs:
            for peer in (p.agent, p.citizen):
                if peer is not None:
                    await peer.close()
            await p.http_agent.close()
            await p.http_citizen.close()
    return results, timings


async def create_agents(data_dir: Path, count: int) -> list[str]:
    engine = create_engine(f"sqlite+aiosqlite:///{data_dir / 'guichet.db'}")
    try:
        await create_schema(engine)
        users = UserStore(engine)
        emails = [f"agent{i:03d}@banc.example" for i in range(count)]
        for email in emails:
            await users.create(email, PASSWORD, Role.AGENT)
        return emails
    finally:
        await engine.dispose()


def figures(values: list[float]) -> dict[str, float | None]:
    return {
        "count": len(values),
        "p50_ms": round(statistics.median(values), 1) if values else None,
        "p95_ms": round(percentile(values, 0.95), 1) if values else None,
        "max_ms": round(max(values), 1) if values else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=50)
    parser.add_argument("--messages", type=int, default=10, help="messages each way, per pair")
    parser.add_argument(
        "--think", default="1-3", help="seconds before each message: 0 (stress) or MIN-MAX"
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="a message is lost after this")
    parser.add_argument("--deadline", type=float, default=900.0, help="whole run, in seconds")
    parser.add_argument("--keep", action="store_true", help="keep the scratch data directory")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not (1 <= args.pairs <= MAX_PAIRS and 1 <= args.messages <= MAX_MESSAGES):
        parser.error(f"--pairs 1..{MAX_PAIRS}, --messages 1..{MAX_MESSAGES}")
    lo, _, hi = args.think.partition("-")
    think = (float(lo), float(hi or lo))

    model = ensure_model(load_settings().data_dir)
    scratch = Path(tempfile.mkdtemp(prefix="guichet-handoff-bench-"))
    settings = load_settings(
        env={
            "GUICHET_DATA_DIR": str(scratch),
            "GUICHET__SERVER__HOST": "127.0.0.1",
            "GUICHET__SERVER__PORT": str(free_port()),
            "GUICHET__ACTIONS__HOST": "127.0.0.1",
            "GUICHET__ACTIONS__PORT": str(free_port()),
            "GUICHET__RASA__URL": f"http://127.0.0.1:{free_port()}",
        }
    )
    emails = asyncio.run(create_agents(scratch, args.pairs))
    stack = Stack(settings, model, ROOT, extra_env={"GUICHET__HANDOFF__AGENT_HOURS": ALWAYS_OPEN})
    try:
        stack.start(timeout_s=240)
        results, timings = asyncio.run(
            asyncio.wait_for(
                bench(stack.app_url, emails, args.messages, think, args.timeout), args.deadline
            )
        )
    finally:
        stack.stop()
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)

    both = results.to_agent_ms + results.to_citizen_ms
    report = {
        "pairs": args.pairs,
        "messages_each_way": args.messages,
        "think_s": args.think,
        "sent": results.sent,
        "lost": results.lost,
        "relay": figures(both),
        "citizen_to_agent": figures(results.to_agent_ms),
        "agent_to_citizen": figures(results.to_citizen_ms),
        "setup_retries": results.setup_failures,
        "setup_s": round(timings.get("setup_s", 0), 1),
        "exchange_s": round(timings.get("exchange_s", 0), 1),
        "startup_s": {k: round(v, 1) for k, v in stack.startup_s.items()},
    }
    ok = results.lost == 0 and (report["relay"]["p95_ms"] or float("inf")) <= 100
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"handoff relay: {args.pairs} citizen–agent pairs × {args.messages} messages each "
            f"way, think {args.think} s"
        )
        for name in ("relay", "citizen_to_agent", "agent_to_citizen"):
            f = report[name]
            print(
                f"  {name:17} n={f['count']:<5} p50 {f['p50_ms']} ms  p95 {f['p95_ms']} ms  "
                f"max {f['max_ms']} ms"
            )
        print(f"  sent {results.sent}  lost {results.lost}  (target: p95 ≤ 100 ms, 0 lost)")
        print(
            f"  setup {report['setup_s']} s (retries {results.setup_failures}), exchange "
            f"{report['exchange_s']} s, start-up {report['startup_s']}"
        )
        print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
