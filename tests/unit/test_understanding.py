"""The app reads each message before Rasa and sends its reading as metadata."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from bot.conversation.capabilities import WRITTEN
from bot.conversation.intent_policy import KB_AMBIGUOUS, KB_ANSWER, KB_NONE, Reading
from bot.conversation.understanding import Understanding
from knowledge_base.life_events import LifeEventMatch
from tests.support.rasa_double import RasaDouble
from tests.unit.test_webchat import app_client


class Probe:
    def __init__(self, kb: str = KB_ANSWER, fails: bool = False, slug: str = "a") -> None:
        self.kb, self.fails, self.slug, self.asked = kb, fails, slug, list[str]()

    async def verdict(self, question: str) -> tuple[str, str | None]:
        self.asked.append(question)
        if self.fails:
            raise RuntimeError("index away")
        return self.kb, self.slug if self.kb == KB_ANSWER else None


class Pending:
    def __init__(self, slot: str | None = None) -> None:
        self.slot = slot

    async def expected_slot(self, conversation_id: str) -> str | None:
        return self.slot


async def test_a_question_is_read_with_the_knowledge_bases_verdict() -> None:
    probe = Probe(KB_AMBIGUOUS)
    understanding = Understanding(probe, Pending())
    reading = await understanding.read("c1", "comment refaire mon passeport ?", False)
    assert reading == Reading(kb=KB_AMBIGUOUS, question=True)
    assert probe.asked == ["comment refaire mon passeport ?"]


async def test_inside_a_form_or_an_emergency_the_base_is_not_searched() -> None:
    probe = Probe()
    in_form = await Understanding(probe, Pending("report_location")).read("c1", "rue X", False)
    assert in_form == Reading(in_form=True)
    urgent = await Understanding(probe, Pending()).read("c1", "au feu ! la maison brûle", True)
    assert urgent.emergency and urgent.kb == KB_NONE
    assert probe.asked == []


async def test_a_failing_probe_leaves_the_decision_to_rasa() -> None:
    reading = await Understanding(Probe(fails=True), Pending()).read("c1", "horaires ?", False)
    assert reading.kb == KB_NONE and reading.question


async def test_the_app_sends_its_reading_and_follows_pending_form_questions(
    data_dir: Path,
) -> None:
    from aiohttp.test_utils import TestServer

    double = RasaDouble()
    server = TestServer(double.app(), host="127.0.0.1")
    await server.start_server()
    try:
        async with app_client(str(server.make_url("")).rstrip("/"), data_dir) as client:
            session = str(uuid.uuid4())

            async def send(text: str) -> Reading:
                resp = await client.post(f"/api/chat/{session}/messages", json={"text": text})
                assert resp.status == 200
                reading = Reading.from_metadata(double.received[-1]["metadata"])
                assert reading is not None
                return reading

            first = await send("je veux signaler un lampadaire en panne")
            assert first.problem and not first.in_form and not first.emergency
            double.expects = "report_location"  # the bot now asks where
            assert not (await send("il est cassé")).in_form  # asked before this reply
            assert (await send("rue Pasteur")).in_form
            double.expects = None
            assert (await send("devant l'école")).in_form  # the question was still pending
            assert not (await send("merci")).in_form
            # Button payloads are the bot's own intents: nothing to read, but the
            # channel's capabilities still go with them (the actions need them).
            resp = await client.post(
                f"/api/chat/{session}/messages", json={"text": "Oui", "payload": "/affirm"}
            )
            assert resp.status == 200
            assert double.received[-1]["metadata"] == WRITTEN.as_metadata()
    finally:
        await server.close()


@pytest.mark.parametrize("text", ["Il y a le feu dans l'immeuble, vite !"])
async def test_an_emergency_is_read_as_such(data_dir: Path, text: str) -> None:
    from aiohttp.test_utils import TestServer

    double = RasaDouble()
    server = TestServer(double.app(), host="127.0.0.1")
    await server.start_server()
    try:
        async with app_client(str(server.make_url("")).rstrip("/"), data_dir) as client:
            resp = await client.post(f"/api/chat/{uuid.uuid4()}/messages", json={"text": text})
            assert resp.status == 200
            reading = Reading.from_metadata(double.received[-1]["metadata"])
            assert reading is not None and reading.emergency
    finally:
        await server.close()


class Events:
    """A life-event finder that recognises one phrase."""

    def __init__(self, articles: tuple[str, ...]) -> None:
        self.articles = articles

    def match(self, text: str) -> LifeEventMatch | None:
        if "bébé" not in text:
            return None
        return LifeEventMatch(tag="j'attends un enfant", score=1.0, articles=self.articles)


async def test_a_life_event_is_read_unless_the_base_answers_another_procedure() -> None:
    event = Events(("naissance-declaration", "creche"))
    reading = await Understanding(Probe(KB_AMBIGUOUS), Pending(), event).read(
        "c1", "on attend un bébé", False
    )
    assert reading.life_event == "j'attends un enfant"
    # The base answers with one of the event's articles: still the whole set.
    inside = Probe(KB_ANSWER, slug="creche")
    read = await Understanding(inside, Pending(), event).read("c1", "bébé", False)
    # ... with the article the base would answer with, which the action answers first.
    assert read.life_event and read.kb_article == "creche"
    # It answers with an article the event does not hold: one procedure was asked.
    outside = Probe(KB_ANSWER, slug="piscine-bebes-nageurs")
    one = await Understanding(outside, Pending(), event).read("c1", "bébé nageur ?", False)
    assert one.life_event is None
    # Inside a form or an emergency, no life event.
    in_form = await Understanding(Probe(), Pending("report_location"), event).read(
        "c1", "devant le bébé", False
    )
    assert in_form.life_event is None
    urgent = await Understanding(Probe(), Pending(), event).read(
        "c1", "le bébé ne respire plus", True
    )
    assert urgent.life_event is None
