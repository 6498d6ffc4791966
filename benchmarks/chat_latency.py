"""Web chat turn latency through the app's WebSocket, with the real Rasa behind it.

N concurrent sessions each send M messages. Two loads, reported separately:
  --think 0       closed loop: each session sends its next message as soon as
                  the reply arrives (capacity figure, turns/s);
  --think 3-8     people typing: a random pause of 3 to 8 s between messages
                  (the latency citizens feel).
Prints p50/p95/max turn latency, errors, lost replies and the RSS of each process.
Starts its own stack in a scratch data directory unless --url is given, with the chat's
rate limits (per address and per session) off: every session comes from 127.0.0.1 and
a closed loop sends faster than any citizen. A refused turn (HTTP 429, `rate_limited`
error frame) aborts the run with an error instead of being counted as a turn: against
--url, start the app with the limits off (the error says how).

Usage: python benchmarks/chat_latency.py [--sessions 20] [--messages 10] [--think 0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chatbench import (
    RATE_LIMITS_VAR,
    Refused,
    own_stack_or_url,
    percentile,
    rate_limits_off,
    refusal,
    stack_rss,
    ws_url,
)

# A realistic mix: small talk, fixed answers, actions, knowledge questions.
UTTERANCES = [
    "bonjour",
    "vous êtes un robot ?",
    "la mairie est ouverte le samedi ?",
    "quel est le numéro de la mairie",
    "comment refaire ma carte d'identité",
    "je veux inscrire mon fils à la cantine",
    "merci beaucoup",
    "quand passe le ramassage des encombrants",
    "qu'est-ce que tu sais faire",
    "au revoir",
]
REPLY_TIMEOUT_S = 15.0
OWN_STACK_ENV = rate_limits_off("per_ip", "per_session")


@dataclass
class Results:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    lost: int = 0
    sent: int = 0


async def run_session(
    url: str, messages: int, think: tuple[float, float], results: Results, rng: random.Random
) -> None:
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(ws_url(url, str(uuid.uuid4()))) as ws,
        ):
            await ws.receive_json(timeout=REPLY_TIMEOUT_S)  # history
            for i in range(messages):
                if think[1] > 0:
                    await asyncio.sleep(rng.uniform(*think))
                text = UTTERANCES[(i + rng.randrange(len(UTTERANCES))) % len(UTTERANCES)]
                started = time.perf_counter()
                await ws.send_json({"type": "message", "text": text})
                results.sent += 1
                try:
                    while True:
                        frame = await ws.receive_json(timeout=REPLY_TIMEOUT_S)
                        refused = refusal(frame)
                        if refused:
                            raise Refused(refused)
                        if frame["type"] == "bot":
                            break
                        if frame["type"] == "error":
                            results.errors += 1
                            break
                except TimeoutError:
                    results.lost += 1
                    continue
                results.latencies_ms.append((time.perf_counter() - started) * 1000)
                if any(m.get("degraded") for m in frame.get("messages", [])):
                    results.errors += 1
    except aiohttp.WSServerHandshakeError as exc:
        if exc.status == 429:
            raise Refused(f"WebSocket handshake answered HTTP 429 ({exc.message})") from exc
        results.errors += 1
    except (aiohttp.ClientError, OSError, TypeError, ValueError):
        results.errors += 1


async def bench(url: str, sessions: int, messages: int, think: tuple[float, float]) -> Results:
    results = Results()
    rng = random.Random(42)
    await asyncio.gather(
        *(
            run_session(url, messages, think, results, random.Random(rng.random()))
            for _ in range(sessions)
        )
    )
    return results


def refused_message(detail: str, url: str | None) -> str:
    """The error printed when the app refused a turn (the run is aborted)."""
    how = (
        f"Start the app under test with the limits off, e.g. "
        f"{RATE_LIMITS_VAR}='{rate_limits_off('per_ip', 'per_session')[RATE_LIMITS_VAR]}', "
        "or run without --url (the benchmark's own stack has them off)."
        if url
        else f"The benchmark's own stack should have had them off ({OWN_STACK_ENV}): "
        "check bot/settings.yml and the environment."
    )
    return (
        f"chat_latency: aborted: the app refused a turn (rate limit: {detail}). "
        "Refused turns would be counted as fast answers and the figures would mean "
        f"nothing. {how}"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--think", default="0", help="seconds between messages: 0 or MIN-MAX")
    parser.add_argument("--url", help="benchmark a running app instead of starting one")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    lo, _, hi = args.think.partition("-")
    think = (float(lo), float(hi or lo))

    try:
        with own_stack_or_url(args.url, "guichet-bench-", OWN_STACK_ENV) as (url, stack):
            asyncio.run(bench(url, 2, 2, (0, 0)))  # warm-up: first turns are not steady state
            started = time.perf_counter()
            results = asyncio.run(bench(url, args.sessions, args.messages, think))
            wall = time.perf_counter() - started
            rss = stack_rss(stack)
            startup = {k: round(v, 1) for k, v in (stack.startup_s.items() if stack else [])}
    except Refused as exc:
        print(refused_message(str(exc), args.url), file=sys.stderr)
        return 2
    lat = results.latencies_ms
    figures = {
        "sessions": args.sessions,
        "messages_per_session": args.messages,
        "think_s": args.think,
        "turns": len(lat),
        "turns_per_s": round(len(lat) / wall, 1),
        "p50_ms": round(statistics.median(lat), 1) if lat else None,
        "p95_ms": round(percentile(lat, 0.95), 1),
        "p99_ms": round(percentile(lat, 0.99), 1),
        "max_ms": round(max(lat), 1) if lat else None,
        "errors": results.errors,
        "lost_replies": results.lost,
        "rss_mb": rss,
        "startup_s": startup,
    }
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"load: {args.sessions} sessions × {args.messages} messages, think {args.think} s")
        print(f"turns {figures['turns']}  throughput {figures['turns_per_s']} turns/s")
        print(
            f"latency p50 {figures['p50_ms']} ms  p95 {figures['p95_ms']} ms  "
            f"p99 {figures['p99_ms']} ms  max {figures['max_ms']} ms"
        )
        print(f"errors {results.errors}  lost replies {results.lost}")
        print(f"RSS MB {rss}  start-up s {figures['startup_s']}")
    return 0 if results.errors == 0 and results.lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
