"""What hostile SIP datagrams cost the user agent, on 127.0.0.1.

1. Parser: time to parse (or refuse) worst-case inputs of the largest accepted size: a
   header line of "a.a.a…" without a colon, 128 header fields, a field folded 1,500
   times, the longest RFC 4475 message, and a 50 KB datagram (refused unread).
2. Agent: an OPTIONS round trip right after each hostile datagram (the issue measured
   more than 5 s after the 50 KB one), and during a flood of them.

Prints the figures (median and max of N runs); asserts nothing.
Usage: python benchmarks/sip_hostile.py [--runs N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.voice.rfc4475 import load
from voice.sip import SipAgent, SipConfig
from voice.sip.message import SipParseError, parse_message


def options(port: int, call_id: str, extra: str = "") -> bytes:
    lines = [
        "OPTIONS sip:bot@127.0.0.1 SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{call_id};rport",
        "From: <sip:bench@127.0.0.1>;tag=b",
        "To: <sip:bot@127.0.0.1>",
        f"Call-ID: {call_id}",
        "CSeq: 1 OPTIONS",
        "Max-Forwards: 70",
        *([extra] if extra else []),
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


HOSTILE: dict[str, Callable[[int], bytes]] = {
    "50 KB header line (refused unread)": lambda p: options(p, "h1", "a." * 25_000),
    "4 KB header line without colon": lambda p: options(p, "h2", "a." * 2_000),
    "128 header fields": lambda p: options(p, "h3", "\r\n".join(f"X-{i}: v" for i in range(120))),
    "a field folded 1,500 times": lambda p: options(p, "h4", "X-F: a" + "\r\n b" * 1_500),
}


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), max(times)


def parse_or_refuse(data: bytes) -> None:
    try:
        parse_message(data)
    except SipParseError:
        parse_message(data, strict=False) if len(data) <= 8192 else None


class Client(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future[None]] = {}

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        for call_id, future in list(self.waiting.items()):
            if f"Call-ID: {call_id}".encode() in data and not future.done():
                future.set_result(None)


async def agent_figures(runs: int) -> None:
    async def ignore(_: object) -> None:
        return None

    agent = SipAgent(SipConfig(port=0, rtp_port_min=46000, rtp_port_max=46099), ignore)
    await agent.start()
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_datagram_endpoint(Client, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]

    async def round_trip(tag: str) -> float:
        future = loop.create_future()
        client.waiting[tag] = future
        start = time.perf_counter()
        transport.sendto(options(port, tag), ("127.0.0.1", agent.port))
        await asyncio.wait_for(future, 10)
        return (time.perf_counter() - start) * 1000

    try:
        base = [await round_trip(f"base{i}") for i in range(runs)]
        print(f"OPTIONS round trip, idle: median {statistics.median(base):.2f} ms")
        for n, (name, build) in enumerate(HOSTILE.items()):
            times = []
            for i in range(runs):
                transport.sendto(build(port), ("127.0.0.1", agent.port))
                times.append(await round_trip(f"after-{n}-{i}"))
            print(
                f"OPTIONS right after {name}: median {statistics.median(times):.2f} ms,"
                f" max {max(times):.2f} ms"
            )
        flood = HOSTILE["4 KB header line without colon"](port)
        for _ in range(40):  # what the default socket buffer (about 200 KB) holds
            transport.sendto(flood, ("127.0.0.1", agent.port))
        during = await round_trip("flood")
        print(f"OPTIONS behind 40 queued 4 KB malformed datagrams: {during:.1f} ms")
        print(f"agent counters: {agent.counters}")
    finally:
        transport.close()
        await agent.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    for name, build in HOSTILE.items():
        data = build(5060)
        median, worst = timed(lambda d=data: parse_or_refuse(d), args.runs)  # type: ignore[misc]
        print(f"parse {name} ({len(data)} bytes): median {median:.3f} ms, max {worst:.3f} ms")
    longest = max(load(), key=lambda c: len(c.message))
    median, worst = timed(lambda: parse_or_refuse(longest.message), args.runs)
    print(
        f"parse RFC 4475 {longest.name} ({len(longest.message)} bytes):"
        f" median {median:.3f} ms, max {worst:.3f} ms"
    )
    asyncio.run(agent_figures(max(5, args.runs // 5)))


if __name__ == "__main__":
    main()
