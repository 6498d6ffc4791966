"""Acknowledgements: what the outbox adds to storing a report, and how soon the message
reaches the SMTP server (aiosmtpd) or the fake SMS centre behind Kannel.

    .venv/bin/python benchmarks/notifications.py [--reports 100] [--channel email|sms] [--every 0.5]

Everything on 127.0.0.1 in a scratch directory: the real ReportStore on SQLite, with
and without the notifier (the outbox rows written in the report's transaction), then
the sender task delivering through the real transports. Prints p50/p95 of the insert,
of the delay from the insert to the server receiving the message, and the throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from bot.app import start_notifications  # noqa: E402
from bot.core.db import create_engine  # noqa: E402
from bot.notifications.outbox import outbox as outbox_table  # noqa: E402
from bot.schema import create_schema  # noqa: E402
from bot.storage.reports import NewReport, ReportStore  # noqa: E402
from tests.conftest import make_settings  # noqa: E402
from tests.notifications.conftest import notification_env  # noqa: E402
from tests.notifications.servers import KannelGateway, MailServer, wait_until  # noqa: E402


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


async def inserts(store: ReportStore, n: int, contact: str, prefix: str) -> list[float]:
    took = []
    for i in range(n):
        report = NewReport("voirie", f"rue {i}", f"un trou dans la rue {i}", contact, f"b{i}")
        t0 = time.perf_counter()
        await store.insert(report, f"{prefix}{i:05d}")
        took.append((time.perf_counter() - t0) * 1000)
    return took


async def main(n: int, channel: str, every: float) -> None:
    work = Path(tempfile.mkdtemp(prefix="guichet-bench-notif-"))
    mail = MailServer()
    mail.start()
    kannel = KannelGateway(work / "kannel") if channel == "sms" else None
    try:
        if kannel:
            await kannel.start()
        contact = "bench@exemple.fr" if channel == "email" else "06 12 34 56 78"

        plain_dir = work / "plain"
        plain_dir.mkdir()
        engine = create_engine(f"sqlite+aiosqlite:///{plain_dir / 'guichet.db'}")
        await create_schema(engine)
        without = await inserts(ReportStore(engine), n, contact, "SIG-A")
        await engine.dispose()

        data_dir = work / "notified"
        data_dir.mkdir()
        env = notification_env(mail, kannel)
        os.environ.update({k: v for k, v in env.items() if "PASSWORD" in k})
        settings = make_settings(data_dir, "http://127.0.0.1:9", **env)
        engine = create_engine(settings.database_url)
        await create_schema(engine)
        notifier, outbox, sender = start_notifications(settings, engine)
        assert notifier and outbox and sender
        store = ReportStore(engine, notifier)
        # The outbox's own cost: rows rendered and written, no sender competing for SQLite.
        with_outbox = await inserts(store, n, contact, "SIG-B")
        async with engine.begin() as conn:
            await conn.execute(sa.delete(outbox_table))

        # Paced requests (one every --every s) with the sender running: the delay from
        # the insert to the server, and the insert's latency while messages go out.
        task = asyncio.create_task(sender.run())
        inserted_at: dict[str, float] = {}
        arrived: dict[str, float] = {}

        def collect() -> bool:
            now = time.perf_counter()
            if channel == "email":
                for r in mail.received:
                    ref = r.message["X-Guichet-Reference"]
                    if ref in inserted_at and r.message["Subject"].startswith("Accusé"):
                        arrived.setdefault(ref, now)
            else:
                assert kannel is not None
                for sms in kannel.received():
                    for ref in inserted_at:
                        if ref in sms.text:
                            arrived.setdefault(ref, now)
            return len(arrived) >= n

        # Polled every 50 ms from the first request on: delays to that resolution.
        watcher = asyncio.create_task(wait_until(collect, f"{n} acknowledgements", within=900))
        paced = []
        for i in range(n):
            reference = f"SIG-C{i:05d}"
            report = NewReport("voirie", f"rue {i}", f"un trou dans la rue {i}", contact, f"n{i}")
            t0 = time.perf_counter()
            await store.insert(report, reference)
            paced.append((time.perf_counter() - t0) * 1000)
            inserted_at[reference] = t0
            await asyncio.sleep(every)
        await watcher
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await sender.close()
        await engine.dispose()
        delays = [(arrived[r] - inserted_at[r]) * 1000 for r in inserted_at]
        load = os.getloadavg()
        print(f"notifications benchmark: {n} reports, acknowledgement by {channel}")
        print(f"  load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, {os.cpu_count()} cores")
        for label, values in (
            ("report insert without outbox", without),
            ("report insert with outbox (2 messages rendered and written)", with_outbox),
            (f"report insert, one every {every} s, sender running", paced),
        ):
            print(
                f"  {label}: p50 {statistics.median(values):.1f} ms, p95 {pct(values, 0.95):.1f} ms"
            )
        print(
            f"  insert -> {'SMTP server' if channel == 'email' else 'fake SMS centre'}: "
            f"p50 {statistics.median(delays):.0f} ms, p95 {pct(delays, 0.95):.0f} ms, "
            f"max {max(delays):.0f} ms"
        )
    finally:
        mail.stop()
        if kannel:
            kannel.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reports", type=int, default=100)
    parser.add_argument("--channel", choices=("email", "sms"), default="email")
    parser.add_argument("--every", type=float, default=0.5, help="seconds between paced reports")
    args = parser.parse_args()
    asyncio.run(main(args.reports, args.channel, args.every))
