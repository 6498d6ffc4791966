"""The search index: BM25 in memory and dense vectors in a persistent Chroma collection.

The database is the source of truth. The index follows it article by article
(`upsert`/`remove`) and `reconcile` repairs it at start-up: vectors of
articles whose version changed, or that are missing, are embedded again;
vectors of articles no longer published are deleted.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import chromadb
import numpy as np
from chromadb.api import ClientAPI
from chromadb.config import Settings as ChromaSettings
from langchain_chroma import Chroma

from knowledge_base.articles import Article, cases_of, replaces_of
from knowledge_base.chunking import Chunk, split_sections
from knowledge_base.embeddings import E5Embeddings
from knowledge_base.lexical import BM25Index
from knowledge_base.sources import source_of
from knowledge_base.text import Lexicon, analyse

log = logging.getLogger(__name__)

COLLECTION = "articles"
# One vector per article: its title, staff keywords and opening words. Measured
# on both evaluation sets, a vector per section ranked worse (max-sim favours
# stray sections) and costs ~1 ms per embedded word (docs/architecture.md).
VECTOR_WORDS = 64
# Articles embedded per batch during imports and repairs.
BATCH = 32


@dataclass(frozen=True)
class IndexedArticle:
    slug: str
    title: str
    url: str
    updated: str | None
    version: int
    chunks: tuple[Chunk, ...]
    cases: tuple[str, ...] = ()  # headings of case sections (articles.CASES_FIELD)
    source: str = ""  # where it came from ("service-public"); "" for the town's own
    replaces: tuple[str, ...] = ()  # slugs it replaces (articles.REPLACES_FIELD)


def head_text(article: Article) -> str:
    """What the article is about, as staff described it: title, synonyms, life events."""
    parts = [article.title, ", ".join(article.synonyms), ", ".join(article.life_events)]
    return ". ".join(p for p in parts if p)


def dense_text(article: Article, chunks: list[Chunk]) -> str:
    body = " ".join(c.text for c in chunks)
    words = f"{head_text(article)}. {body}".split()
    return " ".join(words[:VECTOR_WORDS])


def lexical_tokens(article: Article, lexicon: Lexicon) -> list[str]:
    # The title and staff keywords count twice: they say what the article is for.
    head = " ".join(
        [
            article.title,
            article.title,
            " ".join(article.synonyms),
            " ".join(article.life_events),
            " ".join(article.tags),
            article.category,
        ]
    )
    return analyse(head, lexicon) + analyse(article.body, lexicon)


class SearchIndex:
    def __init__(
        self, chroma_dir: Path, embeddings: E5Embeddings, lexicon: Lexicon, chroma_url: str = ""
    ) -> None:
        client: ClientAPI
        if chroma_url:
            # Client/server (`chroma run`): one collection shared by every app instance.
            parts = urlsplit(chroma_url)
            client = chromadb.HttpClient(
                host=parts.hostname or "127.0.0.1",
                port=parts.port or (443 if parts.scheme == "https" else 8000),
                ssl=parts.scheme == "https",
                settings=ChromaSettings(anonymized_telemetry=False),
            )
        else:
            chroma_dir.mkdir(parents=True, exist_ok=True)
            client = chromadb.PersistentClient(
                path=str(chroma_dir), settings=ChromaSettings(anonymized_telemetry=False)
            )
        self.embeddings = embeddings
        self.vectors = Chroma(
            collection_name=COLLECTION,
            embedding_function=embeddings,
            client=client,
            collection_metadata={"hnsw:space": "cosine"},
        )
        self.lexical = BM25Index()
        self._lexicon = lexicon
        self._articles: dict[str, IndexedArticle] = {}
        self._sources: dict[str, Article] = {}
        # Slug of a replaced article -> the published article replacing it; rebuilt
        # on the first read after a write.
        self._replaced_by: dict[str, str] | None = None
        # Searches run in worker threads while edits update the index.
        self._lock = threading.RLock()

    # --- reading ---
    def __len__(self) -> int:
        return len(self._articles)

    def article(self, slug: str) -> IndexedArticle | None:
        return self._articles.get(slug)

    def replacement(self, slug: str) -> str | None:
        """The published article that replaces `slug`, if staff declared one."""
        with self._lock:
            if self._replaced_by is None:
                self._replaced_by = {
                    replaced: a.slug
                    for a in self._articles.values()
                    for replaced in a.replaces
                    if replaced != a.slug
                }
            return self._replaced_by.get(slug)

    @property
    def lexicon(self) -> Lexicon:
        return self._lexicon

    def lexical_search(self, query: str, limit: int) -> tuple[list[tuple[str, float]], float]:
        """Ranked (slug, score) and the score an ideal match would get."""
        tokens = analyse(query, self._lexicon)
        with self._lock:
            return self.lexical.search(tokens, limit), self.lexical.max_score(tokens)

    def dense_search(
        self, query: str, limit: int, also: Iterable[str] = ()
    ) -> list[tuple[str, float]]:
        """Ranked (slug, cosine) from Chroma, then the cosine of each slug of `also`
        that Chroma did not return (another retriever's candidates), so every
        candidate can be scored on both kinds of evidence."""
        if not self._articles:
            return []
        vector = self.embeddings.embed_query(query)
        results = self.vectors.similarity_search_by_vector_with_relevance_scores(
            vector, k=min(limit, len(self._articles))
        )
        ranked = [(str(doc.metadata["slug"]), 1.0 - float(distance)) for doc, distance in results]
        seen = {slug for slug, _ in ranked}
        missing = [s for s in also if s not in seen]
        if missing:
            got = self.vectors._collection.get(ids=missing, include=["embeddings"])
            embeddings = got["embeddings"] if got["embeddings"] is not None else []
            query_vector = np.asarray(vector, dtype=np.float32)
            for slug, emb in zip(got["ids"], embeddings, strict=True):
                cosine = float(np.dot(np.asarray(emb, dtype=np.float32), query_vector))
                ranked.append((slug, cosine))
        return ranked

    # --- writing ---
    def upsert(self, article: Article) -> None:
        """Index a published article (replacing its vector), or drop an unpublished one."""
        self.upsert_many([article])

    def upsert_many(self, articles: list[Article]) -> None:
        """Index several articles with one embedding batch (spread over the workers)."""
        for article in articles:
            if not article.published:
                self.remove(article.slug)
        published = [a for a in articles if a.published]
        if not published:
            return
        # A shared Chroma server may already hold this version, written by another
        # app instance: register it without embedding it again.
        stored = self.vectors._collection.get(
            ids=[a.slug for a in published], include=["metadatas"]
        )
        current = {
            str(meta["slug"]): meta.get("version")
            for meta in stored["metadatas"] or []
            if meta is not None
        }
        fresh = [a for a in published if current.get(a.slug) == a.version]
        if fresh:
            with self._lock:
                for article in fresh:
                    self._register(article, split_sections(article))
        published = [a for a in published if current.get(a.slug) != a.version]
        if not published:
            return
        chunks = [split_sections(a) for a in published]
        texts = [dense_text(a, c) for a, c in zip(published, chunks, strict=True)]
        vectors = self.embeddings.embed_documents(texts)  # the slow part, outside the lock
        with self._lock:
            self.vectors._collection.upsert(
                ids=[a.slug for a in published],
                embeddings=vectors,  # type: ignore[arg-type]
                documents=texts,
                metadatas=[{"slug": a.slug, "version": a.version} for a in published],
            )
            for article, article_chunks in zip(published, chunks, strict=True):
                self._register(article, article_chunks)

    def _register(self, article: Article, chunks: list[Chunk]) -> None:
        self.lexical.add(article.slug, lexical_tokens(article, self._lexicon))
        self._sources[article.slug] = article
        self._articles[article.slug] = IndexedArticle(
            article.slug,
            article.title,
            article.url,
            article.updated,
            article.version,
            tuple(chunks),
            cases_of(article),
            source_of(article),
            replaces_of(article),
        )
        self._replaced_by = None

    def remove(self, slug: str) -> None:
        with self._lock:
            self.vectors._collection.delete(ids=[slug])
            self.lexical.remove(slug)
            self._articles.pop(slug, None)
            self._sources.pop(slug, None)
            self._replaced_by = None

    def set_lexicon(self, lexicon: Lexicon) -> None:
        with self._lock:
            self._lexicon = lexicon
            for article in self._sources.values():
                self.lexical.add(article.slug, lexical_tokens(article, lexicon))

    def reconcile(self, published: Iterable[Article]) -> int:
        """Bring the index in line with the database; returns how many were embedded."""
        wanted = {a.slug: a for a in published if a.published}
        stored = self.vectors._collection.get(include=["metadatas"])
        versions: dict[str, set[int]] = {}
        counts: dict[str, int] = {}
        for meta in stored["metadatas"] or []:
            slug = str(meta["slug"])
            versions.setdefault(slug, set()).add(int(meta["version"]))  # type: ignore[arg-type]
            counts[slug] = counts.get(slug, 0) + 1
        stale = [s for s in versions if s not in wanted]
        if stale:
            with self._lock:
                self.vectors._collection.delete(ids=stale)
        stale_or_missing = []
        for slug, article in wanted.items():
            if versions.get(slug) == {article.version} and counts.get(slug) == 1:
                with self._lock:
                    self._register(article, split_sections(article))
            else:
                stale_or_missing.append(article)
        for start in range(0, len(stale_or_missing), BATCH):
            self.upsert_many(stale_or_missing[start : start + BATCH])
        embedded = len(stale_or_missing)
        with self._lock:
            for slug in [s for s in self._articles if s not in wanted]:
                self.lexical.remove(slug)
                self._articles.pop(slug, None)
                self._sources.pop(slug, None)
            self._replaced_by = None
        if embedded or stale:
            log.info("index reconciled: %d embedded, %d removed", embedded, len(stale))
        return embedded
