"""Life events recognised in a message, from the tags of the base's articles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from knowledge_base.articles import Article, Status, article_from_fields
from knowledge_base.life_events import LifeEvents
from knowledge_base.markdown_io import read_article_file

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "knowledge_base" / "demo"
DATASET = ROOT / "tests" / "data" / "life_events.jsonl"


@pytest.fixture(scope="module")
def demo() -> LifeEvents:
    articles = [read_article_file(p) for p in sorted(DEMO.glob("*.md"))]
    return LifeEvents.from_directory(articles, DEMO)


# Written for this test; none is a line of tests/data/life_events.jsonl.
EVENTS = [
    ("on vient d'emménager", "j'arrive à Villebrune"),
    ("ma grand-mère nous a quittés ce week-end", "un proche est décédé"),
    ("mon papa est décédé dans la nuit", "un proche est décédé"),
    ("ma femme a accouché hier soir", "mon enfant est né"),
    ("je suis enceinte de 3 mois", "j'attends un enfant"),
    ("on demenage ds 2 semaines", "je déménage"),
    ("nous allons nous marier", "je me marie"),
    ("jsui licencié", "je perds mon emploi"),
    ("on se lance dans la rénovation de la cuisine", "je fais des travaux"),
    ("je me suis fait voler mon sac", "je me suis fait voler"),
    ("mon mari m'a quittée", "je me sépare"),
    ("maman nous a quittés", "un proche est décédé"),
    ("on a eu des jumeaux", "mon enfant est né"),
]
ORDINARY = [
    "comment déclarer une naissance ?",
    "carte d'identité perdue",
    "horaires de la mairie",
    "bonjour",
    "je veux refaire ma carte d'identité",
    "acte de naissance pour mon mariage",
    "mon permis de construire est refusé",
    "jeter des vieux meubles",
    "le conseil municipal a adopté le budget",
    "comment séparer le verre du plastique",
    "aides à la rénovation énergétique",
    # "licenci*" once matched "licence" (found by the dialogue test's second question).
    "comment obtenir une licence de taxi ?",
    "licence de club de foot",
]


def test_written_cases_are_not_lines_of_the_evaluation_set() -> None:
    texts = {json.loads(line)["text"] for line in DATASET.read_text().splitlines()}
    written = {t for t, _ in EVENTS} | set(ORDINARY)
    assert sorted(written & texts) == []


@pytest.mark.parametrize(("text", "tag"), EVENTS)
def test_a_message_naming_an_event_finds_it(demo: LifeEvents, text: str, tag: str) -> None:
    found = demo.match(text)
    assert found is not None, text
    assert found.tag == tag
    assert list(found.articles) == demo.articles(tag)
    assert 0 < found.score <= 1


@pytest.mark.parametrize("text", ORDINARY)
def test_a_question_on_one_procedure_is_no_event(demo: LifeEvents, text: str) -> None:
    assert demo.match(text) is None


async def test_match_off_loop_is_match(demo: LifeEvents) -> None:
    assert await demo.match_off_loop("on attend un bébé") == demo.match("on attend un bébé")


def test_the_aliases_file_orders_the_articles_deadlines_first(demo: LifeEvents) -> None:
    assert demo.articles("un proche est décédé")[0] == "deces-declaration"
    assert demo.articles("mon enfant est né")[0] == "naissance-declaration"
    death = demo.event("un proche est décédé")
    assert death is not None and death.hard and "condoléances" in death.care
    birth = demo.event("mon enfant est né")
    assert birth is not None and not birth.hard
    assert demo.articles("pas un événement") == []


def _article(slug: str, events: list[str], status: str = "published") -> Article:
    return article_from_fields(
        {"slug": slug, "title": slug, "life_events": events, "status": status}, "texte"
    )


def test_another_base_works_with_its_own_tags_and_no_aliases(tmp_path: Path) -> None:
    articles = [
        _article("zz-dernier", ["un bébé arrive"]),
        _article("aa-premier", ["un bébé arrive"]),
        _article("brouillon", ["un bébé arrive"], status=Status.DRAFT.value),
    ]
    events = LifeEvents.from_directory(articles, tmp_path)
    assert events.tags() == ["un bébé arrive"]
    found = events.match("bonjour, un bebe arrive chez nous en mai")
    assert found is not None and found.tag == "un bébé arrive"
    # No order given: a stable one, the drafts left out.
    assert found.articles == ("aa-premier", "zz-dernier")
    assert events.match("je me marie") is None


def test_a_broken_aliases_file_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "_life_events.yml").write_text("events: [unclosed", encoding="utf-8")
    events = LifeEvents.from_directory([_article("a", ["je déménage"])], tmp_path)
    found = events.match("je déménage bientôt")
    assert found is not None and found.articles == ("a",)


def test_a_topic_word_names_an_event_only_with_a_request_for_the_whole_set(
    tmp_path: Path,
) -> None:
    (tmp_path / "_life_events.yml").write_text(
        "not_if: ['quelle heure']\n"
        "asks: ['quelles demarches', 'par ou commencer']\n"
        "events:\n"
        "  je fais des travaux:\n"
        "    aliases: ['je fais des travaux']\n"
        "    topics: ['chantier*', 'cloison*']\n",
        encoding="utf-8",
    )
    events = LifeEvents.from_directory([_article("a", ["je fais des travaux"])], tmp_path)
    named = events.match("je fais des travaux cet été")
    assert named is not None and not named.by_topic
    asked = events.match("gros chantier au printemps, par où commencer ?")
    assert asked is not None and asked.tag == "je fais des travaux" and asked.by_topic
    assert events.match("on abat une cloison : quelles démarches ?") is not None
    # The topic alone, or with a veto, is an ordinary question.
    assert events.match("le chantier d'en face fait du bruit") is None
    assert events.match("chantier : à quelle heure commencer, quelles démarches ?") is None


# Written for this test (not lines of the evaluation sets): topics of the demo base.
DEMO_TOPICS = [
    ("le chantier de notre salle de bain démarre en mai, quelles règles ?", "je fais des travaux"),
    ("le bail de mon studio se termine, il faut prévoir quoi ?", "je déménage"),
    ("construction de notre maison en bois : les étapes ?", "je construis"),
]


@pytest.mark.parametrize(("text", "tag"), DEMO_TOPICS)
def test_the_demo_base_has_topics_for_its_events(demo: LifeEvents, text: str, tag: str) -> None:
    found = demo.match(text)
    assert found is not None and found.tag == tag, text
