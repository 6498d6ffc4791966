"""The web chat load of load_chat.py on the scaled stack, with faults injected.

Starts its own ScaledStack (PostgreSQL, Redis, Chroma server, 2 Rasa, 2 apps, nginx;
tools/scaled/) in a scratch directory, on free ports of 127.0.0.1, and runs
load_chat.py's sessions through nginx. The per-IP rate limit of the chat endpoints is
lifted (every session comes from 127.0.0.1; the per-session limit stays on), and the
output says so. Sessions behave like the widget when a socket drops: they reopen it
with the same session id and send the message in flight again unless the stored
history shows it was answered (counted as interrupted / resent; its latency includes
the delay).

Faults, at seconds from the start of the load:
  --kill rasa1@20,app2@30         SIGKILL (not restarted during the run)
  --restart postgres@40,redis@45  stop, wait --pause seconds, start again

Printed per phase (between faults): throughput, p50/p95, errors (apology included),
lost, misrouted; and the /readyz timeline of nginx and of each app instance
(degraded or not, and back). `--baseline-first` runs the same load without faults on
the same stack first (one start-up for both figures).

Usage: python benchmarks/load_scaled.py [--sessions 200] [--duration 60] [--think 3-8]
           [--kill rasa1@20,app2@30] [--restart postgres@40,redis@45] [--pause 5]
           [--baseline-first] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chatbench import NO_PER_IP_LIMIT_ENV, percentile
from load_chat import (
    Figures,
    Load,
    calibrate,
    candidate_questions,
    drive,
    print_figures,
    summarise,
)

from bot.settings import load_settings
from tools.rasa import ensure_model
from tools.scaled import Ports, ScaledStack, scratch_dirs

READYZ_EVERY_S = 0.5


@dataclass(frozen=True)
class Fault:
    kind: str  # "kill" | "restart"
    service: str
    at_s: float


@dataclass
class Injected:
    fault: Fault
    started_s: float = 0.0
    ended_s: float = 0.0  # killed, or running again


@dataclass
class Readiness:
    """Transitions of one /readyz: (seconds since the load's start, state)."""

    url: str
    timeline: list[tuple[float, str]] = field(default_factory=list)

    def see(self, at_s: float, state: str) -> None:
        if not self.timeline or self.timeline[-1][1] != state:
            self.timeline.append((round(at_s, 1), state))


def parse_faults(kind: str, spec: str | None, stack_services: set[str]) -> list[Fault]:
    faults = []
    for item in (spec or "").split(","):
        if not item.strip():
            continue
        name, _, at = item.strip().partition("@")
        if name not in stack_services or not at:
            raise SystemExit(
                f"load_scaled: --{kind} {item!r}: expected SERVICE@SECONDS with SERVICE in "
                + ", ".join(sorted(stack_services))
            )
        faults.append(Fault(kind, name, float(at)))
    return faults


async def inject(
    stack: ScaledStack, faults: list[Fault], start: float, pause_s: float
) -> list[Injected]:
    done = []
    for fault in sorted(faults, key=lambda f: f.at_s):
        await asyncio.sleep(max(0.0, start + fault.at_s - time.monotonic()))
        service = stack.services[fault.service]
        record = Injected(fault, time.monotonic() - start)
        if fault.kind == "kill":
            await asyncio.to_thread(service.kill)
        else:
            await asyncio.to_thread(service.stop)
            await asyncio.sleep(pause_s)
            service.start()
            await asyncio.to_thread(service.wait_ready, 120)
        record.ended_s = time.monotonic() - start
        print(
            f"  fault: {fault.kind} {fault.service} at {record.started_s:.1f} s "
            f"(done at {record.ended_s:.1f} s)",
            flush=True,
        )
        done.append(record)
    return done


async def watch_readiness(
    http: aiohttp.ClientSession, urls: list[str], start: float, stop: asyncio.Event
) -> list[Readiness]:
    watched = [Readiness(u) for u in urls]
    while not stop.is_set():
        for r in watched:
            try:
                async with http.get(
                    f"{r.url}/readyz", timeout=aiohttp.ClientTimeout(total=5)
                ) as resp:
                    body = await resp.json()
                    failing = sorted(k for k, ok in body.get("checks", {}).items() if not ok)
                    state = "ready" if resp.status == 200 else "degraded:" + "+".join(failing)
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
                state = "unreachable"
            r.see(time.monotonic() - start, state)
        try:
            await asyncio.wait_for(stop.wait(), READYZ_EVERY_S)
        except TimeoutError:
            pass
    return watched


def phases(
    figures: Figures, start: float, duration_s: float, injected: list[Injected]
) -> list[dict[str, Any]]:
    """Figures per phase, split at each fault's start; a turn belongs to the phase in
    which it was sent."""
    cuts = [0.0] + [i.started_s for i in injected] + [duration_s]
    names = ["before faults"] + [f"after {i.fault.kind} {i.fault.service}" for i in injected]
    out = []
    for name, lo, hi in zip(names, cuts, cuts[1:], strict=False):
        events = [e for e in figures.events if lo <= e[0] - start < hi]
        lat = [e[2] for e in events if e[2] is not None and e[1] != "lost"]
        kinds = [e[1] for e in events]
        length = max(hi - lo, 1e-9)
        out.append(
            {
                "phase": name,
                "from_s": round(lo, 1),
                "to_s": round(hi, 1),
                "sent": len(events),
                "answered": len(lat),
                "turns_per_s": round(len(lat) / length, 2),
                "p50_ms": round(statistics.median(lat), 1) if lat else None,
                "p95_ms": round(percentile(lat, 0.95), 1) if lat else None,
                "ok": kinds.count("ok"),
                "errors": kinds.count("error") + kinds.count("apology"),
                "apologies": kinds.count("apology"),
                "lost": kinds.count("lost"),
                "misrouted": kinds.count("misrouted"),
                "unexpected": kinds.count("unexpected"),
            }
        )
    return out


async def scenario(
    stack: ScaledStack,
    http: aiohttp.ClientSession,
    load: Load,
    known: dict[str, str],
    faults: list[Fault],
    pause_s: float,
    seed: int,
) -> tuple[Figures, float, float, list[Injected], list[Readiness]]:
    url = stack.public_url
    stop = asyncio.Event()
    start = time.monotonic()
    watcher = asyncio.create_task(watch_readiness(http, [url, *stack.app_urls], start, stop))
    injector = asyncio.create_task(inject(stack, faults, start, pause_s))
    figures, _, wall = await drive(http, url, load, known, seed)
    injected = await injector
    # A few more seconds of /readyz, to see it come back after a late fault.
    await asyncio.sleep(5)
    stop.set()
    readiness = await watcher
    return figures, start, wall, injected, readiness


def revive(stack: ScaledStack) -> None:
    """Start again what a run killed, so the next run has the whole stack."""
    dead = [s for s in stack.services.values() if not s.running()]
    for service in dead:
        service.start()
    for service in dead:
        service.wait_ready(400)
        print(f"  {service.name} started again in {service.startup_s:.1f} s", flush=True)


def print_extra(result: dict[str, Any]) -> None:
    print(
        f"sockets reopened {result['reconnects']}  messages in flight when their socket "
        f"dropped {result['interrupted']}  sent again {result['resent']}"
    )
    if result["phases"]:
        print("per phase (a turn counts in the phase it was sent in):")
        for p in result["phases"]:
            print(
                f"  {p['phase']:<22} {p['from_s']:>5}-{p['to_s']:<5} s  sent {p['sent']:>4}  "
                f"{p['turns_per_s']:>6} turns/s  p50 {p['p50_ms']} ms  p95 {p['p95_ms']} ms  "
                f"errors {p['errors']} (apologies {p['apologies']})  lost {p['lost']}  "
                f"misrouted {p['misrouted']}  unexpected {p['unexpected']}"
            )
    for r in result["readiness"]:
        timeline = " → ".join(f"{state} @{at}s" for at, state in r["timeline"])
        went = any(s != "ready" for _, s in r["timeline"])
        back = bool(r["timeline"]) and r["timeline"][-1][1] == "ready"
        verdict = ("degraded, then back" if back else "degraded, NOT back") if went else "ready"
        print(f"  /readyz {r['url']}: {verdict}: {timeline}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--think", default="3-8", help="seconds between messages: MIN-MAX")
    parser.add_argument("--closed-loop", action="store_true")
    parser.add_argument("--reply-timeout", type=float, default=30.0)
    parser.add_argument("--kill", help="SERVICE@SECONDS,... (SIGKILL)")
    parser.add_argument("--restart", help="SERVICE@SECONDS,... (stop, pause, start)")
    parser.add_argument("--pause", type=float, default=5.0, help="seconds a restarted one is down")
    parser.add_argument("--baseline-first", action="store_true", help="a run without faults first")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    lo, _, hi = args.think.partition("-")
    think = (0.0, 0.0) if args.closed_loop else (float(lo), float(hi or lo))
    load = Load(args.sessions, args.duration, think, args.reply_timeout, reconnect=True)

    overrides = dict(NO_PER_IP_LIMIT_ENV)
    model = ensure_model(load_settings().data_dir)
    data_dir = Path(tempfile.mkdtemp(prefix="guichet-load-scaled-"))
    stack = ScaledStack(data_dir, model, Ports.free(), extra_env=overrides)
    stack.build()
    names = set(stack.services)
    faults = parse_faults("kill", args.kill, names) + parse_faults("restart", args.restart, names)
    runs: list[list[Fault]] = ([[]] if args.baseline_first or not faults else []) + (
        [faults] if faults else []
    )
    print(f"load_scaled: app overrides for this run: {overrides}", flush=True)
    loadavg_start = [round(x, 2) for x in os.getloadavg()]
    results: list[dict[str, Any]] = []
    try:
        stack.start(timeout_s=600, progress=lambda line: print(f"  {line}", flush=True))
        startup = {n: round(s.startup_s or 0, 1) for n, s in stack.services.items()}

        async def measure() -> None:
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector) as http:
                known = await calibrate(
                    http, stack.public_url, candidate_questions(), load.reply_timeout_s
                )
                if len(known) < 5:
                    raise SystemExit(f"load_scaled: only {len(known)} stable questions")
                for i, run_faults in enumerate(runs):
                    if i:
                        await asyncio.to_thread(revive, stack)
                    loadavg_before = [round(x, 2) for x in os.getloadavg()]
                    label = ", ".join(f"{f.kind} {f.service}@{f.at_s:g}" for f in run_faults)
                    print(f"load_scaled: run {i + 1}: {label or 'no faults'}", flush=True)
                    rss = {n: round(s.rss() / 2**20, 1) for n, s in stack.services.items()}
                    figures, start, wall, injected, readiness = await scenario(
                        stack, http, load, known, run_faults, args.pause, args.seed + i
                    )
                    extra = {
                        "url": stack.public_url + " (nginx, scaled: 2 apps, 2 Rasa)",
                        "own_stack": True,
                        "loadavg_before": loadavg_before,
                        "rss_mb": rss,
                        "startup_s": startup,
                        "overrides": overrides,
                    }
                    result = summarise(args, load, figures, known, wall, extra)
                    result.update(
                        faults=label or "none",
                        reconnects=figures.reconnects,
                        interrupted=figures.interrupted,
                        resent=figures.resent,
                        phases=phases(figures, start, load.duration_s, injected),
                        readiness=[{"url": r.url, "timeline": r.timeline} for r in readiness],
                        injected=[
                            {
                                "fault": f"{i.fault.kind} {i.fault.service}",
                                "at_s": round(i.started_s, 1),
                                "done_s": round(i.ended_s, 1),
                            }
                            for i in injected
                        ],
                    )
                    results.append(result)
                    if not args.json:
                        print(f"--- faults: {result['faults']}")
                        print_figures(result)
                        print_extra(result)

        asyncio.run(measure())
    finally:
        stack.stop()
        for leftover in scratch_dirs(data_dir):
            shutil.rmtree(leftover, ignore_errors=True)
        shutil.rmtree(data_dir, ignore_errors=True)
    if args.json:
        print(json.dumps({"loadavg_start": loadavg_start, "runs": results}))
    clean = all(r["errors"] == 0 and r["lost"] == 0 and r["misrouted"] == 0 for r in results)
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
