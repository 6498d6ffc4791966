"""Service-Public.fr fiches as a knowledge source, on real fiches (tests/data/service_public)."""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.settings import OpeningSlot, TownSettings
from knowledge_base.articles import Article, Status, article_from_fields
from knowledge_base.service import KnowledgeBase
from knowledge_base.sources import source_of
from knowledge_base.sources.service_public import ServicePublicSource
from knowledge_base.sources.service_public_fiche import (
    ATTRIBUTION,
    fiche_slug,
    publication_article,
    publication_from_json,
    publication_from_xml,
    to_xml,
)
from tests.unit.test_kb_service import open_kb

DATA = Path(__file__).resolve().parents[1] / "data" / "service_public"
DEMO = Path(__file__).resolve().parents[2] / "knowledge_base" / "demo"
FICHES = ["f1433", "f1507", "f21224", "f3122"]
TOWN = TownSettings(
    name="Villebrune",
    mairie_name="Mairie de Villebrune",
    phone="01 99 00 12 34",
    email="contact@villebrune.example",
    address="1 place de la République, 45990 Villebrune",
    website="https://www.villebrune.example",
    opening_hours=(OpeningSlot("du lundi au vendredi", "de 8 h 30 à 17 h 30"),),
)


def fiche(name: str, town: TownSettings | None = TOWN) -> Article:
    entry = ServicePublicSource(DATA, town).entry(name)
    assert entry.article is not None, entry
    return entry.article


def test_a_fiche_becomes_one_article_with_its_cases_services_and_the_town() -> None:
    article = fiche("F1433.json")
    assert article.slug == "f1433"
    assert article.title == "Certificat de vie commune ou de concubinage"
    assert article.updated == "2019-10-17"  # dc:date "modified 2019-10-17"
    assert article.url == "https://www.service-public.fr/particuliers/vosdroits/F1433"
    assert article.status is Status.PUBLISHED
    assert source_of(article) == "service-public"
    assert article.extra["source_id"] == "F1433"
    assert article.extra["breadcrumb"] == "Famille › Union libre"
    assert article.category == "Famille"
    body = article.body
    # Each case keeps its heading, under its chapter.
    assert "## Démarche › Si votre mairie délivre ce document\n\n" in body
    assert "## Démarche › Si elle ne le délivre pas\n\nIl faut alors présenter" in body
    assert "Le certificat est gratuit." in body
    # The online service, with its address.
    assert (
        "- Déclaration de concubinage (Modèle de document) : "
        "https://www.service-public.fr/simulateur/calcul/Concubinage"
    ) in body
    # The mairie pivot carries the town's own details, not the national directory.
    assert "Mairie : Mairie de Villebrune — 1 place de la République, 45990 Villebrune" in body
    assert "tél. 01 99 00 12 34" in body and "du lundi au vendredi de 8 h 30 à 17 h 30" in body
    assert "lannuaire.service-public.fr" not in body
    assert f"{ATTRIBUTION}, mise à jour le 17/10/2019." in body
    # The Markdown round trip (export, the store's snapshot) keeps every field.
    again = article_from_fields({**article.extra, **_core(article)}, article.body)
    assert again == article


def _core(article: Article) -> dict[str, object]:
    return {
        "slug": article.slug,
        "title": article.title,
        "category": article.category,
        "service": article.service,
        "url": article.url,
        "updated": article.updated,
        "status": article.status.value,
    }


def test_without_town_settings_the_mairie_is_named_with_its_link() -> None:
    body = fiche("F1433.json", town=None).body
    assert "Mairie : https://lannuaire.service-public.fr/" in body
    assert "Villebrune" not in body


def test_situations_become_sections() -> None:
    article = fiche("F21224.json")
    assert article.title == "Doit-on modifier sa carte d'identité en cas de changement d'adresse ?"
    assert "## Pour un adulte\n\nNon, modifier l'adresse" in article.body
    assert "## Pour un mineur\n\n" in article.body


def test_the_official_xml_reads_like_the_json(tmp_path: Path) -> None:
    from_json = publication_from_json((DATA / "F1433.json").read_bytes())
    (tmp_path / "F1433.xml").write_bytes(to_xml(from_json))
    xml_article = ServicePublicSource(tmp_path, TOWN).entry("F1433.xml").article
    assert xml_article == fiche("F1433.json")
    # The committed XML fixture: the mairie pivot filled from the settings.
    baptism = fiche("F1507.xml")
    assert baptism.title == "Quelle est la valeur juridique du baptême civil ?"
    assert baptism.updated == "2019-11-07"
    assert "Mairie : Mairie de Villebrune" in baptism.body
    root = publication_from_xml((DATA / "F1507.xml").read_bytes())
    assert publication_article(root, TOWN) == baptism


def test_zip_navigation_pages_and_slugs(tmp_path: Path) -> None:
    archive = tmp_path / "vosdroits-latest.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in DATA.iterdir():
            if path.suffix in (".xml", ".json"):
                zf.write(path, f"vosdroits/{path.name}")
        zf.writestr("vosdroits/README.txt", "not a fiche")
    source = ServicePublicSource(archive, TOWN)
    entries = {e.slug: e for e in source.entries()}
    assert len(source) == 5 and sorted(entries) == sorted([*FICHES, "n143"])
    assert entries["n143"].skipped and entries["n143"].article is None
    assert all(entries[s].article is not None for s in FICHES)
    # The benchmark names answers `qr-f34355` or `f1844-<case>`: both are the fiche.
    assert fiche_slug("qr-f34355") == "f34355"
    assert fiche_slug("f1844-jeune-vivant-en-vous-avez-moins") == "f1844"
    assert fiche_slug("F1342") == "f1342"
    assert fiche_slug("carte-identite-demande") == ""


def indexed_version(kb: KnowledgeBase, slug: str) -> int:
    indexed = kb.index.article(slug)
    assert indexed is not None, slug
    return indexed.version


async def stored_status(kb: KnowledgeBase, slug: str) -> Status:
    article = await kb.store.get(slug)
    assert article is not None, slug
    return article.status


@pytest.fixture
async def kb(tmp_path: Path) -> AsyncIterator[KnowledgeBase]:
    demo = tmp_path / "demo"
    demo.mkdir()
    for slug in ["carte-identite-demande", "mariage-dossier", "actes-etat-civil-copies"]:
        shutil.copy(DEMO / f"{slug}.md", demo)
    base = await open_kb(tmp_path / "data")
    assert (await base.import_dir(demo, "test")).ok
    yield base
    await base.engine.dispose()


async def test_import_reimport_change_removal_and_broken_files(
    kb: KnowledgeBase, tmp_path: Path
) -> None:
    fiches = tmp_path / "fiches"
    shutil.copytree(DATA, fiches)
    (fiches / "F999.json").write_text("{not json", encoding="utf-8")
    seen: list[int] = []
    report = await kb.import_source(
        ServicePublicSource(fiches, TOWN), "cron", lambda n, total, name: seen.append(n)
    )
    assert sorted(report.created) == FICHES
    assert report.skipped == 1 and seen == [1, 2, 3, 4, 5, 6]
    assert [name for name, _ in report.errors] == ["F999.json"]
    assert sorted(a.slug for a in await kb.store.all(Status.PUBLISHED) if source_of(a)) == FICHES

    # Nothing changed: nothing written, nothing embedded again.
    revision = await kb.store.revision()
    versions = {s: indexed_version(kb, s) for s in FICHES}
    report = await kb.import_source(ServicePublicSource(fiches, TOWN), "cron")
    assert report.created == report.updated == report.archived == []
    assert sorted(report.unchanged) == FICHES
    assert await kb.store.revision() == revision
    assert {s: indexed_version(kb, s) for s in FICHES} == versions

    # DILA updates one fiche: only that one is written and re-indexed.
    data = json.loads((fiches / "F3122.json").read_text(encoding="utf-8"))
    text = json.dumps(data, ensure_ascii=False)
    text = text.replace("modified 2019-01-01", "modified 2026-11-30")
    text = text.replace("n'est plus possible", "est de nouveau possible sur impots.gouv.fr")
    (fiches / "F3122.json").write_text(text, encoding="utf-8")
    report = await kb.import_source(ServicePublicSource(fiches, TOWN), "cron")
    assert report.updated == ["f3122"] and report.created == []
    indexed = kb.index.article("f3122")
    assert indexed is not None and indexed.updated == "2026-11-30"
    assert "de nouveau possible" in " ".join(c.text for c in indexed.chunks)

    # A fiche withdrawn by DILA is archived, not deleted; a broken file is not "withdrawn".
    (fiches / "F21224.json").unlink()
    (fiches / "F1433.json").write_text('{"children": [{"type": "element"', encoding="utf-8")
    report = await kb.import_source(ServicePublicSource(fiches, TOWN), "cron")
    assert report.archived == ["f21224"]
    assert sorted(name for name, _ in report.errors) == ["F1433.json", "F999.json"]
    withdrawn = await kb.store.get("f21224")
    assert withdrawn is not None and withdrawn.status is Status.ARCHIVED
    assert kb.index.article("f21224") is None
    assert kb.index.article("f1433") is not None  # still published, as last imported
    assert await stored_status(kb, "f1433") is Status.PUBLISHED

    # An empty download archives nothing.
    empty = tmp_path / "empty"
    empty.mkdir()
    report = await kb.import_source(ServicePublicSource(empty, TOWN), "cron")
    assert report.archived == []
    assert await stored_status(kb, "f1507") is Status.PUBLISHED

    # The staff's articles are never touched by the import.
    assert await stored_status(kb, "mariage-dossier") is Status.PUBLISHED


async def test_a_staff_article_with_the_same_slug_is_left_alone(
    kb: KnowledgeBase, tmp_path: Path
) -> None:
    local = article_from_fields({"slug": "f3122", "title": "Notre page"}, "Texte local.")
    await kb.save(local, "agent", 0)
    report = await kb.import_source(ServicePublicSource(DATA, TOWN), "cron")
    assert [name for name, _ in report.errors] == ["F3122.json"]
    assert "not from service-public" in report.errors[0][1]
    kept = await kb.store.get("f3122")
    assert kept is not None and kept.title == "Notre page" and not source_of(kept)


async def test_a_question_finds_its_fiche_with_source_and_date(kb: KnowledgeBase) -> None:
    report = await kb.import_source(ServicePublicSource(DATA, TOWN), "cron")
    assert sorted(report.created) == FICHES
    for question, slug in [
        ("ma mairie peut-elle me faire un certificat de concubinage ?", "f1433"),
        ("un parrainage républicain a-t-il une valeur légale ?", "f1507"),
        ("je déménage, dois-je changer l'adresse sur ma carte d'identité ?", "f21224"),
    ]:
        ranked = await kb.rank(question)
        assert ranked[0].slug == slug, (question, [r.slug for r in ranked[:3]])
    answer, _ = await kb.preview("certificat de vie commune en mairie")
    top = answer.passages[0]
    assert top.slug == "f1433"
    assert top.url == "https://www.service-public.fr/particuliers/vosdroits/F1433"
    assert top.updated == "2019-10-17"


def test_cases_are_recorded_with_the_headings_of_their_sections() -> None:
    assert fiche("F1433.json").extra["cases"] == [
        "Démarche › Si votre mairie délivre ce document",
        "Démarche › Si elle ne le délivre pas",
    ]
    assert fiche("F21224.json").extra["cases"] == ["Pour un adulte", "Pour un mineur"]
    assert "cases" not in fiche("F1507.xml").extra


async def test_a_conditional_fiche_asks_the_case_then_answers_that_case_only(
    kb: KnowledgeBase,
) -> None:
    await kb.import_source(ServicePublicSource(DATA, TOWN), "cron")
    # The question names no situation: the general answer, then the two cases.
    answer, _ = await kb.preview("je déménage, dois-je changer l'adresse sur ma carte d'identité ?")
    top = answer.passages[0]
    assert top.slug == "f21224"
    assert top.text.startswith("Non, après un déménagement")
    assert [c.label for c in top.choices] == ["Pour un adulte", "Pour un mineur"]
    minor = top.choices[1].ref
    # Picking a case answers with that case's section, and asks nothing more.
    chosen = await kb.passage_of(minor)
    assert chosen is not None and chosen.slug == "f21224" and not chosen.choices
    assert chosen.text.startswith("Pour un mineur : ")
    assert chosen.url == "https://www.service-public.fr/particuliers/vosdroits/F21224"
    # A question that names its case gets that case at once.
    named, _ = await kb.preview(
        "mon enfant mineur a déménagé, faut-il changer l'adresse de sa carte d'identité ?"
    )
    assert named.passages[0].slug == "f21224"
    assert named.passages[0].text.startswith("Pour un mineur : ")
    assert not named.passages[0].choices
    # A section without cases under it asks nothing; a bad section falls back.
    lead = await kb.passage_of("f1507")
    assert lead is not None and not lead.choices
    fallback = await kb.passage_of("f21224#99")
    assert fallback is not None and fallback.text.startswith("Non, après un déménagement")


async def test_the_answer_action_asks_the_case_with_buttons_then_answers_it(
    kb: KnowledgeBase,
) -> None:
    from rasa_sdk.executor import ActionExecutor

    from actions import ActionDependencies, build_actions
    from bot.conversation.capabilities import WRITTEN
    from tests.support.actions import run_action

    await kb.import_source(ServicePublicSource(DATA, TOWN), "cron")
    executor = ActionExecutor()
    for action in build_actions(ActionDependencies(town=TOWN, reports=None, knowledge=kb)):  # type: ignore[arg-type]
        executor.register_action(action)
    question = "je déménage, dois-je changer l'adresse sur ma carte d'identité ?"
    [reply] = await run_action(
        executor,
        "action_answer_from_kb",
        question,
        "ask_question",
        WRITTEN.as_metadata(),
        channel="whatsapp",
    )
    assert reply["articles"] == ["f21224"] and reply["sources"][0]["updated"]
    # The question is logged under the channel the app named, whatever it is.
    import sqlalchemy as sa

    async with kb.engine.connect() as db:
        rows = (await db.execute(sa.text("SELECT channel, question FROM kb_queries"))).all()
    assert [tuple(r) for r in rows] == [("whatsapp", question)]
    assert reply["text"].endswith("La suite dépend de votre situation. Quelle est la vôtre ?")
    assert [b["title"] for b in reply["buttons"]] == ["Pour un adulte", "Pour un mineur"]
    payload = reply["buttons"][1]["payload"]
    assert payload.startswith('/ask_question{"kb_article":"f21224#')
    ref = payload.split('"kb_article":"')[1].rstrip('"}')
    # The citizen presses "Pour un mineur": that case's section, with its source.
    asked = {"event": "user", "text": question, "parse_data": {"text": question}}
    [case] = await run_action(
        executor,
        "action_answer_from_kb",
        payload,
        "ask_question",
        WRITTEN.as_metadata(),
        entities=[{"entity": "kb_article", "value": ref}],
        before=[asked],
    )
    assert case["articles"] == ["f21224"] and "buttons" not in case
    assert case["text"].startswith(
        "Doit-on modifier sa carte d'identité en cas de changement d'adresse ?\nPour un mineur : "
    )


def test_a_folder_of_volumes_reads_the_configured_volumes(tmp_path: Path) -> None:
    from bot.settings import SettingsError, load_settings

    data = tmp_path / "package" / "data"
    (data / "particuliers").mkdir(parents=True)
    (data / "associations").mkdir()
    shutil.copy(DATA / "F1433.json", data / "particuliers")
    shutil.copy(DATA / "F21224.json", data / "particuliers")
    shutil.copy(DATA / "F1507.xml", data / "associations")
    (data / "index.json").write_text("{}", encoding="utf-8")  # not a fiche

    def slugs(source: ServicePublicSource) -> list[str]:
        return sorted(e.slug for e in source.entries() if e.article is not None)

    # The package's root or its data/ folder; individuals' fiches by default.
    assert slugs(ServicePublicSource(tmp_path / "package")) == ["f1433", "f21224"]
    both = ServicePublicSource(data, volumes=("particuliers", "associations"))
    assert slugs(both) == ["f1433", "f1507", "f21224"]
    with pytest.raises(OSError, match="no 'professionnels' volume"):
        ServicePublicSource(data, volumes=("professionnels",))
    # The setting, from the settings file or the environment.
    env = {"GUICHET_DATA_DIR": str(tmp_path)}
    assert load_settings(env=env).knowledge.service_public_volumes == ("particuliers",)
    chosen = {**env, "GUICHET__KNOWLEDGE__SERVICE_PUBLIC_VOLUMES": "particuliers,associations"}
    volumes = load_settings(env=chosen).knowledge.service_public_volumes
    assert volumes == ("particuliers", "associations")
    with pytest.raises(SettingsError, match="'entreprises'"):
        load_settings(env={**env, "GUICHET__KNOWLEDGE__SERVICE_PUBLIC_VOLUMES": "[entreprises]"})
