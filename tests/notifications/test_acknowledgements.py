"""Acknowledgements, routing and status updates through a real SMTP server (aiosmtpd)
and a real Kannel (bearerbox + smsbox) whose fake SMS centre shows what phones got."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from bot.conversation.handoff import CONSENT_TEXT
from tests.notifications.conftest import notification_env
from tests.notifications.harness import Harness, harness
from tests.notifications.servers import KannelGateway, MailServer, wait_until

CITIZEN = "jeanne.martin@exemple.fr"
MOBILE, MOBILE_E164 = "06 12 34 56 78", "+33612345678"
TECHNIQUES = "services-techniques@villebrune.example"


def sent(h: Harness, n: int) -> bool:
    return len(h.rows("state = 'sent'")) >= n


async def test_report_with_an_email_gets_an_acknowledgement_with_the_legal_fields(
    data_dir: Path, mail: MailServer
) -> None:
    async with harness(data_dir, **notification_env(mail, None)) as h:
        report = await h.report(CITIZEN)
        assert report.acknowledgement == "email"
        await wait_until(lambda: len(mail.received) >= 2, "the acknowledgement and the routing")
        await wait_until(lambda: sent(h, 2), "both rows marked sent")

    (ack,) = mail.to(CITIZEN)
    m = ack.message
    assert ack.mail_from == "ne-pas-repondre@villebrune.example"
    assert m["From"] == "Mairie de Villebrune <ne-pas-repondre@villebrune.example>"
    assert m["To"] == CITIZEN
    assert m["Subject"] == f"Accusé de réception de votre signalement {report.reference}"
    assert m["Message-ID"] == f"<ack.{report.reference}@villebrune.example>"
    assert m["Reply-To"] == TECHNIQUES  # the service in charge of voirie
    assert m["Auto-Submitted"] == "auto-generated"
    assert m["X-Guichet-Reference"] == report.reference
    assert m["Date"] and m.get_content_type() == "multipart/alternative"
    text, html = ack.body("plain"), ack.body("html")
    for body in (text, html):
        # CRPA R112-11-1: date of receipt, service with postal and electronic address
        # and phone number; what follows; the legal basis; the follow-up link.
        assert report.reference in body
        assert re.search(r"(lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche) \d", body)
        assert "Services techniques" in body
        assert "3 rue des Ateliers, 45990 Villebrune" in body
        assert TECHNIQUES in body and "01 99 00 12 50" in body
        assert "L112-8" in body and "R112-11-1" in body
        assert "décision implicite" in body
        assert f"https://www.villebrune.example/suivi?ref={report.reference}" in body
        assert "12 rue des Lilas" in body
    assert "Nid de poule profond <devant>" in text
    assert "&lt;devant&gt;" in html and "<devant>" not in html  # the citizen's text is escaped

    (routed,) = mail.to(TECHNIQUES)
    r = routed.message
    assert r["Subject"].startswith(f"[{report.reference}] Signalement")
    assert r["Reply-To"] == CITIZEN  # the department can answer the citizen directly
    body = routed.body("plain")
    assert "Nid de poule profond <devant> le n° 12" in body and CITIZEN in body
    assert "oui, par courriel" in body


async def test_mobile_number_gets_an_sms_and_the_department_an_email(
    data_dir: Path, mail: MailServer, kannel: KannelGateway
) -> None:
    async with harness(data_dir, **notification_env(mail, kannel)) as h:
        report = await h.report(MOBILE, category="proprete")
        assert report.acknowledgement == "sms"
        await wait_until(lambda: kannel.to(MOBILE_E164), "the SMS at the fake SMS centre")
        await wait_until(lambda: mail.to("proprete@villebrune.example"), "the routing e-mail")
        await wait_until(lambda: sent(h, 2), "both rows marked sent")
    (sms,) = kannel.to(MOBILE_E164)
    assert report.reference in sms.text
    assert "accusé de réception" in sms.text
    assert re.search(r"date de réception \d\d/\d\d/\d{4} à \d{1,2}h\d\d", sms.text)
    assert "Service propreté et environnement" in sms.text and "01 99 00 12 52" in sms.text
    assert f"Suivi : https://www.villebrune.example/suivi?ref={report.reference}" in sms.text
    assert mail.to(MOBILE) == [] and len(mail.received) == 1
    assert "oui, par SMS" in mail.received[0].body("plain")


async def test_landline_or_no_contact_routes_the_request_without_acknowledgement(
    data_dir: Path, mail: MailServer, kannel: KannelGateway
) -> None:
    async with harness(data_dir, **notification_env(mail, kannel)) as h:
        landline = await h.report("01 23 45 67 89", mark="a")
        anonymous = await h.report(None, category="bruit", mark="b")
        assert landline.acknowledgement is None and anonymous.acknowledgement is None
        await wait_until(lambda: len(mail.received) >= 2, "two routing e-mails")
        await wait_until(lambda: sent(h, 2), "both rows marked sent")
        assert {r["kind"] for r in h.rows()} == {"routing"}
    assert sorted(r.rcpt_tos[0] for r in mail.received) == [
        "police-municipale@villebrune.example",
        TECHNIQUES,
    ]
    assert kannel.received() == []
    assert "aucune adresse électronique ni numéro de mobile" in mail.to(TECHNIQUES)[0].body("plain")


async def test_callback_ticket_is_routed_by_subject_with_the_consent(
    data_dir: Path, mail: MailServer, kannel: KannelGateway
) -> None:
    async with harness(data_dir, **notification_env(mail, kannel)) as h:
        ticket = await h.tickets.insert(
            "RAP-ABCDEF",
            "conv-t",
            "webchat",
            "Jeanne Martin",
            MOBILE,
            "Un acte de naissance pour mon fils",
            CONSENT_TEXT,
        )
        assert ticket.acknowledgement == "sms"
        await wait_until(lambda: mail.to("etat-civil@villebrune.example"), "routing to état civil")
        await wait_until(lambda: kannel.to(MOBILE_E164), "the acknowledgement SMS")
    body = mail.to("etat-civil@villebrune.example")[0].body("plain")
    assert "RAP-ABCDEF" in body and "Jeanne Martin" in body and MOBILE in body
    assert CONSENT_TEXT in body
    (sms,) = kannel.to(MOBILE_E164)
    assert "demande de rappel RAP-ABCDEF" in sms.text and "Service État civil" in sms.text


async def test_status_changes_tell_the_citizen_by_the_channel_they_gave(
    data_dir: Path, mail: MailServer, kannel: KannelGateway
) -> None:
    async with harness(data_dir, **notification_env(mail, kannel)) as h:
        by_mail = await h.report(CITIZEN, mark="m")
        by_sms = await h.report(MOBILE, mark="s")
        await wait_until(lambda: sent(h, 4), "acknowledgements and routing")
        await h.reports.update_status(by_mail.reference, "in_progress")
        await h.reports.update_status(by_mail.reference, "in_progress")  # no change: no message
        await h.reports.update_status(by_sms.reference, "done")
        await wait_until(lambda: sent(h, 6), "two status messages")
        ticket = await h.tickets.insert(
            "RAP-XYZXYZ", "c", "webchat", "Paul", CITIZEN, "horaires", CONSENT_TEXT
        )
        await h.tickets.update_status(ticket.id, "assigned", "agent@mairie.fr")
        await wait_until(lambda: sent(h, 9), "the ticket's acknowledgement, routing and status")
        kinds = [r["kind"] for r in h.rows()]
    assert kinds.count("status") == 3
    statuses = [r for r in mail.to(CITIZEN) if "Accusé" not in r.message["Subject"]]
    subjects = sorted(r.message["Subject"] for r in statuses)
    assert subjects == [
        "Votre demande de rappel RAP-XYZXYZ : prise en charge",
        f"Votre signalement {by_mail.reference} : en cours de traitement",
    ]
    assert any("est en cours de traitement depuis le" in r.body("plain") for r in statuses)
    texts = [s.text for s in kannel.to(MOBILE_E164)]
    assert len(texts) == 2 and any(f"{by_sms.reference} a été traité le" in t for t in texts)


async def test_no_contact_is_logged(
    data_dir: Path, mail: MailServer, kannel: KannelGateway, caplog: pytest.LogCaptureFixture
) -> None:
    # Everything at the app's default level (INFO: libraries' DEBUG lines quote SQL
    # parameters), and the app's own loggers down to DEBUG.
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="bot")
    env = notification_env(mail, kannel)
    mail.stop()  # failures are logged too: they must not name the recipient either
    async with harness(data_dir, **env) as h:
        await h.report(CITIZEN, mark="1")
        await h.report(MOBILE, mark="2")
        await wait_until(lambda: kannel.to(MOBILE_E164), "the SMS")
        # Kannel has the SMS before the sender logs it as sent: wait for that record
        # too (on a loaded CI machine the harness used to close in between).
        await wait_until(
            lambda: any(r.getMessage().endswith(" sent") for r in caplog.records), "the sent log"
        )
        await wait_until(
            lambda: all(r["attempts"] >= 2 for r in h.rows("channel = 'email'")), "e-mail retries"
        )
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "attempt" in logged and "sent" in logged  # the sender did log its work
    for contact in (CITIZEN, "jeanne.martin", "0612345678", "612345678", "06 12 34 56 78"):
        assert contact not in logged
    errors = " ".join(str(r["last_error"]) for r in h.rows())
    assert CITIZEN not in errors and TECHNIQUES not in errors
