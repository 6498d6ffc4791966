"""How long masking takes on hostile text, and whether hostile requests hold up others.

Prints:
  1. `redact` time (median of 5) for each adversarial family at 2,000 characters (the
     longest chat message) and 64 KiB (the largest public body), beside ordinary text;
  2. an app started as in production (its Rasa address a closed port: refused bodies
     never reach it) receiving N bodies of 64 KiB whose unknown key is "a.a.a…", one
     after the other, while a second client polls /healthz: the hostile requests'
     latency, and /healthz's p50 / max meanwhile and at rest.

Usage: python benchmarks/hostile_input.py [--requests N]
Give the load average with the figures (`uptime`): the machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
from aiohttp.test_utils import TestServer

from bot.app import Services, create_public_app
from bot.core.privacy import redact
from bot.settings import load_settings
from tests.unit.test_privacy import ADVERSARIAL

# The adversarial families the tests use (tests/unit/test_privacy.py), and ordinary text.
FAMILIES = {
    "ordinary text": lambda n: ("Bonjour, je voudrais les horaires de la mairie. " * n)[:n],
    **ADVERSARIAL,
}


def masking_figures() -> None:
    print("1. redact(), median of 5 runs (ms)")
    print(f"   {'input':<26} {'2,000 chars':>12} {'64 KiB':>10}")
    # (the unknown key is the "dotted words" family)
    for name, make in FAMILIES.items():
        row = []
        for size in (2000, 64 * 1024):
            text = make(size)
            runs = []
            for _ in range(5):
                started = time.perf_counter()
                redact(text)
                runs.append((time.perf_counter() - started) * 1000)
            row.append(statistics.median(runs))
        print(f"   {name:<26} {row[0]:>12.2f} {row[1]:>10.1f}")


async def poll(http: aiohttp.ClientSession, url: str, stop: asyncio.Event) -> list[float]:
    latencies = []
    while not stop.is_set():
        started = time.perf_counter()
        async with http.get(url) as resp:
            await resp.read()
        latencies.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.005)
    return latencies


async def request_figures(count: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GUICHET")}
        env.update(
            GUICHET_DATA_DIR=scratch,
            GUICHET__RASA__URL="http://127.0.0.1:9",  # nothing listens: never asked here
            GUICHET__VOICE__ENABLED="false",
            GUICHET__SECURITY__RATE_LIMITS__PER_IP="{burst: 0, per_minute: 0}",
            GUICHET__SECURITY__RATE_LIMITS__PER_SESSION="{burst: 0, per_minute: 0}",
        )
        services = await Services.start(load_settings(env=env))
        server = TestServer(create_public_app(services), host="127.0.0.1")
        await server.start_server()
        base = str(server.make_url("")).rstrip("/")
        key = ("a." * 40_000)[: 64 * 1024 - 100]
        try:
            async with aiohttp.ClientSession() as http:
                stop = asyncio.Event()
                rest = asyncio.create_task(poll(http, base + "/healthz", stop))
                await asyncio.sleep(1)
                stop.set()
                at_rest = await rest
                stop = asyncio.Event()
                busy = asyncio.create_task(poll(http, base + "/healthz", stop))
                hostile = []
                for _ in range(count):
                    started = time.perf_counter()
                    async with http.post(
                        f"{base}/api/chat/{uuid.uuid4()}/messages", json={key: 1}
                    ) as resp:
                        assert resp.status == 400, resp.status
                        await resp.read()
                    hostile.append((time.perf_counter() - started) * 1000)
                stop.set()
                during = await busy
        finally:
            await server.close()
            await services.close()
    print(f"2. {count} hostile 64 KiB bodies, one after the other (ms)")
    print(f"   hostile request   p50 {statistics.median(hostile):7.1f}   max {max(hostile):7.1f}")
    print(
        f"   /healthz at rest  p50 {statistics.median(at_rest):7.1f}   max {max(at_rest):7.1f}"
        f"   ({len(at_rest)} polls)"
    )
    print(
        f"   /healthz meanwhile p50 {statistics.median(during):6.1f}   max {max(during):7.1f}"
        f"   ({len(during)} polls)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    masking_figures()
    asyncio.run(request_figures(args.requests))


if __name__ == "__main__":
    main()
