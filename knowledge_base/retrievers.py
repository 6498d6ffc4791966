"""langchain retrievers over the index: lexical, dense, and their fusion.

Each returns one Document per article (page_content = title), best first, with
the evidence in metadata, so answering code and evaluation read one shape.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableConfig
from pydantic import ConfigDict

from knowledge_base.index import SearchIndex

CANDIDATES = 30
# Fused score = cosine + LEXICAL_WEIGHT x (BM25 / ideal BM25). Score fusion beat
# reciprocal-rank fusion on both evaluation sets (demo r@1 0.861 vs 0.843,
# service-public 0.886-0.895 vs 0.810); 0.05 sits in the range good for both.
LEXICAL_WEIGHT = 0.05


class LexicalRetriever(BaseRetriever):
    """BM25 with French analysis and the staff-edited lexicon."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    index: SearchIndex
    k: int = CANDIDATES

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        ranked, ideal = self.index.lexical_search(query, self.k)
        docs = []
        for rank, (slug, score) in enumerate(ranked, 1):
            article = self.index.article(slug)
            if article is not None:
                norm = score / ideal if ideal else 0.0
                docs.append(
                    Document(
                        page_content=article.title,
                        metadata={"slug": slug, "bm25_norm": norm, "lexical_rank": rank},
                    )
                )
        return docs


class DenseRetriever(BaseRetriever):
    """e5 embeddings in Chroma, one vector per article.

    `also` lists slugs whose cosine is wanted even outside the top k, so that
    the hybrid retriever can score lexical candidates too."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    index: SearchIndex
    k: int = CANDIDATES
    also: tuple[str, ...] = ()

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        docs = []
        for rank, (slug, cosine) in enumerate(self.index.dense_search(query, self.k, self.also), 1):
            article = self.index.article(slug)
            if article is not None:
                meta: dict[str, Any] = {"slug": slug, "cosine": cosine}
                if rank <= self.k:
                    meta["dense_rank"] = rank
                docs.append(Document(page_content=article.title, metadata=meta))
        return docs


class HybridRetriever(BaseRetriever):
    """Lexical candidates and dense candidates, scored on both kinds of evidence."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    lexical: LexicalRetriever
    dense: DenseRetriever
    k: int = 10
    lexical_weight: float = LEXICAL_WEIGHT

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        callbacks = RunnableConfig(callbacks=run_manager.get_child())
        fused: dict[str, dict[str, Any]] = {}
        lexical_docs = self.lexical.invoke(query, config=callbacks)
        dense = self.dense.model_copy(
            update={"also": tuple(d.metadata["slug"] for d in lexical_docs)}
        )
        for doc in [*lexical_docs, *dense.invoke(query, config=callbacks)]:
            entry = fused.setdefault(doc.metadata["slug"], {"title": doc.page_content})
            entry.update({k: v for k, v in doc.metadata.items() if k != "slug"})
        for entry in fused.values():
            entry["score"] = entry.get("cosine", 0.0) + self.lexical_weight * entry.get(
                "bm25_norm", 0.0
            )
        ranked = sorted(fused.items(), key=lambda kv: kv[1]["score"], reverse=True)[: self.k]
        return [
            Document(page_content=entry.pop("title"), metadata={"slug": slug, **entry})
            for slug, entry in ranked
        ]


def hybrid_retriever(index: SearchIndex, k: int = 10) -> HybridRetriever:
    return HybridRetriever(
        lexical=LexicalRetriever(index=index), dense=DenseRetriever(index=index), k=k
    )
