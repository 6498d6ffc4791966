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

import chromadb
from chromadb.config import Settings as ChromaSettings
from langchain_chroma import Chroma

from knowledge_base.articles import Article
from knowledge_base.chunking import Chunk, split_sections
from knowledge_base.embeddings import E5Embeddings
from knowledge_base.lexical import BM25Index
from knowledge_base.text import Lexicon, analyse

log = logging.getLogger(__name__)

COLLECTION = "articles"
# Words of a section embedded with its title and heading: e5 small is most
# accurate on short passages, and embedding cost grows faster than linearly.
SECTION_WORDS = 48


@dataclass(frozen=True)
class IndexedArticle:
    slug: str
    title: str
    url: str
    updated: str | None
    version: int
    chunks: tuple[Chunk, ...]


def head_text(article: Article) -> str:
    """What the article is about, as staff described it: title, synonyms, life events."""
    parts = [article.title, ", ".join(article.synonyms), ", ".join(article.life_events)]
    return ". ".join(p for p in parts if p)


def dense_texts(article: Article, chunks: list[Chunk]) -> list[str]:
    texts = [head_text(article)]
    for chunk in chunks:
        words = " ".join(chunk.text.split()[:SECTION_WORDS])
        texts.append(
            f"{article.title} — {chunk.heading}. {words}"
            if chunk.heading
            else f"{article.title}. {words}"
        )
    return texts


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
    def __init__(self, chroma_dir: Path, embeddings: E5Embeddings, lexicon: Lexicon) -> None:
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
        # Searches run in worker threads while edits update the index.
        self._lock = threading.RLock()

    # --- reading ---
    def __len__(self) -> int:
        return len(self._articles)

    def article(self, slug: str) -> IndexedArticle | None:
        return self._articles.get(slug)

    @property
    def lexicon(self) -> Lexicon:
        return self._lexicon

    def lexical_search(self, query: str, limit: int) -> tuple[list[tuple[str, float]], float]:
        """Ranked (slug, score) and the score an ideal match would get."""
        tokens = analyse(query, self._lexicon)
        with self._lock:
            return self.lexical.search(tokens, limit), self.lexical.max_score(tokens)

    def dense_search(self, query: str, limit: int) -> list[tuple[str, int, float]]:
        """Ranked (slug, chunk index or -1 for the head, cosine similarity), best per article."""
        if not self._articles:
            return []
        vector = self.embeddings.embed_query(query)
        results = self.vectors.similarity_search_by_vector_with_relevance_scores(
            vector, k=min(limit * 4, max(1, self.vectors._collection.count()))
        )
        best: dict[str, tuple[int, float]] = {}
        for doc, distance in results:
            slug = doc.metadata["slug"]
            cosine = 1.0 - float(distance)
            if slug not in best or cosine > best[slug][1]:
                best[slug] = (int(doc.metadata["chunk"]), cosine)
        ranked = sorted(best.items(), key=lambda kv: kv[1][1], reverse=True)[:limit]
        return [(slug, chunk, cos) for slug, (chunk, cos) in ranked]

    # --- writing ---
    def upsert(self, article: Article) -> None:
        """Index a published article (replacing its chunks), or drop an unpublished one."""
        if not article.published:
            self.remove(article.slug)
            return
        chunks = split_sections(article)
        texts = dense_texts(article, chunks)
        vectors = self.embeddings.embed_documents(texts)  # the slow part, outside the lock
        ids = [f"{article.slug}#{i - 1}" for i in range(len(texts))]
        metadatas: list[dict[str, str | int]] = [
            {"slug": article.slug, "chunk": i - 1, "version": article.version}
            for i in range(len(texts))
        ]
        with self._lock:
            self.vectors._collection.delete(where={"slug": article.slug})
            self.vectors._collection.upsert(
                ids=ids,
                embeddings=vectors,  # type: ignore[arg-type]
                documents=texts,
                metadatas=metadatas,  # type: ignore[arg-type]
            )
            self._register(article, chunks)

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
        )

    def remove(self, slug: str) -> None:
        with self._lock:
            self.vectors._collection.delete(where={"slug": slug})
            self.lexical.remove(slug)
            self._articles.pop(slug, None)
            self._sources.pop(slug, None)

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
                self.vectors._collection.delete(where={"slug": {"$in": stale}})  # type: ignore[dict-item]
        embedded = 0
        for slug, article in wanted.items():
            chunks = split_sections(article)
            if versions.get(slug) == {article.version} and counts.get(slug) == len(chunks) + 1:
                with self._lock:
                    self._register(article, chunks)
            else:
                self.upsert(article)
                embedded += 1
        with self._lock:
            for slug in [s for s in self._articles if s not in wanted]:
                self.lexical.remove(slug)
                self._articles.pop(slug, None)
                self._sources.pop(slug, None)
        if embedded or stale:
            log.info("index reconciled: %d embedded, %d removed", embedded, len(stale))
        return embedded
