"""The knowledge base with its real parts: SQLite, Chroma, the e5 model."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from chromadb.api.client import SharedSystemClient

from bot.core.db import create_engine
from bot.schema import create_schema
from knowledge_base.articles import Status, article_from_fields
from knowledge_base.interface import Confidence
from knowledge_base.logbook import kb_queries
from knowledge_base.markdown_io import read_article_file
from knowledge_base.service import KnowledgeBase
from knowledge_base.store import VersionConflict

DEMO = Path(__file__).resolve().parents[2] / "knowledge_base" / "demo"
SAMPLE = [
    "carte-identite-demande",
    "dechets-encombrants",
    "cantine-scolaire",
    "mariage-dossier",
    "recensement-citoyen",
    "urbanisme-declaration-prealable",
    "mediatheque",
]


async def open_kb(data_dir: Path) -> KnowledgeBase:
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite+aiosqlite:///{data_dir / 'guichet.db'}")
    await create_schema(engine)
    kb = KnowledgeBase(engine, data_dir)
    await kb.start()
    return kb


@pytest.fixture
async def kb(tmp_path: Path) -> AsyncIterator[KnowledgeBase]:
    source = tmp_path / "articles"
    source.mkdir()
    for slug in SAMPLE:
        shutil.copy(DEMO / f"{slug}.md", source)
    base = await open_kb(tmp_path / "data")
    report = await base.import_dir(source, "test")
    assert report.ok and sorted(report.created) == sorted(SAMPLE)
    yield base
    await base.engine.dispose()


async def test_questions_find_their_article(kb: KnowledgeBase) -> None:
    for question, slug in [
        ("je dois refaire ma CNI", "carte-identite-demande"),
        ("ou jeter un vieux canape", "dechets-encombrants"),
        ("mon fils a 16 ans quelles démarches", "recensement-citoyen"),
    ]:
        ranked = await kb.rank(question)
        assert ranked[0].slug == slug, (question, [r.slug for r in ranked[:3]])
    answer = await kb.answer("comment refaire ma carte d'identité")
    assert answer.confidence is Confidence.ANSWER
    assert answer.passages[0].url and answer.passages[0].text
    assert answer.query_id is not None


async def test_import_is_idempotent_and_bad_files_do_not_block(
    kb: KnowledgeBase, tmp_path: Path
) -> None:
    source = tmp_path / "articles"
    (source / "zz-broken.md").write_text("---\nslug: Bad Slug\ntitle: x\n---\ntext")
    (source / "zz-binary.md").write_bytes(b"\xff\xfe\x00garbage")
    (source / "zz-duplicate.md").write_text((source / "mediatheque.md").read_text())
    report = await kb.import_dir(source, "test")
    assert report.created == [] and report.updated == []
    assert sorted(report.unchanged) == sorted(SAMPLE)
    reasons = dict(report.errors)
    assert "'slug'" in reasons["zz-broken.md"]
    assert "UTF-8" in reasons["zz-binary.md"]
    assert "also used by" in reasons["zz-duplicate.md"]
    assert len(await kb.store.all()) == len(SAMPLE)


async def test_edit_is_searchable_when_save_returns(kb: KnowledgeBase) -> None:
    article = await kb.store.get("mediatheque")
    assert article is not None
    marker = "Le bibliobus zorglub passe le jeudi dans les hameaux."
    edited = article_from_fields(
        {"slug": article.slug, "title": article.title, "status": "published", "url": article.url},
        article.body + "\n\n## Bibliobus\n" + marker,
    )
    saved = await kb.save(edited, "editor@example.fr", article.version)
    assert saved.version == article.version + 1
    ranked = await kb.rank("bibliobus zorglub")
    assert ranked[0].slug == "mediatheque"
    # The passage shown is the section that answers, with the new text.
    preview, ranked = await kb.preview(
        "le bibliobus de la médiathèque passe quand dans les hameaux ?"
    )
    assert ranked[0].slug == "mediatheque"
    assert preview.confidence is not Confidence.NOT_FOUND, ranked[0].evidence
    assert "zorglub" in preview.passages[0].text


async def test_second_editor_gets_a_conflict_and_nothing_is_lost(kb: KnowledgeBase) -> None:
    original = await kb.store.get("cantine-scolaire")
    assert original is not None
    first = article_from_fields({"slug": original.slug, "title": "Cantine : version A"}, "Texte A")
    second = article_from_fields({"slug": original.slug, "title": "Cantine : version B"}, "Texte B")
    await kb.save(first, "a@example.fr", original.version)
    with pytest.raises(VersionConflict) as conflict:
        await kb.save(second, "b@example.fr", original.version)
    assert conflict.value.current.title == "Cantine : version A"
    stored = await kb.store.get("cantine-scolaire")
    assert stored is not None and stored.body == "Texte A"
    history = await kb.store.history("cantine-scolaire")
    assert [v.author for v in history[:2]] == ["a@example.fr", "test"]


async def test_unpublishing_and_revert(kb: KnowledgeBase) -> None:
    article = await kb.store.get("mariage-dossier")
    assert article is not None
    draft = article_from_fields(
        {"slug": article.slug, "title": article.title, "status": "draft"}, article.body
    )
    saved = await kb.save(draft, "editor@example.fr", article.version)
    assert "mariage-dossier" not in [r.slug for r in await kb.rank("se marier à la mairie")]
    reverted = await kb.revert(
        "mariage-dossier", article.version, "editor@example.fr", saved.version
    )
    assert reverted.status is Status.PUBLISHED and reverted.version == saved.version + 1
    assert (await kb.rank("se marier à la mairie"))[0].slug == "mariage-dossier"


async def test_index_is_rebuilt_when_missing_and_follows_other_processes(
    kb: KnowledgeBase, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    await kb.engine.dispose()
    shutil.rmtree(data_dir / "chroma")
    # Chroma keeps one client per path per process; a restart starts without it.
    SharedSystemClient.clear_system_cache()
    again = await open_kb(data_dir)  # start-up reconciles: every vector embedded again
    assert (await again.rank("ou jeter un vieux canape"))[0].slug == "dechets-encombrants"
    # Another process (the import CLI) writes to the same database.
    other = await open_kb(data_dir)
    new = read_article_file(DEMO / "piscine-municipale.md")
    await other.store.upsert(new, "cli")
    assert await again.sync() == 1
    assert (await again.rank("horaires de la piscine"))[0].slug == "piscine-municipale"
    await asyncio.gather(again.engine.dispose(), other.engine.dispose())


async def test_would_answer_logs_nothing_and_its_ranking_serves_the_answer(
    kb: KnowledgeBase,
) -> None:
    question = "comment refaire ma carte d'identité"
    assert await kb.would_answer(question) == "answer"
    assert await kb.would_answer("zzz qwx") == "not_found"
    async with kb.engine.connect() as conn:
        logged = (await conn.execute(sa.select(sa.func.count()).select_from(kb_queries))).scalar()
    assert logged == 0  # a probe is not a citizen's question
    calls = 0
    retriever = kb._retriever
    assert retriever is not None
    real_invoke = retriever.invoke

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return real_invoke(*args, **kwargs)

    object.__setattr__(retriever, "invoke", counting)
    answer = await kb.answer(question)
    assert answer.confidence is Confidence.ANSWER and calls == 0  # the probe's ranking
    # An edit forgets the kept rankings: the next search sees the new text.
    article = await kb.store.get(answer.passages[0].slug)
    assert article is not None
    await kb.save(
        dataclasses.replace(article, body=article.body + "\n\nMise à jour."),
        "test",
        article.version,
    )
    await kb.answer(question)
    assert calls == 1


async def test_life_events_follow_edits_of_the_articles(kb: KnowledgeBase) -> None:
    events = await kb.life_events(None)
    assert "je range mon grenier" not in events.tags()
    article = await kb.store.get(SAMPLE[0])
    assert article is not None
    await kb.save(
        dataclasses.replace(article, life_events=("je range mon grenier",)),
        "test",
        article.version,
    )
    # The same object, rebuilt in place: the reader and the action both see it.
    assert events.articles("je range mon grenier") == [SAMPLE[0]]
