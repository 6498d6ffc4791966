"""The outbox and its sender: written with the request or not at all, claimed once,
retried with back-off while servers are down, each message delivered once when they
come back; permanent refusals stop; retention purges it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.notifications.config import SenderPolicy, parse_notifications
from bot.notifications.outbox import NewMessage, outbox
from bot.notifications.sender import backoff_s
from bot.notifications.smtp import SmtpTransport
from bot.notifications.transport import PermanentFailure
from bot.retention import delete_conversation, purge
from bot.storage.reports import DuplicateReference, NewReport
from tests.notifications.conftest import notification_env
from tests.notifications.harness import harness
from tests.notifications.servers import KannelGateway, MailServer, wait_until

CITIZEN = "jeanne.martin@exemple.fr"
# E-mail on, towards no server: for the tests of the store alone (no sender task).
SMTP_ON = {
    "GUICHET__NOTIFICATIONS__SMTP__ENABLED": "true",
    "GUICHET__NOTIFICATIONS__SMTP__SENDER": "a@b.fr",
}
MOBILE_E164 = "+33612345678"


def message(key: str, channel: str = "email", **kw: object) -> NewMessage:
    return NewMessage(
        key=key,
        kind="acknowledgement",
        channel=channel,
        recipient=CITIZEN if channel == "email" else MOBILE_E164,
        body_text=f"texte {key}",
        subject=f"objet {key}",
        **kw,  # type: ignore[arg-type]
    )


async def test_a_request_that_is_not_stored_writes_no_message(
    data_dir: Path, mail: MailServer
) -> None:
    async with harness(data_dir, run_sender=False, **notification_env(mail, None)) as h:
        store = h.reports._store  # the store the service uses
        new = NewReport("voirie", "rue A", "un trou dans la rue", CITIZEN, "c1")
        await store.insert(new, "SIG-AAAAAA")
        with pytest.raises(DuplicateReference):
            # The reference exists: the insert fails, and its messages with it.
            await store.insert(new, "SIG-AAAAAA")
        rows = h.rows()
    assert sorted(r["key"] for r in rows) == ["ack.SIG-AAAAAA", "route.SIG-AAAAAA"]


async def test_of_concurrent_claims_each_message_goes_to_one_sender(data_dir: Path) -> None:
    async with harness(data_dir, run_sender=False, **SMTP_ON) as h:
        await h.outbox.add([message(f"k{i}") for i in range(30)])
        batches = await asyncio.gather(*(h.outbox.claim_due("email", 30) for _ in range(6)))
        claimed = [m.id for batch in batches for m in batch]
        assert len(claimed) == 30 and len(set(claimed)) == 30
        # A second add of the same keys adds nothing (a link asked for twice).
        assert await h.outbox.add([message("k1")]) == 0


async def test_a_claim_left_by_a_dead_sender_is_released_and_fenced(data_dir: Path) -> None:
    async with harness(data_dir, run_sender=False, **SMTP_ON) as h:
        await h.outbox.add([message("k")])
        (old,) = await h.outbox.claim_due("email")
        assert await h.outbox.claim_due("email") == []  # claimed: nobody else sends it
        assert await h.outbox.release_stale_claims(3600) == 0  # still fresh
        assert await h.outbox.release_stale_claims(0) == 1
        (new,) = await h.outbox.claim_due("email")
        assert new.id == old.id and new.attempts == 2
        assert not await h.outbox.mark_sent(old)  # the old claim cannot finish it
        assert await h.outbox.mark_sent(new)


def test_backoff_doubles_up_to_its_ceiling() -> None:
    policy = SenderPolicy(retry_base_s=5, retry_max_s=60)
    assert [backoff_s(n, policy) for n in range(1, 7)] == [5, 10, 20, 40, 60, 60]


async def test_servers_down_then_back_every_message_arrives_once(
    data_dir: Path, mail: MailServer, kannel: KannelGateway
) -> None:
    env = notification_env(mail, kannel)
    mail.stop()
    kannel.stop("smsbox")  # the sendsms interface is away
    async with harness(data_dir, **env) as h:
        refs = [(await h.report(CITIZEN, mark="e")).reference]
        refs.append((await h.report("07 98 76 54 32", mark="s")).reference)

        def retried() -> bool:
            rows = h.rows()
            return len(rows) == 4 and all(
                r["state"] == "pending" and r["attempts"] >= 3 and r["last_error"] for r in rows
            )

        await wait_until(retried, "every message retried three times while the servers are down")
        rows = h.rows()
        assert {r["last_error"].split(":")[0] for r in rows} == {
            "SMTP relay unreachable",
            "SMS gateway unreachable",
        }
        # Back-off: the next attempt is further away than the retry base.
        for r in rows:
            due = datetime.fromisoformat(r["next_attempt_at"]).replace(tzinfo=UTC)
            claimed = datetime.fromisoformat(r["claimed_at"]).replace(tzinfo=UTC)
            assert due - claimed >= timedelta(seconds=0.39)
        mail.start()
        await kannel.start()
        await wait_until(lambda: len(h.rows("state = 'sent'")) == 4, "all four sent")
    ids = [r.message["Message-ID"] for r in mail.received]
    assert sorted(ids) == sorted(
        [
            f"<ack.{refs[0]}@villebrune.example>",
            f"<route.{refs[0]}@villebrune.example>",
            f"<route.{refs[1]}@villebrune.example>",
        ]
    )
    sms = kannel.to("+33798765432")
    assert len(sms) == 1 and refs[1] in sms[0].text


async def test_permanent_refusals_are_not_retried(
    data_dir: Path, mail: MailServer, tmp_path: Path
) -> None:
    gateway = KannelGateway(tmp_path / "kannel-bad", password="right")
    await gateway.start()
    try:
        env = notification_env(mail, gateway)
        env["GUICHET_SMS_PASSWORD"] = "wrong"
        mail.refuse.add(CITIZEN)
        async with harness(data_dir, **env) as h:
            await h.report(CITIZEN, mark="e")
            await h.report("06 11 22 33 44", mark="s")
            await wait_until(lambda: len(h.rows("state = 'failed'")) == 2, "two failures")
            await wait_until(lambda: len(h.rows("state = 'sent'")) == 2, "the two routings")
            failed = {r["channel"]: r for r in h.rows("state = 'failed'")}
    finally:
        gateway.stop()
    assert failed["email"]["attempts"] == 1 and "550" in failed["email"]["last_error"]
    assert failed["sms"]["attempts"] == 1 and "403" in failed["sms"]["last_error"]
    assert gateway.received() == []


async def test_smtp_login_uses_the_password_from_the_environment() -> None:
    mail = MailServer(credentials=("guichet", "mot-de-passe"))
    mail.start()
    try:
        raw = {
            "smtp": {
                "enabled": True,
                "port": mail.port,
                "username": "guichet",
                "sender": "Mairie <m@villebrune.example>",
            }
        }
        good = parse_notifications(raw, {"GUICHET_SMTP_PASSWORD": "mot-de-passe"})
        bad = parse_notifications(raw, {"GUICHET_SMTP_PASSWORD": "autre"})
        from bot.notifications.outbox import OutboxMessage

        m = OutboxMessage(
            1,
            "ack.X",
            "acknowledgement",
            "email",
            CITIZEN,
            "s",
            "t",
            None,
            None,
            None,
            1,
            "tok",
            datetime.now(UTC),
        )
        await SmtpTransport(good.smtp).send(m)
        assert len(mail.received) == 1
        with pytest.raises(PermanentFailure):
            await SmtpTransport(bad.smtp).send(m)
    finally:
        mail.stop()
    with pytest.raises(ValueError, match="password_env"):
        parse_notifications({"smtp": {"password": "in the file"}}, {})


async def test_held_link_leaves_only_when_released(data_dir: Path, kannel: KannelGateway) -> None:
    async with harness(data_dir, **notification_env(None, kannel)) as h:
        link = h.notifier.call_link(
            "phone-1", "+33612345678", "Carte d'identité", "https://x.fr/cni"
        )
        assert link is not None and link.not_before is not None
        assert h.notifier.call_link("phone-1", "01 23 45 67 89", "t", "https://x.fr") is None
        await h.outbox.add([link])
        assert await h.outbox.next_due_in("sms") > 60  # held
        assert await h.outbox.release_held("phone-1", "call_link") == 1
        h.notifier.committed()
        await wait_until(lambda: kannel.to("+33612345678"), "the link by SMS")
    (sms,) = kannel.to("+33612345678")
    assert "https://x.fr/cni" in sms.text and "Carte d'identité" in sms.text


async def test_retention_purges_messages_with_their_requests(
    data_dir: Path, mail: MailServer
) -> None:
    async with harness(data_dir, run_sender=False, **notification_env(mail, None)) as h:
        await h.report(CITIZEN, mark="old")
        await h.report(CITIZEN, mark="new")
        engine = h.reports._store._engine  # type: ignore[attr-defined]
        async with engine.begin() as conn:
            await conn.execute(
                sa.update(outbox)
                .where(outbox.c.conversation_id == "conv-old")
                .values(created_at=datetime.now(UTC) - timedelta(days=100))
            )
        counts = await purge(engine, data_dir, 90)
        assert counts["notifications"] == 2
        assert {r["conversation_id"] for r in h.rows()} == {"conv-new"}
        erased = await delete_conversation(engine, data_dir, "conv-new")
        assert erased["notifications"] == 2 and h.rows() == []
