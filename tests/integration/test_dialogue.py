"""French dialogue end to end: the real app relays to the real Rasa server,
whose custom actions run back in the app."""

from __future__ import annotations

import sqlite3
import uuid

import pytest

from tests.support.chat import Chat, texts
from tools.launcher import Stack

pytestmark = pytest.mark.integration

# Close to several articles, sure of none: the bot asks which one was meant.
SUGGESTION_QUESTION = "inscription"
# Not covered by the demo base (checked with the knowledge base alone).
SECOND_MISS = "comment obtenir une licence de taxi ?"


def chat(stack: Stack) -> Chat:
    return Chat(stack.app_url, str(uuid.uuid4()))


async def test_greeting_says_it_is_an_automated_assistant(stack: Stack) -> None:
    reply = texts(await chat(stack).say("Bonjour"))
    assert "assistant automatisé" in reply


@pytest.mark.parametrize("question", ["vous êtes un robot ?", "je parle a une vraie personne la"])
async def test_bot_challenge(stack: Stack, question: str) -> None:
    assert "assistant automatisé" in texts(await chat(stack).say(question))


async def test_opening_hours_and_contacts_come_from_settings(stack: Stack) -> None:
    town = stack.settings.town
    hours = texts(await chat(stack).say("la mairie est ouverte a quelle heure le samedi"))
    for slot in town.opening_hours:
        assert slot.hours in hours
    contact = texts(await chat(stack).say("quel est le numéro de téléphone de la mairie ?"))
    assert town.phone in contact and town.address in contact


async def test_capabilities_offer_buttons(stack: Stack) -> None:
    messages = await chat(stack).say("qu'est-ce que tu sais faire ?")
    assert "assistant automatisé" in texts(messages)
    payloads = [b["payload"] for m in messages for b in m.get("buttons", [])]
    assert "/report_problem" in payloads


async def test_out_of_scope_insult_and_human(stack: Stack) -> None:
    c = chat(stack)
    assert "services et les démarches" in texts(await c.say("quel temps fera-t-il demain à Nice ?"))
    calm = texts(await c.say("t'es vraiment nul espèce de bot de merde"))
    assert "reformuler" in calm and "merde" not in calm
    human = texts(await c.say("je veux parler à une vraie personne"))
    assert stack.settings.town.phone in human


async def test_knowledge_question_gets_a_sourced_answer(stack: Stack) -> None:
    messages = await chat(stack).say("quand passe le ramassage des encombrants")
    answer = next(m for m in messages if m.get("sources"))
    assert answer["text"].startswith("Encombrants")
    source = answer["sources"][0]
    assert source["url"].startswith("https://www.villebrune.example/")
    assert source["updated"]
    assert answer["feedback"]["slug"] == answer["articles"][0]


async def test_uncovered_question_is_honest_and_offers_a_human(stack: Stack) -> None:
    messages = await chat(stack).say("comment je fais pour repasser mon permis de conduire ?")
    assert not any(m.get("sources") for m in messages)
    payloads = {b["payload"] for m in messages for b in m.get("buttons", [])}
    assert "/request_human" in payloads


async def test_suggestion_buttons_lead_to_the_chosen_article(stack: Stack) -> None:
    c = chat(stack)
    messages = await c.say(SUGGESTION_QUESTION)
    buttons = [b for m in messages for b in m.get("buttons", []) if "kb_article" in b["payload"]]
    assert buttons, messages
    chosen = await c.say(buttons[0]["title"], buttons[0]["payload"])
    answer = next(m for m in chosen if m.get("sources"))
    assert answer["text"].startswith(buttons[0]["title"])


async def test_emergency_numbers_at_once(stack: Stack) -> None:
    messages = await chat(stack).say("au secours mon voisin ne respire plus")
    assert messages[0].get("emergency") is True
    assert messages[0]["text"].splitlines()[1].startswith("• 15")
    # Given once, not twice (Rasa's action and the app's guard agree).
    assert sum(1 for m in messages if m.get("emergency")) == 1


def stored_report(stack: Stack, reference: str) -> sqlite3.Row | None:
    with sqlite3.connect(stack.settings.data_dir / "guichet.db") as db:
        db.row_factory = sqlite3.Row
        row: sqlite3.Row | None = db.execute(
            "SELECT * FROM reports WHERE reference = ?", (reference,)
        ).fetchone()
        return row


def reference_in(messages: list[dict]) -> str:
    refs = [m["report_reference"] for m in messages if "report_reference" in m]
    if refs:
        return str(refs[0])
    text = texts(messages)
    assert "SIG-" in text, text
    return text[text.index("SIG-") : text.index("SIG-") + 10]


async def test_report_form_without_contact(stack: Stack) -> None:
    c = chat(stack)
    ask = await c.say("je voudrais signaler un problème dans ma rue")
    assert "type de problème" in texts(ask)
    button = next(b for b in ask[-1]["buttons"] if "clairage" in b["title"])
    assert "adresse" in texts(await c.say(button["title"], button["payload"]))
    assert "Décrivez" in texts(await c.say("devant le 12 rue des Lilas"))
    consent = await c.say("le lampadaire clignote toute la nuit")
    assert "recontacté" in texts(consent)
    done = await c.say("Non", "/deny")
    reference = reference_in(done)
    row = stored_report(stack, reference)
    assert row is not None
    assert (row["category"], row["location"], row["contact"]) == (
        "eclairage",
        "devant le 12 rue des Lilas",
        None,
    )
    assert row["description"] == "le lampadaire clignote toute la nuit"
    assert row["conversation_id"] == c.session_id


async def test_report_form_with_contact_typed_category_and_validation(stack: Stack) -> None:
    c = chat(stack)
    await c.say("il faut que je fasse un signalement")
    assert "adresse" in texts(await c.say("un dépôt sauvage de gravats"))
    await c.say("chemin du Moulin, près du pont")
    await c.say("des sacs de gravats abandonnés depuis une semaine")
    assert "e-mail" in texts(await c.say("oui", "/affirm"))
    retry = texts(await c.say("mon numéro c'est le 12"))
    assert "pas reconnu" in retry
    done = await c.say("camille.martin@exemple.fr")
    row = stored_report(stack, reference_in(done))
    assert row is not None
    assert row["category"] == "depot_sauvage"
    assert row["contact"] == "camille.martin@exemple.fr"


async def test_withdrawn_consent_stores_no_contact(stack: Stack) -> None:
    c = chat(stack)
    # "banc": the first message gives the category, the place is the first question.
    assert "adresse" in texts(await c.say("je veux signaler un banc cassé"))
    await c.say("square Jean Moulin")
    await c.say("le banc près des jeux est cassé en deux")
    assert "e-mail" in texts(await c.say("oui", "/affirm"))
    done = await c.say("non finalement je préfère pas")
    assert "pas recontacté" in texts(done)
    row = stored_report(stack, reference_in(done))
    assert row is not None and row["contact"] is None
    assert row["category"] == "mobilier_urbain"


async def test_a_descriptive_first_message_is_the_reports_category_and_description(
    stack: Stack,
) -> None:
    c = chat(stack)
    first = "il y a un lampadaire en panne rue des Lilas"
    assert "adresse" in texts(await c.say(first))  # neither category nor description asked
    assert "recontacté" in texts(await c.say("devant le 12 rue des Lilas"))
    done = await c.say("Non", "/deny")
    row = stored_report(stack, reference_in(done))
    assert row is not None
    assert (row["category"], row["location"], row["description"]) == (
        "eclairage",
        "devant le 12 rue des Lilas",
        first,
    )


async def test_cancel_and_interruptions_inside_the_form(stack: Stack) -> None:
    c = chat(stack)
    await c.say("signaler un nid de poule")  # a category: the place is asked
    robot = texts(await c.say("attendez, vous êtes un robot ?"))
    assert "assistant automatisé" in robot and "Où se trouve le problème" in robot
    fire = await c.say("il y a le feu dans l'immeuble en face !")
    assert fire[0].get("emergency") and "• 18" in fire[0]["text"]
    cancelled = texts(await c.say("annuler"))
    assert "annule" in cancelled and "Rien n'a été enregistré" in cancelled
    # A new report starts from scratch: the earlier answers were forgotten.
    assert "type de problème" in texts(await c.say("je veux faire un signalement"))


async def test_history_keeps_the_whole_conversation(stack: Stack) -> None:
    c = chat(stack)
    await c.say("Bonjour")
    await c.say("horaires de la mairie")
    history = await c.history()
    assert [m["role"] for m in history] == ["user", "bot", "user", "bot"]
    assert history[0]["text"] == "Bonjour"


def stored_ticket(stack: Stack, reference: str) -> sqlite3.Row | None:
    with sqlite3.connect(stack.settings.data_dir / "guichet.db") as db:
        db.row_factory = sqlite3.Row
        row: sqlite3.Row | None = db.execute(
            "SELECT * FROM tickets WHERE reference = ?", (reference,)
        ).fetchone()
        return row


async def test_no_agent_online_leads_to_a_callback_request_with_consent(stack: Stack) -> None:
    c = chat(stack)
    offer = await c.say("je veux parler à quelqu'un de la mairie")
    assert "recontacte" in texts(offer) and stack.settings.town.phone in texts(offer)
    button = next(b for m in offer for b in m.get("buttons", []) if "recontacté" in b["title"])
    consent = texts(await c.say(button["title"], button["payload"]))
    assert "J'accepte" in consent and "supprimées" in consent
    assert "nom" in texts(await c.say("Oui", "/affirm"))
    assert "téléphone" in texts(await c.say("Camille Martin"))
    assert "objet" in texts(await c.say("06.12.34.56.78"))
    done = await c.say("une question sur mon permis de construire")
    refs = [m["ticket_reference"] for m in done if "ticket_reference" in m]
    assert refs, texts(done)
    # The contact belongs to the ticket alone: neither echoed nor kept in the transcript.
    assert "06" not in texts(done) and "recontactera" in texts(done)
    stored = " ".join(m["text"] for m in await c.history())
    assert "06.12.34.56.78" not in stored and "06 12 34 56 78" not in stored
    assert "[téléphone]" in stored
    row = stored_ticket(stack, refs[0])
    assert row is not None
    assert (row["name"], row["contact"], row["status"]) == (
        "Camille Martin",
        "06 12 34 56 78",
        "open",
    )
    assert "J'accepte" in row["consent_text"]


async def test_callback_without_consent_stores_nothing(stack: Stack) -> None:
    c = chat(stack)
    await c.say("Être recontacté", "/request_callback")
    refused = texts(await c.say("Non", "/deny"))
    assert "aucune donnée" in refused
    with sqlite3.connect(stack.settings.data_dir / "guichet.db") as db:
        count = db.execute(
            "SELECT count(*) FROM tickets WHERE conversation_id = ?", (c.session_id,)
        ).fetchone()[0]
    assert count == 0


async def test_two_unanswered_questions_lead_to_a_person(stack: Stack) -> None:
    c = chat(stack)
    first = await c.say("quel est le tarif du permis de chasse au sanglier ?")
    assert any(m.get("not_found") for m in first), first
    second = texts(await c.say(SECOND_MISS))
    # No agent online in the test stack: the person is reached by a callback request,
    # once (no loop of predictions), and the bot answers normally afterwards.
    assert second.count("toujours pas") == 1 and second.count("recontacte") == 1
    assert "assistant automatisé" in texts(await c.say("bonjour"))


async def test_rasa_keeps_the_conversation_in_the_projects_sql_tracker_store(
    stack: Stack,
) -> None:
    """Rasa falls back to an in-memory tracker store when the configured one cannot be
    loaded; the conversation must be in rasa_tracker.db (what restarts and the RGPD
    purge rely on), written in WAL mode by the project's store."""
    c = chat(stack)
    await c.say("Bonjour")
    db = stack.settings.data_dir / "rasa_tracker.db"
    with sqlite3.connect(db) as conn:
        (count,) = conn.execute(
            "SELECT COUNT(*) FROM events WHERE sender_id = ?", (c.session_id,)
        ).fetchone()
        (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
    assert count > 0
    assert mode == "wal"
