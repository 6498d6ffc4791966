"""The town's own article first, the national fiche on the same topic offered beside it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from knowledge_base.local_first import local_first
from knowledge_base.service import KnowledgeBase
from knowledge_base.sources.service_public import ServicePublicSource
from tests.unit.test_service_public_source import DATA, TOWN, kb  # noqa: F401 (fixture)

NATIONAL = {"f1", "f2", "f3"}


@dataclass(frozen=True)
class Item:
    slug: str
    score: float
    evidence: dict[str, Any] = field(default_factory=dict)


def rank(items: list[Item], replaced: dict[str, str] | None = None) -> tuple[list[str], str | None]:
    out, aside = local_first(
        items,
        is_national=lambda s: s in NATIONAL,
        replacement=lambda s: (replaced or {}).get(s),
        promote=lambda fiche, local: replace(fiche, slug=local),
        margin=0.02,
    )
    return [i.slug for i in out], aside


def test_a_fiche_close_ahead_of_a_local_article_gives_way_to_it() -> None:
    assert rank([Item("f1", 0.95), Item("local", 0.94), Item("f2", 0.90)]) == (
        ["local", "f2"],
        "f1",
    )


def test_a_fiche_close_behind_a_local_article_leaves_the_ranking() -> None:
    # Same topic: it would otherwise make the local answer look ambiguous.
    assert rank([Item("local", 0.95), Item("f1", 0.94), Item("f2", 0.90)]) == (
        ["local", "f2"],
        "f1",
    )


def test_a_fiche_clearly_ahead_stays_the_answer() -> None:
    assert rank([Item("f1", 0.97), Item("local", 0.94)]) == (["f1", "local"], None)
    assert rank([Item("local", 0.97), Item("f1", 0.94)]) == (["local", "f1"], None)
    # Two fiches: nothing local to prefer.
    assert rank([Item("f1", 0.95), Item("f2", 0.945)]) == (["f1", "f2"], None)


def test_a_declared_replacement_takes_the_fiches_place_and_score() -> None:
    out, aside = local_first(
        [Item("f1", 0.97), Item("other", 0.90), Item("local", 0.80)],
        is_national=lambda s: s in NATIONAL,
        replacement={"f1": "local"}.get,
        promote=lambda fiche, local: replace(fiche, slug=local),
    )
    assert [(i.slug, i.score) for i in out] == [("local", 0.97), ("other", 0.90)]
    assert aside == "f1"
    # Also when the local article was not among the candidates at all.
    assert rank([Item("f2", 0.9), Item("f1", 0.8)], {"f1": "local"}) == (["f2", "local"], None)


async def test_the_town_article_that_replaces_a_fiche_answers_with_the_fiche_beside(
    kb: KnowledgeBase,  # noqa: F811
    tmp_path: Path,
) -> None:
    await kb.import_source(ServicePublicSource(DATA, TOWN), "cron")
    question = "je déménage, dois-je changer l'adresse sur ma carte d'identité ?"
    before, _ = await kb.preview(question)
    assert before.passages[0].slug == "f21224" and before.passages[0].see_also is None
    local = tmp_path / "local"
    local.mkdir()
    (local / "adresse-carte-identite.md").write_text(
        "---\nslug: adresse-carte-identite\ntitle: Changer d'adresse sur sa carte à Villebrune\n"
        "replaces: [f21224]\n---\n"
        "Ce n'est pas obligatoire. Pour le faire, prenez rendez-vous à l'accueil de la "
        "mairie de Villebrune, 1 place de la République.\n",
        encoding="utf-8",
    )
    assert (await kb.import_dir(local, "staff")).ok
    after, ranked = await kb.preview(question)
    top = after.passages[0]
    assert top.slug == "adresse-carte-identite"
    assert "f21224" not in [r.slug for r in ranked]
    assert top.see_also is not None and top.see_also.slug == "f21224"
    assert top.see_also.url == "https://www.service-public.fr/particuliers/vosdroits/F21224"


def test_a_see_also_link_survives_the_way_from_rasa_to_the_widget() -> None:
    from bot.conversation.messages import from_rasa

    custom = {
        "text": "Changer d'adresse sur sa carte à Villebrune",
        "sources": [
            {"title": "Changer d'adresse", "url": "https://villebrune.example/a"},
            {"title": "Doit-on modifier…", "url": "https://sp.example/F21224", "see_also": True},
        ],
    }
    message = from_rasa({"custom": custom})
    assert message is not None
    assert [s.see_also for s in message.sources] == [False, True]
    assert message.to_data()["sources"] == custom["sources"]
