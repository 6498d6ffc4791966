"""Load test of the web chat: many concurrent sessions over the real WebSocket.

N sessions (default 200) talk to `/ws?session=<uuid>` for a fixed duration (default
60 s), either like people (a random pause between messages, `--think 3-8`) or in a
closed loop (`--closed-loop`: next message as soon as the reply arrives). Every
reply is checked against the message it answers:

* questions with known answers: before the run, each candidate question is asked
  three times in fresh sessions and kept only if its reply has a stable signature
  (the source article for knowledge answers, else the exact text) that no other
  question shares; during the run a reply must carry its own question's signature;
* a session sends its next message only after the reply to the previous one, so a
  reply arriving on a socket that is not waiting for one came from elsewhere;
* after the run, each session's stored transcript (`/api/chat/<id>/history`) must
  hold the session's own messages in order, each followed by the reply its socket
  received.

Counted: **lost** (no reply within `--reply-timeout`; the session then starts a new
conversation, as a citizen reloading the page would), **misrouted** (a reply with
another question's signature, a reply nobody waited for, or a stored transcript that
does not match what the socket saw), **errors** (the French apology when Rasa did not
answer in time, error frames such as rate limiting, connection failures),
**unexpected** (a reply that matches no known signature: a dialogue-context effect,
not a routing fault), throughput and p50/p95/p99 latency.

Against `--url` (e.g. nginx in front of several instances) nothing is started; else a
single-node stack (Rasa + app, demo base) runs in a scratch directory, with the per-IP
rate limit of the chat endpoints turned off (every session comes from 127.0.0.1 here;
the per-session limit stays on) — the output says so.

Usage: python benchmarks/load_chat.py [--sessions 200] [--duration 60]
           [--think 3-8 | --closed-loop] [--url URL] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chatbench import own_stack_or_url, percentile, rate_limits_off, stack_rss, ws_url

ROOT = Path(__file__).resolve().parent.parent
KB_DEV = ROOT / "tests" / "data" / "kb_dev.jsonl"
# Fixed answers built from the settings (stable text), besides knowledge questions.
FIXED_QUESTIONS = [
    "la mairie est ouverte le samedi ?",
    "quel est le numéro de téléphone de la mairie",
    "quelle est l'adresse de la mairie",
    "vous êtes un robot ?",
]
# Asked after each candidate during calibration: a candidate that leaves the dialogue
# inside a form (e.g. a question read as the start of a report) changes this answer.
FOLLOW_UP = "vous êtes un robot ?"
CANDIDATE_KB_QUESTIONS = 60
CALIBRATION_ROUNDS = 3
# Only the public chat's per-IP bucket is lifted for a loopback run (all sessions
# share 127.0.0.1); the per-session bucket keeps its default from bot/settings.yml.
OWN_STACK_ENV = rate_limits_off("per_ip")


def signature(messages: list[dict[str, Any]]) -> str:
    """What identifies the answer to a question: its sources, else its text."""
    sources = sorted(str(s.get("url")) for m in messages for s in m.get("sources") or [])
    if sources:
        return "sources:" + " | ".join(sources)
    return "text:" + "\n".join(str(m.get("text", "")) for m in messages)


def degraded(messages: list[dict[str, Any]]) -> bool:
    return any(m.get("degraded") for m in messages)


def candidate_questions(limit: int = CANDIDATE_KB_QUESTIONS) -> list[str]:
    """Knowledge questions of the dev set, one per expected article, plus fixed ones."""
    seen: set[str] = set()
    out = list(FIXED_QUESTIONS)
    for line in KB_DEV.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        if len(item["expected"]) == 1 and item["expected"][0] not in seen:
            seen.add(item["expected"][0])
            out.append(item["query"])
        if len(out) >= limit + len(FIXED_QUESTIONS):
            break
    return out


# --- one exchange over a WebSocket -------------------------------------------------


CLOSED: dict[str, Any] = {"type": "closed"}


class SessionSocket:
    """One web chat session: sends a message, waits for its reply, spots strays."""

    def __init__(
        self, ws: aiohttp.ClientWebSocketResponse, history: list[dict[str, Any]] | None = None
    ) -> None:
        self.ws = ws
        self.history = history or []  # the history frame the server sent first
        self.waiting = False
        self.replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.unsolicited = 0
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                frame = json.loads(msg.data)
                if frame.get("type") not in ("bot", "error"):
                    continue  # history, typing
                if self.waiting:
                    self.waiting = False
                    self.replies.put_nowait(frame)
                else:
                    self.unsolicited += 1
        except (aiohttp.ClientError, ConnectionError, ValueError):
            pass
        finally:
            self.replies.put_nowait(CLOSED)  # the server closed the socket

    async def ask(self, text: str, timeout_s: float) -> dict[str, Any] | None:
        """The reply frame ({"type": "closed"} if the socket closed), or None when
        none came within the timeout."""
        self.waiting = True
        await self.ws.send_json({"type": "message", "text": text})
        try:
            return await asyncio.wait_for(self.replies.get(), timeout_s)
        except TimeoutError:
            return None

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)


async def open_session(
    http: aiohttp.ClientSession, url: str, session_id: str, timeout_s: float
) -> SessionSocket:
    ws = await asyncio.wait_for(http.ws_connect(ws_url(url, session_id)), timeout_s)
    first = await ws.receive_json(timeout=timeout_s)
    if first.get("type") != "history":
        await ws.close()
        raise ValueError(f"expected the history frame first, got {first.get('type')!r}")
    return SessionSocket(ws, list(first.get("messages") or []))


# --- calibration: questions whose answers are known ----------------------------------


async def calibrate(
    http: aiohttp.ClientSession, url: str, questions: list[str], timeout_s: float
) -> dict[str, str]:
    """question -> signature, for questions answered the same way every time, whose
    signature no other question shares, and after which the dialogue answers the
    next question normally (no form left open)."""
    seen: dict[str, list[str | None]] = {q: [] for q in questions}
    limit = asyncio.Semaphore(6)
    refused: Counter[str] = Counter()

    async def probe(question: str) -> None:
        async with limit:
            try:
                s = await open_session(http, url, str(uuid.uuid4()), timeout_s)
            except (aiohttp.ClientError, OSError, ValueError, TimeoutError) as exc:
                refused[f"connect:{type(exc).__name__}"] += 1
                seen[question].append(None)
                return
            try:
                frame = await s.ask(question, timeout_s)
                after = await s.ask(FOLLOW_UP, timeout_s)
            finally:
                await s.close()
        if frame is None or frame["type"] != "bot" or degraded(frame["messages"]):
            if frame is None:
                refused["no reply"] += 1
            elif frame["type"] != "bot":
                refused[f"{frame['type']}:{frame.get('code', '')}"] += 1
            else:
                refused["apology"] += 1
            seen[question].append(None)
            return
        messages = frame["messages"]
        if after is None or after["type"] != "bot" or signature(after["messages"]) != follow_up:
            refused["changes the next answer"] += 1
            seen[question].append(None)
            return
        sources = [src for m in messages for src in m.get("sources") or []]
        # A knowledge question counts only when answered outright (one source):
        # suggestions and misses change the dialogue's state (kb_failures).
        if sources and len(sources) != 1:
            seen[question].append(None)
            return
        seen[question].append(signature(messages))

    s = await open_session(http, url, str(uuid.uuid4()), timeout_s)
    try:
        reference = await s.ask(FOLLOW_UP, timeout_s)
    finally:
        await s.close()
    if reference is None or reference["type"] != "bot" or degraded(reference["messages"]):
        raise SystemExit(f"load_chat: no answer to {FOLLOW_UP!r}: {reference}")
    follow_up = signature(reference["messages"])
    for _ in range(CALIBRATION_ROUNDS):
        await asyncio.gather(*(probe(q) for q in questions))
    stable = {
        q: sigs[0]
        for q, sigs in seen.items()
        if sigs and sigs[0] is not None and all(s == sigs[0] for s in sigs)
    }
    counts = Counter(stable.values())
    if refused:
        print(f"load_chat: calibration replies left out: {dict(refused)}", file=sys.stderr)
    return {q: sig for q, sig in stable.items() if counts[sig] == 1}


# --- the load ----------------------------------------------------------------------


@dataclass
class Turn:
    text: str
    replies: list[str]  # bot texts as received
    apology: bool = False  # not stored when the database was away


@dataclass
class Figures:
    latencies_ms: list[float] = field(default_factory=list)
    sent: int = 0
    answered_in_window: int = 0
    ok: int = 0
    lost: int = 0
    misrouted_signature: int = 0
    misrouted_unsolicited: int = 0
    misrouted_history: int = 0
    unexpected: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    unexpected_examples: list[tuple[str, str]] = field(default_factory=list)
    history_checked: int = 0
    history_unverified: int = 0
    history_unstored_apologies: int = 0
    history_unstored_answers: int = 0
    # --reconnect: sockets the server closed, messages in flight then, messages sent again
    reconnects: int = 0
    interrupted: int = 0
    resent: int = 0
    # (sent at, outcome, latency ms or None), for figures per phase (load_scaled.py)
    events: list[tuple[float, str, float | None]] = field(default_factory=list)

    def record(self, sent_at: float, outcome: str, latency_ms: float | None = None) -> None:
        self.events.append((sent_at, outcome, latency_ms))

    # session id -> its turns with replies (error frames are not stored, so left out)
    transcripts: dict[str, list[Turn]] = field(default_factory=dict)


@dataclass(frozen=True)
class Load:
    sessions: int
    duration_s: float
    think: tuple[float, float]  # (0, 0) = closed loop
    reply_timeout_s: float
    # A closed socket is reopened with the same session, as the widget does; a message in
    # flight is sent again unless the stored history shows it was answered.
    reconnect: bool = False


async def reopen(
    http: aiohttp.ClientSession,
    url: str,
    session_id: str,
    old: SessionSocket,
    figures: Figures,
    bound_s: float,
) -> SessionSocket | None:
    """A new socket for the same session (retried while the front refuses), or None."""
    await old.close()
    figures.misrouted_unsolicited += old.unsolicited
    old.unsolicited = 0
    figures.reconnects += 1
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        try:
            return await open_session(http, url, session_id, min(10.0, bound_s))
        except (aiohttp.ClientError, OSError, ValueError, TimeoutError):
            await asyncio.sleep(0.5)
    return None


def answered_in_history(
    history: list[dict[str, Any]], index: int, text: str
) -> dict[str, Any] | None:
    """The reply to turn `index` as stored, as a bot frame, if that turn completed."""
    turns: list[tuple[str, list[dict[str, Any]]]] = []
    for m in history:
        if m.get("role") == "user":
            turns.append((str(m.get("text", "")), []))
        elif m.get("role") == "bot" and turns:
            turns[-1][1].append(m)
    if len(turns) > index and turns[index][0] == text and turns[index][1]:
        return {"type": "bot", "messages": turns[index][1]}
    return None


async def citizen(
    http: aiohttp.ClientSession,
    url: str,
    load: Load,
    known: dict[str, str],
    figures: Figures,
    rng: random.Random,
    deadline: float,
) -> None:
    questions = list(known)
    others = set(known.values())
    closed_loop = load.think[1] <= 0
    # People do not all arrive in the same second.
    await asyncio.sleep(rng.uniform(0, load.think[1] if not closed_loop else 1.0))
    previous = ""
    while time.monotonic() < deadline:
        session_id = str(uuid.uuid4())
        try:
            sock = await open_session(http, url, session_id, load.reply_timeout_s)
        except (aiohttp.ClientError, OSError, ValueError, TimeoutError) as exc:
            figures.errors[f"connect:{type(exc).__name__}"] += 1
            await asyncio.sleep(1.0)
            continue
        turns = figures.transcripts.setdefault(session_id, [])
        restart = False
        try:
            first = True
            while not restart:
                if not first and not closed_loop:
                    await asyncio.sleep(rng.uniform(*load.think))
                first = False
                if time.monotonic() >= deadline:
                    break
                if load.reconnect and sock.ws.closed:
                    # Closed while idle (its instance went away): reopen before typing.
                    reopened = await reopen(
                        http, url, session_id, sock, figures, load.reply_timeout_s
                    )
                    if reopened is None:
                        figures.errors["could not reconnect"] += 1
                        restart = True
                        continue
                    sock = reopened
                text = rng.choice([q for q in questions if q != previous] or questions)
                previous = text
                started = time.monotonic()
                figures.sent += 1
                try:
                    frame = await sock.ask(text, load.reply_timeout_s)
                except (aiohttp.ClientError, ConnectionError) as exc:
                    if not load.reconnect:
                        figures.errors[f"send:{type(exc).__name__}"] += 1
                        figures.record(started, "error")
                        restart = True
                        continue
                    frame = {"type": "closed"}
                if load.reconnect and frame is not None and frame["type"] == "closed":
                    # In flight when the socket dropped: same session, answered or sent again.
                    figures.interrupted += 1
                    reopened = await reopen(
                        http, url, session_id, sock, figures, load.reply_timeout_s
                    )
                    if reopened is None:
                        frame = None
                    else:
                        sock = reopened
                        frame = answered_in_history(sock.history, len(turns), text)
                        if frame is None:
                            figures.resent += 1
                            frame = await sock.ask(text, load.reply_timeout_s)
                if frame is None:
                    figures.lost += 1
                    figures.record(started, "lost")
                    restart = True  # a citizen reloads the page: a new conversation
                    continue
                if frame["type"] == "closed":
                    figures.errors["socket closed by the server"] += 1
                    figures.record(started, "error")
                    restart = True
                    continue
                elapsed = time.monotonic() - started
                figures.latencies_ms.append(elapsed * 1000)
                if started + elapsed <= deadline:
                    figures.answered_in_window += 1
                if frame["type"] == "error":
                    figures.errors[f"frame:{frame.get('code')}"] += 1
                    figures.record(started, "error", elapsed * 1000)
                    continue
                messages = frame.get("messages") or []
                turns.append(
                    Turn(text, [str(m.get("text", "")) for m in messages], degraded(messages))
                )
                got = signature(messages)
                if degraded(messages):
                    figures.errors["apology (Rasa did not answer in time)"] += 1
                    outcome = "apology"
                elif got == known[text]:
                    figures.ok += 1
                    outcome = "ok"
                elif got in others:
                    figures.misrouted_signature += 1
                    outcome = "misrouted"
                else:
                    figures.unexpected += 1
                    outcome = "unexpected"
                    if len(figures.unexpected_examples) < 5:
                        reply = " / ".join(str(m.get("text", ""))[:80] for m in messages)
                        figures.unexpected_examples.append((text, reply))
                figures.record(started, outcome, elapsed * 1000)
        finally:
            await sock.close()
            figures.misrouted_unsolicited += sock.unsolicited
            for _ in range(sock.unsolicited):
                figures.record(time.monotonic(), "misrouted")


def stored_turns(history: list[dict[str, Any]]) -> list[Turn]:
    turns: list[Turn] = []
    for m in history:
        if m.get("role") == "user":
            turns.append(Turn(str(m.get("text", "")), []))
        elif m.get("role") == "bot" and turns:
            turns[-1].replies.append(str(m.get("text", "")))
    return turns


async def verify_histories(http: aiohttp.ClientSession, url: str, figures: Figures) -> None:
    """Each session's stored transcript holds its own turns, in order, with the
    replies its socket received (a lost last turn may follow: it is not compared)."""
    limit = asyncio.Semaphore(10)

    async def check(session_id: str, seen: list[Turn]) -> None:
        if not seen:
            return
        async with limit:
            try:
                async with http.get(f"{url}/api/chat/{session_id}/history") as resp:
                    if resp.status != 200:
                        figures.history_unverified += 1
                        return
                    history = (await resp.json())["messages"]
            except (aiohttp.ClientError, OSError, ValueError, KeyError):
                figures.history_unverified += 1
                return
        figures.history_checked += 1
        stored = stored_turns(history)
        # The socket's turns, in order. A turn may be missing (the database went away
        # during it: counted apart, as an apology or an answer not stored); a stored
        # turn the socket did not see, other than a last unanswered one, is misrouted.
        j, missing, answers = 0, 0, 0
        for turn in seen:
            if j < len(stored) and (stored[j].text, stored[j].replies) == (turn.text, turn.replies):
                j += 1
            elif turn.apology:
                missing += 1
            else:
                answers += 1
        if len(stored) - j > 1:
            figures.misrouted_history += 1
            return
        figures.history_unstored_apologies += missing
        figures.history_unstored_answers += answers

    await asyncio.gather(*(check(s, t) for s, t in figures.transcripts.items()))


async def run(url: str, load: Load, seed: int) -> tuple[Figures, dict[str, str], float]:
    connector = aiohttp.TCPConnector(limit=0)  # one connection per session, no pool cap
    async with aiohttp.ClientSession(connector=connector) as http:
        known = await calibrate(http, url, candidate_questions(), load.reply_timeout_s)
        if len(known) < 5:
            raise SystemExit(f"load_chat: only {len(known)} questions with a stable answer")
        figures, _, wall = await drive(http, url, load, known, seed)
    return figures, known, wall


async def drive(
    http: aiohttp.ClientSession, url: str, load: Load, known: dict[str, str], seed: int
) -> tuple[Figures, float, float]:
    """The load itself, then the transcripts' check: (figures, start time, wall seconds)."""
    figures = Figures()
    rng = random.Random(seed)
    start = time.monotonic()
    deadline = start + load.duration_s
    await asyncio.gather(
        *(
            citizen(http, url, load, known, figures, random.Random(rng.random()), deadline)
            for _ in range(load.sessions)
        )
    )
    wall = time.monotonic() - start
    await verify_histories(http, url, figures)
    return figures, start, wall


def summarise(
    args: argparse.Namespace,
    load: Load,
    figures: Figures,
    known: dict[str, str],
    wall: float,
    extra: dict[str, Any],
) -> dict[str, Any]:
    lat = figures.latencies_ms

    def ms(value: float) -> float | None:
        return None if value != value else round(value, 1)  # NaN -> None

    misrouted = (
        figures.misrouted_signature + figures.misrouted_unsolicited + figures.misrouted_history
    )
    return {
        "url": extra["url"],
        "own_stack": extra["own_stack"],
        "sessions": load.sessions,
        "duration_s": load.duration_s,
        "load": "closed loop" if load.think[1] <= 0 else f"think {args.think} s",
        "known_questions": len(known),
        "sent": figures.sent,
        "answered": len(lat),
        "turns_per_s": round(figures.answered_in_window / load.duration_s, 2),
        "p50_ms": ms(statistics.median(lat)) if lat else None,
        "p95_ms": ms(percentile(lat, 0.95)),
        "p99_ms": ms(percentile(lat, 0.99)),
        "max_ms": ms(max(lat)) if lat else None,
        "ok": figures.ok,
        "errors": sum(figures.errors.values()),
        "errors_by_kind": dict(figures.errors),
        "lost": figures.lost,
        "misrouted": misrouted,
        "misrouted_by_kind": {
            "other_question_answer": figures.misrouted_signature,
            "reply_nobody_waited_for": figures.misrouted_unsolicited,
            "stored_transcript_mismatch": figures.misrouted_history,
        },
        "unexpected": figures.unexpected,
        "unexpected_examples": figures.unexpected_examples,
        "history_checked": figures.history_checked,
        "history_unverified": figures.history_unverified,
        "history_unstored_apologies": figures.history_unstored_apologies,
        "history_unstored_answers": figures.history_unstored_answers,
        "wall_s": round(wall, 1),
        "cpus": os.cpu_count(),
        "loadavg_before": extra["loadavg_before"],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "rss_mb": extra["rss_mb"],
        "startup_s": extra["startup_s"],
        "overrides": extra["overrides"],
    }


def print_figures(f: dict[str, Any]) -> None:
    print(f"target {f['url']} ({'own single-node stack' if f['own_stack'] else 'given URL'})")
    if f["overrides"]:
        print(f"app overrides for this run: {f['overrides']}")
    print(
        f"load: {f['sessions']} sessions for {f['duration_s']:.0f} s, {f['load']}; "
        f"{f['known_questions']} questions with known answers"
    )
    print(
        f"sent {f['sent']}  answered {f['answered']}  throughput {f['turns_per_s']} turns/s  "
        f"ok {f['ok']}"
    )
    print(
        f"latency p50 {f['p50_ms']} ms  p95 {f['p95_ms']} ms  p99 {f['p99_ms']} ms  "
        f"max {f['max_ms']} ms"
    )
    print(f"errors {f['errors']} {f['errors_by_kind'] or ''}")
    print(f"lost {f['lost']}  misrouted {f['misrouted']} {f['misrouted_by_kind']}")
    print(
        f"unexpected replies {f['unexpected']}  transcripts checked {f['history_checked']} "
        f"(unverified {f['history_unverified']}; not stored: apologies "
        f"{f['history_unstored_apologies']}, answers {f['history_unstored_answers']})"
    )
    for question, reply in f["unexpected_examples"]:
        print(f"  unexpected: {question!r} -> {reply!r}")
    print(
        f"load average before {f['loadavg_before']} after {f['loadavg_after']} on {f['cpus']} CPUs"
    )
    if f["rss_mb"]:
        print(f"RSS MB {f['rss_mb']}  start-up s {f['startup_s']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--think", default="3-8", help="seconds between messages: MIN-MAX")
    parser.add_argument(
        "--closed-loop", action="store_true", help="next message as soon as the reply arrives"
    )
    parser.add_argument("--reply-timeout", type=float, default=30.0)
    parser.add_argument("--url", help="load a running app (or its proxy) instead of starting one")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON only")
    args = parser.parse_args()
    lo, _, hi = args.think.partition("-")
    think = (0.0, 0.0) if args.closed_loop else (float(lo), float(hi or lo))
    load = Load(args.sessions, args.duration, think, args.reply_timeout)

    overrides = {} if args.url else dict(OWN_STACK_ENV)
    loadavg_before = [round(x, 2) for x in os.getloadavg()]
    # Free ports, so this runs beside `make run` or another benchmark's stack.
    with own_stack_or_url(args.url, "guichet-load-", overrides, free_ports=True) as (url, stack):
        figures, known, wall = asyncio.run(run(url, load, args.seed))
        extra = {
            "url": url,
            "own_stack": stack is not None,
            "loadavg_before": loadavg_before,
            "rss_mb": stack_rss(stack),
            "startup_s": {k: round(v, 1) for k, v in (stack.startup_s.items() if stack else [])},
            "overrides": overrides,
        }
    result = summarise(args, load, figures, known, wall, extra)
    if args.json:
        print(json.dumps(result))
    else:
        print_figures(result)
    clean = result["errors"] == 0 and result["lost"] == 0 and result["misrouted"] == 0
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
