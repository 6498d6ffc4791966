"""Nothing lost, nothing sent twice: the real app (`python -m bot`) killed with SIGKILL
while the mail server and Kannel are down, and again while it is mid-send to a relay
and a gateway that hang; once the real servers are back, every acknowledgement and
routing message arrives exactly once.

A second test shows the window that stays at-least-once, honestly: killed after the
relay took a message but before the app recorded it, the app sends it again after
restart, with the same Message-ID (docs/operations.md)."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import free_port, make_settings
from tests.fault.checks import assert_sqlite_sound
from tests.fault.test_crash_tickets import action_call, report_slots
from tests.notifications.conftest import notification_env
from tests.notifications.servers import HungServer, KannelGateway, MailServer, wait_until
from tools import ROOT
from tools.launcher import Stack

REPORTS = 3
TICKETS = 3
DOMAIN = "villebrune.example"


def outbox_rows(data_dir: Path) -> list[sqlite3.Row]:
    db = data_dir / "guichet.db"
    if not db.exists():
        return []
    with sqlite3.connect(db, timeout=10) as conn:
        conn.row_factory = sqlite3.Row
        try:
            return conn.execute("SELECT * FROM notification_outbox ORDER BY id").fetchall()
        except sqlite3.OperationalError:  # not migrated yet
            return []


def claimed_at(row: sqlite3.Row) -> datetime:
    return datetime.fromisoformat(row["claimed_at"]).replace(tzinfo=UTC)


def mobile(n: int) -> str:
    return f"06 10 00 00 {n:02d}"


def ticket_slots(marker: str, n: int) -> dict[str, Any]:
    return {
        "callback_consent": True,
        "callback_name": f"Nom {marker}",
        "callback_contact": mobile(n),
        "callback_subject": f"objet {marker}",
    }


def app_for(tmp_path: Path, mail: MailServer, kannel: KannelGateway) -> Stack:
    data_dir = tmp_path / "data"
    data_dir.mkdir(exist_ok=True)
    settings = make_settings(data_dir, f"http://127.0.0.1:{free_port()}")
    extra = {
        **notification_env(mail, kannel),
        "GUICHET__VOICE__ENABLED": "false",
        "GUICHET__SECURITY__RATE_LIMITS": "{per_ip: {burst: 0, per_minute: 0}}",
    }
    return Stack(settings, ROOT / "unused-model", extra_env=extra)


async def start(app: Stack) -> None:
    app.start_app()
    await asyncio.to_thread(app.wait_ready, "app", f"{app.app_url}/healthz", time.monotonic(), 120)


async def sigkill(app: Stack) -> None:
    proc = app.processes.pop("app")
    proc.kill()  # SIGKILL: no clean-up of any kind
    await asyncio.to_thread(proc.wait)
    assert proc.returncode == -signal.SIGKILL


async def submit(app: Stack) -> tuple[list[str], list[str]]:
    """Reports (e-mail contact) and callback tickets (mobile) through the action endpoint,
    as Rasa posts them at the end of a form; returns their references."""
    reports, tickets = [], []
    async with aiohttp.ClientSession() as http:
        for i in range(REPORTS):
            async with http.post(
                app.actions_url,
                json=action_call("action_submit_report", f"r{i}", report_slots(f"r{i}")),
            ) as resp:
                assert resp.status == 200, await resp.text()
                custom = (await resp.json())["responses"][0]["custom"]
                assert "accusé de réception vous est envoyé par courriel" in custom["text"]
                reports.append(custom["report_reference"])
        for i in range(TICKETS):
            async with http.post(
                app.actions_url,
                json=action_call("action_submit_callback", f"t{i}", ticket_slots(f"t{i}", i)),
            ) as resp:
                assert resp.status == 200, await resp.text()
                custom = (await resp.json())["responses"][0]["custom"]
                assert "accusé de réception vous est envoyé par SMS" in custom["text"]
                tickets.append(custom["ticket_reference"])
    return reports, tickets


async def test_servers_down_and_kills_mid_send_lose_and_double_nothing(tmp_path: Path) -> None:
    mail = MailServer()  # not started: the relay is down
    kannel = KannelGateway(tmp_path / "kannel")
    await kannel.start()
    kannel.stop("smsbox")  # the gateway's sendsms interface is down
    app = app_for(tmp_path, mail, kannel)
    data_dir = app.settings.data_dir
    hung: list[HungServer] = []
    try:
        # 1. Servers down: the requests are stored with their messages, which are retried.
        await start(app)
        reports, tickets = await submit(app)
        expected = 2 * REPORTS + 2 * TICKETS  # acknowledgement + routing for each
        await wait_until(
            lambda: (
                len(outbox_rows(data_dir)) == expected
                and all(
                    r["attempts"] >= 2 and r["state"] in ("pending", "sending")
                    for r in outbox_rows(data_dir)
                )
            ),
            "every message retried while the servers are down",
        )
        await sigkill(app)
        assert_sqlite_sound(data_dir / "guichet.db")
        assert not [r for r in outbox_rows(data_dir) if r["state"] == "sent"]

        # 2. A relay and a gateway that accept connections and never answer: the app is
        # killed while sends are in flight (rows claimed, "sending").
        hung = [HungServer(mail.port), HungServer(kannel.sendsms_port)]
        for server in hung:
            await server.start()
        restarted = datetime.now(UTC)
        await start(app)

        def in_flight_now() -> set[str]:
            # Claimed by this process, not left over from the first kill.
            return {
                r["channel"]
                for r in outbox_rows(data_dir)
                if r["state"] == "sending" and claimed_at(r) > restarted
            }

        await wait_until(
            lambda: in_flight_now() == {"email", "sms"} and all(s.connections for s in hung),
            "sends in flight on both channels, connected to the hung servers",
        )
        await sigkill(app)
        in_flight = [r["key"] for r in outbox_rows(data_dir) if r["state"] == "sending"]
        assert in_flight
        for server in hung:
            await server.stop()

        # 3. The real servers are back; the app starts again and delivers everything.
        mail.start()
        await kannel.start()
        await start(app)
        await wait_until(
            lambda: [r["state"] for r in outbox_rows(data_dir)] == ["sent"] * expected,
            "every message sent",
            within=120,
        )
        await wait_until(lambda: len(kannel.received()) >= TICKETS, "the SMS at the fake SMSC")
    finally:
        app.stop()
        for server in hung:
            await server.stop()
        mail.stop()
        kannel.stop()

    ids = Counter(r.message["Message-ID"] for r in mail.received)
    want = {f"<ack.{ref}@{DOMAIN}>" for ref in reports} | {
        f"<route.{ref}@{DOMAIN}>" for ref in reports + tickets
    }
    assert set(ids) == want and set(ids.values()) == {1}, ids
    for i, ref in enumerate(tickets):
        number = "+3361000" + f"00{i:02d}"
        got = [s.text for s in kannel.to(number)]
        assert len(got) == 1 and ref in got[0], (number, got)
    assert len(kannel.received()) == TICKETS
    # The claims the kill left behind were sent again after restart, once.
    rows = {r["key"]: r for r in outbox_rows(data_dir)}
    assert all(rows[k]["sent_at"] for k in in_flight)


async def test_killed_after_the_relay_took_the_message_it_goes_again_with_its_message_id(
    tmp_path: Path,
) -> None:
    mail = MailServer(hold_data=threading.Event())
    kannel = KannelGateway(tmp_path / "kannel")  # configured, not needed here
    app = app_for(tmp_path, mail, kannel)
    data_dir = app.settings.data_dir
    mail.start()
    try:
        await start(app)
        async with aiohttp.ClientSession() as http:
            async with http.post(
                app.actions_url, json=action_call("action_submit_report", "w", report_slots("w"))
            ) as resp:
                reference = (await resp.json())["responses"][0]["custom"]["report_reference"]
        # The relay took the first message and holds its 250: the app is killed then.
        await wait_until(mail.holding.is_set, "the relay holding its reply")
        await sigkill(app)
        assert len(mail.received) == 1
        mail.hold_data.set()  # type: ignore[union-attr]
        mail.hold_data = None
        await start(app)
        await wait_until(
            lambda: [r["state"] for r in outbox_rows(data_dir)] == ["sent", "sent"],
            "both messages sent",
            within=120,
        )
    finally:
        app.stop()
        mail.stop()
    ids = Counter(r.message["Message-ID"] for r in mail.received)
    first = mail.received[0].message["Message-ID"]
    # The one message in the window arrived twice, as the same message (same
    # Message-ID, which mail clients collapse); the other one once.
    assert ids[first] == 2 and sum(ids.values()) == 3
    assert first in (f"<ack.{reference}@{DOMAIN}>", f"<route.{reference}@{DOMAIN}>")
