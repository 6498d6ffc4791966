"""Phrasing cues: a question, a reported defect, a request for a person."""

from __future__ import annotations

import pytest
import yaml

from bot.conversation import cues
from tools import ROOT


@pytest.mark.parametrize(
    "text",
    [
        "Peut-on changer le nom d'un enfant mineur ?",
        "c'est quoi le CCAS en fait",
        "cmt avoir 1 extrait dacte de naissance stp",
        "je voudrais savoir les horaires de la piscine",
        "Quelles sont les pièces pour une carte d'identité",
        "inscription cantine",
        "bonjour comment refaire mon passeport",
        "jvoudrai savoir kel papier il faut",
        "ma mère est en fauteuil est-ce qu'elle peut se garer",
    ],
)
def test_questions(text: str) -> None:
    assert cues.is_question(text)


@pytest.mark.parametrize("text", ["bonjour", "merci beaucoup", "oui", "rue Pasteur", "12"])
def test_not_questions(text: str) -> None:
    assert not cues.is_question(text)


@pytest.mark.parametrize(
    "text",
    [
        "il y a un nid de poule rue Pasteur",
        "le lampadaire devant chez moi ne marche plus",
        "Dépôt sauvage de matelas derrière le stade",
        "je veux signaler un banc cassé",
        "des tags sur le mur de l'école",
        "une branche est tombée sur le trottoir",
    ],
)
def test_problems(text: str) -> None:
    assert cues.states_a_problem(text)


@pytest.mark.parametrize(
    "text",
    [
        "Peut-on changer le nom d'un enfant mineur ?",
        "quels documents pour un passeport",
        "horaires de la mairie",
        "comment réserver la salle des fêtes",
        # "tombe" is also a grave: only "est tombé" is a defect.
        "concession pour la tombe de ma mère",
    ],
)
def test_not_problems(text: str) -> None:
    assert not cues.states_a_problem(text)


@pytest.mark.parametrize(
    "text",
    ["je veux parler à un conseiller", "un humain svp", "pouvez-vous me rappeler"],
)
def test_person(text: str) -> None:
    assert cues.asks_for_a_person(text)


@pytest.mark.parametrize("text", ["comment contacter le service des sports ?", "horaires piscine"])
def test_not_person(text: str) -> None:
    assert not cues.asks_for_a_person(text)


def bot_challenge_examples() -> list[str]:
    nlu = yaml.safe_load((ROOT / "training_data" / "nlu.yml").read_text(encoding="utf-8"))
    block = next(i for i in nlu["nlu"] if i.get("intent") == "bot_challenge")
    return [line[2:].strip() for line in block["examples"].splitlines() if line.strip()]


def test_every_trained_disclosure_question_is_about_the_assistant() -> None:
    examples = bot_challenge_examples()
    assert len(examples) >= 20
    assert [e for e in examples if not cues.asks_about_the_assistant(e)] == []


@pytest.mark.parametrize(
    "text",
    [
        "c'est un vrai agent de la mairie qui me répond ?",
        "JE PARLE A QUI LA",
        "vous etes qui",
        "est-ce une IA ?",
    ],
)
def test_about_the_assistant(text: str) -> None:
    assert cues.asks_about_the_assistant(text)


@pytest.mark.parametrize(
    "text",
    [
        "Qui peut célébrer un mariage civil ?",
        "comment arrêter le prélèvement automatique de la cantine",
        "le programme des activités du centre de loisirs",
        "une personne âgée peut-elle avoir le portage des repas ?",
        "qui contacter pour une machine à laver aux encombrants",
    ],
)
def test_not_about_the_assistant(text: str) -> None:
    assert not cues.asks_about_the_assistant(text)


def test_hours_or_contact() -> None:
    assert cues.asks_hours_or_contact("À quelle heure ferme la mairie ?")
    assert cues.asks_hours_or_contact("mail du servic etat civil")
    assert cues.asks_hours_or_contact("adresse mairie villebrune")
    assert not cues.asks_hours_or_contact("bapteme republicain mairie")
    assert not cues.asks_hours_or_contact("chgt prenom mairie dossier")


def test_town_hall() -> None:
    assert cues.names_the_town_hall("À quelle heure ferme la mairie ?")
    assert cues.names_the_town_hall("horaires de l'hôtel de ville")
    assert not cues.names_the_town_hall("horaires de la piscine")
