"""The knowledge base as the rest of the app sees it.

Writes go to the database first, then to the index, in the same call, so an
edit is searchable as soon as `save` returns. A background loop also follows
the database's revision, so changes made by another process (the import CLI,
another app instance) reach this process's index within a second or two.

Why one module of this size: `KnowledgeBase` is the one writer of this process's
index. Edits, imports (a folder, or a `Source`: knowledge_base/sources/), life-event
renames and the lexicon all go through its write lock, move the revision the follow
loop tracks, clear the recent rankings and refresh the life events it keeps up to
date; reading uses the same index and cache. What needs none of that state lives
apart: answering.py (the decisions), store.py, index.py, life_events.py, sources/.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.observability import metrics
from knowledge_base.answering import (
    Thresholds,
    best_chunk,
    case_choices,
    decide,
    passage,
    split_ref,
)
from knowledge_base.articles import Article, ArticleError, Status
from knowledge_base.chunking import Chunk
from knowledge_base.embeddings import E5Embeddings
from knowledge_base.event_store import LifeEventStore
from knowledge_base.index import BATCH, SearchIndex
from knowledge_base.interface import (
    CaseChoice,
    Confidence,
    KnowledgeAnswer,
    Passage,
    Related,
)
from knowledge_base.life_events import EventSettings, LifeEvents
from knowledge_base.local_first import local_first
from knowledge_base.logbook import LexiconStore, QueryLog
from knowledge_base.markdown_io import read_article_file, to_markdown
from knowledge_base.retrievers import HybridRetriever, hybrid_retriever
from knowledge_base.sources import HIDDEN_FIELD, Source, source_of, with_hidden
from knowledge_base.sources.service_public import NAME as NATIONAL_SOURCE
from knowledge_base.store import ArticleStore, VersionConflict
from knowledge_base.text import Lexicon, retrieval_text

log = logging.getLogger(__name__)

DEFAULT_LEXICON = Path(__file__).with_name("lexicon_fr.yml")
# Tries of a rename or merge of a life event that met an article being edited.
MOVE_ATTEMPTS = 3
# Rankings kept for the answer that follows a probe in the same turn.
RECENT_RANKINGS = 128
RECENT_TTL_S = 30.0


def default_lexicon_groups() -> list[list[str]]:
    data = yaml.safe_load(DEFAULT_LEXICON.read_text(encoding="utf-8"))
    return [[str(e) for e in g] for g in data["groups"]]


def write_articles(directory: Path, articles: list[Article]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for article in articles:
        target = directory / f"{article.slug}.md"
        tmp = target.with_suffix(".md.tmp")
        tmp.write_text(to_markdown(article), encoding="utf-8")
        tmp.replace(target)  # a reader never sees a half-written file


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    # Sources only (import_source): gone from the source, and files that are not articles.
    archived: list[str] = field(default_factory=list)
    skipped: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


class LifeEventNotFound(KeyError):
    """No article carries this life event."""


def retag(tags: tuple[str, ...], source: str, target: str) -> tuple[str, ...]:
    """`tags` with `source` renamed `target`, in place, and never twice."""
    out: list[str] = []
    for tag in tags:
        new = target if tag == source else tag
        if new not in out:
            out.append(new)
    return tuple(out)


def _unique(names: list[str], without: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(n for n in names if n != without))


@dataclass(frozen=True)
class RankedArticle:
    slug: str
    title: str
    score: float
    evidence: dict[str, Any]


def evidence_of(ranked: list[RankedArticle]) -> list[dict[str, Any]]:
    """What the answer rule reads of a ranking: each article's evidence and title."""
    return [{**r.evidence, "title": r.title} for r in ranked]


class KnowledgeBase:
    def __init__(
        self,
        engine: AsyncEngine,
        data_dir: Path,
        thresholds: Thresholds | None = None,
        *,
        chroma_url: str = "",
    ) -> None:
        self.engine = engine
        self.store = ArticleStore(engine)
        self.queries = QueryLog(engine)
        self._lexicon_store = LexiconStore()
        self._chroma_dir = data_dir / "chroma"
        # A `chroma run` server shared by app instances instead of the directory.
        self._chroma_url = chroma_url
        self.thresholds = thresholds or Thresholds()
        self._index: SearchIndex | None = None
        self._retriever: HybridRetriever | None = None
        self._revision = 0
        # One writer at a time to the index; searches do not wait for it.
        self._write_lock = asyncio.Lock()
        # Rankings of the last questions: the conversation layer asks whether the base
        # would answer, then the knowledge action asks for the answer, in one turn.
        self._recent: OrderedDict[str, tuple[float, list[RankedArticle]]] = OrderedDict()
        # The life events handed out by life_events(), with their aliases' folder,
        # and staff's settings they were built with.
        self._life_events: tuple[LifeEvents, Path | None] | None = None
        self.life_event_settings = LifeEventStore(engine)
        self._event_settings: dict[str, EventSettings] = {}

    # --- life cycle ---
    async def start(self) -> None:
        groups = await self._lexicon_store.load(self.engine)
        if not groups:
            groups = default_lexicon_groups()
            await self._lexicon_store.replace(self.engine, groups)
        lexicon = Lexicon(tuple(tuple(g) for g in groups))
        self._index = await asyncio.to_thread(
            SearchIndex, self._chroma_dir, E5Embeddings(), lexicon, self._chroma_url
        )
        self._retriever = hybrid_retriever(self._index)
        await self.sync(full=True)
        # Load the query model now rather than during a citizen's first question.
        await asyncio.to_thread(self._index.embeddings.embed_query, "bonjour")

    @property
    def index(self) -> SearchIndex:
        if self._index is None:
            raise RuntimeError("KnowledgeBase.start() was not awaited")
        return self._index

    async def sync(self, full: bool = False) -> int:
        """Apply database changes to the index; returns how many articles changed."""
        async with self._write_lock:
            if full:
                revision = await self.store.revision()
                published = await self.store.all(Status.PUBLISHED)
                await asyncio.to_thread(self.index.reconcile, published)
                self._revision = revision
                self._recent.clear()
                return len(published)
            revision, changed = await self.store.changed_since(self._revision)
            for start in range(0, len(changed), BATCH):
                await asyncio.to_thread(self.index.upsert_many, changed[start : start + BATCH])
            if changed:
                self._recent.clear()
            self._revision = revision
            return len(changed)

    async def follow(self, interval_s: float = 1.0) -> None:
        """Keep following changes made by other processes until cancelled."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                changed = await self.sync()
                if changed or await self._life_event_settings_changed():
                    await self._refresh_life_events()
                await self._follow_lexicon()
            except Exception:
                log.exception("knowledge base sync failed; retrying")

    async def _follow_lexicon(self) -> None:
        """The synonym lexicon edited through another app instance (or the CLI)."""
        groups = await self._lexicon_store.load(self.engine)
        lexicon = Lexicon(tuple(tuple(g) for g in groups))
        if lexicon != self.index.lexicon:
            async with self._write_lock:
                await asyncio.to_thread(self.index.set_lexicon, lexicon)
                self._recent.clear()

    # --- writing ---
    async def save(
        self, article: Article, author: str, expected_version: int, summary: str = ""
    ) -> Article:
        saved = await self.store.save(article, author, expected_version, summary)
        await self._after_write(saved)
        return saved

    async def revert(self, slug: str, version: int, author: str, expected_version: int) -> Article:
        saved = await self.store.revert(slug, version, author, expected_version)
        await self._after_write(saved)
        return saved

    async def _after_write(self, saved: Article) -> None:
        await self._index_many([saved])
        await self._refresh_life_events()

    async def _index_many(self, articles: list[Article]) -> None:
        if articles:
            async with self._write_lock:
                await asyncio.to_thread(self.index.upsert_many, articles)
                self._recent.clear()

    async def set_lexicon(self, groups: list[list[str]]) -> None:
        cleaned = [[e.strip() for e in g if e.strip()] for g in groups]
        cleaned = [g for g in cleaned if len(g) >= 2]
        await self._lexicon_store.replace(self.engine, cleaned)
        lexicon = Lexicon(tuple(tuple(g) for g in cleaned))
        async with self._write_lock:
            await asyncio.to_thread(self.index.set_lexicon, lexicon)
            self._recent.clear()

    async def lexicon_groups(self) -> list[list[str]]:
        return await self._lexicon_store.load(self.engine)

    async def import_dir(
        self,
        directory: Path,
        author: str,
        progress: Callable[[int, int, str], None] | None = None,
    ) -> ImportReport:
        """Idempotent import of a folder of Markdown articles.

        A file that fails to parse or validate is reported with its reason and
        skipped; every article is written in its own transaction, so an error
        never leaves a half-written article nor blocks the others.
        """
        report = ImportReport()
        files = await asyncio.to_thread(
            lambda: sorted(p for p in directory.glob("*.md") if p.is_file())
        )
        seen: dict[str, str] = {}
        pending: list[Article] = []
        for number, path in enumerate(files, 1):
            try:
                article = await asyncio.to_thread(read_article_file, path)
                if article.slug in seen:
                    raise ArticleError(
                        f"slug {article.slug!r} is also used by {seen[article.slug]}"
                    )
                seen[article.slug] = path.name
                outcome, saved = await self.store.upsert(article, author, "import")
                getattr(report, outcome).append(saved.slug)
                if outcome != "unchanged":
                    pending.append(saved)
            except (ArticleError, OSError) as exc:
                report.errors.append((path.name, str(exc)))
            if len(pending) >= BATCH:
                await self._index_many(pending)
                pending = []
            if progress:
                progress(number, len(files), path.name)
        await self._index_many(pending)
        async with self._write_lock:
            self._revision = max(self._revision, await self.store.revision())
        await self._refresh_life_events()
        return report

    async def import_source(
        self,
        source: Source,
        author: str,
        progress: Callable[[int, int, str], None] | None = None,
        *,
        archive_missing: bool = True,
    ) -> ImportReport:
        """Idempotent import of a whole external source (Service-Public.fr...).

        The guarantees of `import_dir`, plus: an article of this source that is no
        longer in it is archived (never deleted), unless its file failed this time
        or the source gave no article at all (an empty or truncated download). A
        staff article with the same slug is never overwritten: that file is an error.
        """
        report = ImportReport()
        total = len(source)
        seen: set[str] = set()
        failed: set[str] = set()
        pending: list[Article] = []
        entries = source.entries()
        for number in range(1, total + 1):
            entry = await asyncio.to_thread(next, entries, None)
            if entry is None:
                break
            try:
                if entry.skipped:
                    report.skipped += 1
                elif entry.article is None:
                    raise ArticleError(entry.error or "no article")
                else:
                    article = entry.article
                    if article.slug in seen:
                        raise ArticleError(f"slug {article.slug!r} appears twice in the source")
                    seen.add(article.slug)
                    current = await self.store.get(article.slug)
                    if current is not None and source_of(current) != source.name:
                        raise ArticleError(
                            f"slug {article.slug!r} belongs to an article that is not "
                            f"from {source.name}: left untouched"
                        )
                    if current is not None and current.extra.get(HIDDEN_FIELD):
                        # Staff hid it in /admin: updated, but kept out of the answers.
                        article = replace(with_hidden(article, True), status=Status.ARCHIVED)
                    outcome, saved = await self.store.upsert(article, author, source.name)
                    getattr(report, outcome).append(saved.slug)
                    if outcome != "unchanged":
                        pending.append(saved)
            except (ArticleError, OSError) as exc:
                failed.add(entry.slug)
                report.errors.append((entry.name, str(exc)))
            if len(pending) >= BATCH:
                await self._index_many(pending)
                pending = []
            if progress:
                progress(number, total, entry.name)
        if archive_missing and seen:
            for article in await self.store.all():
                gone = article.slug not in seen and article.slug not in failed
                if gone and source_of(article) == source.name and article.published:
                    archived = replace(article, status=Status.ARCHIVED)
                    try:
                        saved = await self.store.save(
                            archived, author, article.version, f"retiré de {source.name}"
                        )
                    except VersionConflict:  # edited meanwhile: the next import retries
                        report.errors.append((article.slug, "edited during the import"))
                        continue
                    report.archived.append(saved.slug)
                    pending.append(saved)
        await self._index_many(pending)
        async with self._write_lock:
            self._revision = max(self._revision, await self.store.revision())
        return report

    async def export_dir(self, directory: Path) -> int:
        articles = await self.store.all()
        await asyncio.to_thread(write_articles, directory, articles)
        return len(articles)

    async def life_events(self, directory: Path | None = None) -> LifeEvents:
        """The life events of the published articles, with the aliases file of the
        base's `directory` (`_life_events.yml`) when there is one and staff's settings.
        The object returned is kept up to date: rebuilt in place when articles or the
        settings change (here, or through another app instance)."""
        published = await self.store.all(Status.PUBLISHED)
        settings = await self.life_event_settings.load()
        events = await asyncio.to_thread(LifeEvents.from_directory, published, directory, settings)
        self._life_events = (events, directory)
        self._event_settings = settings
        return events

    async def _refresh_life_events(self) -> None:
        if self._life_events is None:
            return
        events, directory = self._life_events
        published = await self.store.all(Status.PUBLISHED)
        settings = await self.life_event_settings.load()
        self._event_settings = settings
        events.replace_with(
            await asyncio.to_thread(LifeEvents.from_directory, published, directory, settings)
        )

    async def _life_event_settings_changed(self) -> bool:
        if self._life_events is None:
            return False
        return await self.life_event_settings.load() != self._event_settings

    def _aliases_dir(self) -> Path | None:
        return self._life_events[1] if self._life_events else None

    async def life_events_overview(self) -> LifeEvents:
        """The events of every article, drafts and archived ones included (what staff
        manage), in the order the bot uses; the bot itself uses the published ones."""
        everything = await self.store.all()
        settings = await self.life_event_settings.load()
        return await asyncio.to_thread(
            lambda: LifeEvents.from_directory(
                everything, self._aliases_dir(), settings, published_only=False
            )
        )

    async def move_life_event(
        self, source: str, target: str, author: str, summary: str
    ) -> list[Article]:
        """Rename the event `source` to `target`, or merge it into `target` when that
        event exists: every article tagged `source` (whatever its status) is saved with
        `target` instead, a new version in its history, and `target` keeps both orders
        (its own first) and `source` as a former name, all in one transaction. An
        article edited meanwhile makes it start again from the articles as they are."""
        if source == target:
            raise ValueError("a life event cannot be moved onto itself")
        conflict: VersionConflict | None = None
        for _ in range(MOVE_ATTEMPTS):
            everything = await self.store.all()
            settings = await self.life_event_settings.load()
            overview = LifeEvents.from_directory(
                everything, self._aliases_dir(), settings, published_only=False
            )
            moved = overview.event(source)
            if moved is None:
                raise LifeEventNotFound(source)
            kept = overview.event(target)
            order = (kept.articles if kept else ()) + moved.articles
            merged = EventSettings(
                order=tuple(dict.fromkeys(order)),
                former=_unique(
                    [
                        *settings.get(target, EventSettings()).former,
                        source,
                        *settings.get(source, EventSettings()).former,
                    ],
                    without=target,
                ),
            )
            changes = [
                (replace(a, life_events=retag(a.life_events, source, target)), a.version)
                for a in everything
                if source in a.life_events
            ]

            # A name is an event or the former name of one, never both: the new name
            # stops being another event's former name.
            others = {
                tag: replace(s, former=tuple(n for n in s.former if n != target))
                for tag, s in settings.items()
                if tag not in (source, target) and target in s.former
            }

            async def also(
                conn: AsyncConnection,
                merged: EventSettings = merged,
                others: dict[str, EventSettings] = others,
            ) -> None:
                await self.life_event_settings.delete_in(conn, source)
                await self.life_event_settings.put_in(conn, target, merged, author)
                for tag, cleaned in others.items():
                    await self.life_event_settings.put_in(conn, tag, cleaned, author)

            try:
                saved = await self.store.save_many(changes, author, summary, also)
            except VersionConflict as exc:
                conflict = exc
                continue
            await self._index_many(saved)
            await self._refresh_life_events()
            return saved
        assert conflict is not None
        raise conflict

    async def set_life_event_order(self, tag: str, slugs: list[str], author: str) -> list[str]:
        """Store the order of the event's articles: `slugs` first (those of the event),
        then its other articles in their current order. Returns the order stored."""
        overview = await self.life_events_overview()
        event = overview.event(tag)
        if event is None:
            raise LifeEventNotFound(tag)
        known = set(event.articles)
        first = list(dict.fromkeys(s for s in slugs if s in known))
        order = first + [s for s in event.articles if s not in first]
        current = (await self.life_event_settings.load()).get(tag, EventSettings())
        await self.life_event_settings.put(tag, replace(current, order=tuple(order)), author)
        await self._refresh_life_events()
        return order

    # --- reading ---
    async def rank(self, question: str, k: int = 10) -> list[RankedArticle]:
        if self._retriever is None:
            raise RuntimeError("KnowledgeBase.start() was not awaited")
        now = time.monotonic()
        cached = self._recent.get(question)
        if cached is not None and now - cached[0] < RECENT_TTL_S:
            return cached[1][:k]
        retriever = self._retriever
        docs = await asyncio.to_thread(retriever.invoke, retrieval_text(question))
        ranked = [
            RankedArticle(
                slug=d.metadata["slug"],
                title=d.page_content,
                score=float(d.metadata["score"]),
                evidence={k: v for k, v in d.metadata.items() if k != "slug"},
            )
            for d in docs
        ]
        ranked = self._local_first(ranked)
        self._recent[question] = (now, ranked)
        self._recent.move_to_end(question)
        while len(self._recent) > RECENT_RANKINGS:
            self._recent.popitem(last=False)
        return ranked[:k]

    def _local_first(self, ranked: list[RankedArticle]) -> list[RankedArticle]:
        """The town's own articles before national fiches on the same topic (see
        knowledge_base/local_first.py); the fiche set aside is named in the first
        article's evidence as `see_also`."""
        index = self.index

        def is_national(slug: str) -> bool:
            article = index.article(slug)
            return article is not None and article.source == NATIONAL_SOURCE

        def promote(fiche: RankedArticle, local: str) -> RankedArticle:
            article = index.article(local)
            return replace(fiche, slug=local, title=article.title if article else fiche.title)

        reordered, aside = local_first(
            ranked, is_national=is_national, replacement=index.replacement, promote=promote
        )
        if aside is not None and reordered:
            first = reordered[0]
            reordered[0] = replace(first, evidence={**first.evidence, "see_also": aside})
        return reordered

    async def would_answer(self, question: str) -> str:
        """What `answer` would decide ("answer", "ambiguous", "not_found"); nothing is
        logged, and the ranking is kept for the answer that may follow."""
        return (await self.verdict(question))[0]

    async def verdict(self, question: str) -> tuple[str, str | None]:
        """`would_answer` and the article it would answer with (None unless "answer")."""
        ranked = await self.rank(question)
        confidence = decide(evidence_of(ranked), self.thresholds, question)
        return confidence.value, ranked[0].slug if confidence is Confidence.ANSWER else None

    async def preview(
        self, question: str, *, voice: bool = False
    ) -> tuple[KnowledgeAnswer, list[RankedArticle]]:
        """What the bot would answer, with the ranking behind it; nothing is logged."""
        ranked = await self.rank(question)
        confidence = decide(evidence_of(ranked), self.thresholds, question)
        passages = [self._passage(r, question, voice) for r in ranked[:3]]
        if confidence is Confidence.NOT_FOUND:
            return KnowledgeAnswer(Confidence.NOT_FOUND), ranked
        if confidence is Confidence.ANSWER:
            return KnowledgeAnswer(Confidence.ANSWER, passages[:1]), ranked
        return KnowledgeAnswer(Confidence.AMBIGUOUS, passages), ranked

    async def answer(
        self, question: str, *, voice: bool = False, channel: str | None = None
    ) -> KnowledgeAnswer:
        started = time.perf_counter()
        preview, ranked = await self.preview(question, voice=voice)
        confidence, passages = preview.confidence, preview.passages
        metrics.kb_search(confidence.value, metrics.since(started))
        top = ranked[0].slug if ranked else None
        query_id = await self.queries.record(question, channel or "unknown", confidence.value, top)
        return KnowledgeAnswer(confidence, passages, query_id)

    async def passage_of(
        self, slug: str, *, voice: bool = False, question: str = ""
    ) -> Passage | None:
        """A given article (when the citizen picked it from a list): the part that answers
        the question that led to the list when there is one, else its lead. `slug` may
        name one section, "slug#3", when the citizen picked a case."""
        slug, section = split_ref(slug)
        article = self.index.article(slug)
        if article is None:
            return None
        if section is not None and 0 <= section < len(article.chunks):
            chunk: Chunk | None = article.chunks[section]
            choices: tuple[CaseChoice, ...] = ()
        else:
            if question and article.chunks:
                chunk = best_chunk(article.chunks, question, None)
            else:
                chunk = article.chunks[0] if article.chunks else None
            choices = case_choices(article.slug, article.chunks, article.cases, chunk)
        return Passage(
            slug=slug,
            title=article.title,
            text=passage(chunk, voice=voice),
            url=article.url,
            updated=article.updated,
            score=1.0,
            choices=choices,
        )

    def _passage(self, ranked: RankedArticle, question: str, voice: bool) -> Passage:
        article = self.index.article(ranked.slug)
        assert article is not None
        chunk = best_chunk(article.chunks, question, None)
        return Passage(
            slug=article.slug,
            title=article.title,
            text=passage(chunk, voice=voice),
            url=article.url,
            updated=article.updated,
            score=ranked.score,
            choices=case_choices(article.slug, article.chunks, article.cases, chunk),
            see_also=self._see_also(ranked.evidence.get("see_also")),
        )

    def _see_also(self, slug: object) -> Related | None:
        article = self.index.article(slug) if isinstance(slug, str) else None
        if article is None:
            return None
        return Related(slug=article.slug, title=article.title, url=article.url)
