"""End to end with Rasa: a report through the chat gets its acknowledgement at the SMTP
server or through Kannel, and a caller who accepts the SMS after a spoken answer gets
the article's link on the calling number (baresip, real French speech, Whisper)."""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.conftest import ALWAYS_OPEN, copy_base, free_port, make_settings
from tests.notifications.conftest import notification_env
from tests.notifications.servers import KannelGateway, MailServer, wait_until
from tests.support.chat import Chat, texts
from tests.support.system import require_french_prompts
from tests.voice.baresip import Baresip
from tests.voice.test_phone_e2e import voiced_pcm_seconds
from tests.voice.test_phone_french import (
    GREETING_S,
    QUESTION_WAV,
    conversation,
    cut_after_word,
    kb_sources,
    wait_for_reply,
    whisper_model_dir,
)
from tools.launcher import Stack
from voice.audio import write_wav

# Rasa and the Whisper model start within the first test (several minutes under load).
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

CALLER = "0612345678"  # the caller id baresip presents (its account's user part)


@pytest.fixture(scope="module")
def mail_server() -> Iterator[MailServer]:
    server = MailServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
async def gateway(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[KannelGateway]:
    kannel = KannelGateway(tmp_path_factory.mktemp("kannel"))
    try:
        await kannel.start()
        yield kannel
    finally:
        kannel.stop()


@pytest.fixture(scope="module")
def notified_stack(
    trained_model: Path,
    demo_base: Path,
    tmp_path_factory: pytest.TempPathFactory,
    mail_server: MailServer,
    gateway: KannelGateway,
) -> Iterator[Stack]:
    require_french_prompts()
    data_dir = tmp_path_factory.mktemp("notified-stack")
    copy_base(demo_base, data_dir)
    settings = make_settings(data_dir, f"http://127.0.0.1:{free_port()}")
    sip_port = free_port()
    extra_env = {
        **notification_env(mail_server, gateway),
        "GUICHET__HANDOFF__AGENT_HOURS": ALWAYS_OPEN,
        # A loaded machine must not turn the question into Rasa's timeout apology.
        "GUICHET__RASA__TIMEOUT_S": "30",
        "GUICHET__VOICE__ENABLED": "true",
        "GUICHET__VOICE__STT_ENGINE": "whisper",
        "GUICHET__VOICE__SIP_PORT": str(sip_port),
        "GUICHET__VOICE__RTP_PORT_MIN": "34000",
        "GUICHET__VOICE__RTP_PORT_MAX": "34099",
        "GUICHET__VOICE__SILENCE_REPROMPT_S": "30",
    }
    running = Stack(settings, trained_model, extra_env=extra_env)
    running.sip_port = sip_port  # type: ignore[attr-defined]
    try:
        running.start(timeout_s=600)
        yield running
    finally:
        running.stop()


def link_rows(stack: Stack) -> list[sqlite3.Row]:
    with sqlite3.connect(stack.settings.data_dir / "guichet.db") as db:
        db.row_factory = sqlite3.Row
        return db.execute("SELECT * FROM notification_outbox WHERE kind = 'call_link'").fetchall()


async def report_through_chat(stack: Stack, contact: str) -> tuple[str, str]:
    c = Chat(stack.app_url, str(uuid.uuid4()))
    await c.say("il faut que je fasse un signalement")
    await c.say("un dépôt sauvage de gravats")
    await c.say("chemin du Moulin, près du pont")
    await c.say("des sacs de gravats abandonnés depuis une semaine")
    assert "e-mail" in texts(await c.say("oui", "/affirm"))
    done = await c.say(contact)
    reference = next(m["report_reference"] for m in done if "report_reference" in m)
    return reference, texts(done)


async def test_report_through_the_chat_with_an_email_gets_one_acknowledgement(
    notified_stack: Stack, mail_server: MailServer
) -> None:
    address = "camille.martin@exemple.fr"
    reference, said = await report_through_chat(notified_stack, address)
    assert "accusé de réception vous est envoyé par courriel" in said
    await wait_until(lambda: mail_server.to(address), "the acknowledgement at the SMTP server")
    await wait_until(
        lambda: mail_server.to("proprete@villebrune.example"), "the request at its department"
    )
    (ack,) = mail_server.to(address)
    assert ack.message["Subject"] == f"Accusé de réception de votre signalement {reference}"
    body = ack.body("plain")
    assert re.search(r"a bien reçu votre signalement le \w+ \d{1,2}(er)? \w+ \d{4} à \d", body)
    assert "Service propreté et environnement" in body and "proprete@villebrune.example" in body
    assert "01 99 00 12 52" in body and "3 rue des Ateliers" in body
    assert "L112-8" in body and "chemin du Moulin" in body


async def test_report_through_the_chat_with_a_mobile_gets_one_sms(
    notified_stack: Stack, gateway: KannelGateway
) -> None:
    reference, said = await report_through_chat(notified_stack, "07 11 22 33 44")
    assert "accusé de réception vous est envoyé par SMS" in said
    await wait_until(lambda: gateway.to("+33711223344"), "the SMS at the fake SMS centre")
    (sms,) = gateway.to("+33711223344")
    assert reference in sms.text and "accusé de réception" in sms.text


async def test_a_caller_who_accepts_gets_the_link_by_sms(
    notified_stack: Stack, gateway: KannelGateway, tmp_path: Path
) -> None:
    speech, rate = cut_after_word(
        QUESTION_WAV, "passe", whisper_model_dir(notified_stack.settings.data_dir)
    )
    mic = tmp_path / "question.wav"
    write_wav(mic, bytes(int(GREETING_S * rate) * 2) + speech + bytes(60 * rate * 2), rate)
    peer = Baresip(tmp_path / "caller", mic, CALLER)
    await peer.start()
    try:
        await peer.dial(f"sip:guichet@127.0.0.1:{notified_stack.sip_port}")  # type: ignore[attr-defined]
        await peer.wait_event("CALL_ESTABLISHED", within=20)
        call = await wait_for_reply(notified_stack, after=0)
        rows = conversation(notified_stack, call["conversation_id"])
        if not kb_sources(json.loads(rows[-1]["data"] or "{}")):
            # Suggestions as a keypad menu: 1 reads the first (the right one, see
            # tests/voice/test_phone_french.py), set before it is spoken: press 1 once
            # 2 s of it were heard.
            await peer.wait_heard(voiced_pcm_seconds(*peer.heard_so_far()) + 2, voiced_pcm_seconds)
            await peer.send_dtmf("1")
            await wait_for_reply(notified_stack, after=len(rows))
            rows = conversation(notified_stack, call["conversation_id"])
        sources = json.loads(rows[-1]["data"])["sources"]
        url = sources[0]["url"]
        # The answer, then "Voulez-vous recevoir le lien par SMS ?": the offer is made with
        # the stored reply, before a word is spoken; press 1 once 2 s were heard.
        await peer.wait_heard(voiced_pcm_seconds(*peer.heard_so_far()) + 2, voiced_pcm_seconds)
        await peer.send_dtmf("1")
        # "C'est noté : vous recevrez le lien par SMS à la fin de l'appel": stored, held.
        held = await wait_until(
            lambda: link_rows(notified_stack), "the link written to the outbox", within=30
        )
        assert [(r["state"], r["attempts"]) for r in held] == [("pending", 0)]
        assert gateway.to("+33612345678") == []
        await peer.hangup()
        await peer.wait_event("CALL_CLOSED", within=10)
    finally:
        await peer.stop()
    await wait_until(lambda: gateway.to("+33612345678"), "the link by SMS after the call")
    (sms,) = gateway.to("+33612345678")
    assert url in sms.text and "lien demandé lors de votre appel" in sms.text
