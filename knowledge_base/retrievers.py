"""langchain retrievers over the index: lexical, dense, and their fusion.

Each returns one Document per article (page_content = title), best first, with
the evidence in metadata, so answering code and evaluation read one shape.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from knowledge_base.index import SearchIndex

CANDIDATES = 30
# Reciprocal-rank fusion constant (Cormack et al. 2009): robust without tuning.
RRF_K = 60


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
        for slug, score in ranked:
            article = self.index.article(slug)
            if article is not None:
                docs.append(
                    Document(
                        page_content=article.title,
                        metadata={
                            "slug": slug,
                            "bm25": score,
                            "bm25_norm": score / ideal if ideal else 0.0,
                        },
                    )
                )
        return docs


class DenseRetriever(BaseRetriever):
    """e5 embeddings in Chroma; an article scores its best vector (head or section)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    index: SearchIndex
    k: int = CANDIDATES

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        docs = []
        for slug, chunk, cosine in self.index.dense_search(query, self.k):
            article = self.index.article(slug)
            if article is not None:
                docs.append(
                    Document(
                        page_content=article.title,
                        metadata={"slug": slug, "cosine": cosine, "chunk": chunk},
                    )
                )
        return docs


class HybridRetriever(BaseRetriever):
    """Reciprocal-rank fusion of the lexical and dense rankings."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    lexical: LexicalRetriever
    dense: DenseRetriever
    k: int = 10

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        fused: dict[str, dict[str, Any]] = {}
        for name, retriever in (("lexical", self.lexical), ("dense", self.dense)):
            docs = retriever.invoke(query, config={"callbacks": run_manager.get_child()})
            for rank, doc in enumerate(docs):
                entry = fused.setdefault(
                    doc.metadata["slug"], {"title": doc.page_content, "rrf": 0.0}
                )
                entry["rrf"] += 1.0 / (RRF_K + rank + 1)
                entry[f"{name}_rank"] = rank + 1
                entry.update({k: v for k, v in doc.metadata.items() if k != "slug"})
        ranked = sorted(fused.items(), key=lambda kv: kv[1]["rrf"], reverse=True)[: self.k]
        return [
            Document(page_content=entry.pop("title"), metadata={"slug": slug, **entry})
            for slug, entry in ranked
        ]


def hybrid_retriever(index: SearchIndex, k: int = 10) -> HybridRetriever:
    return HybridRetriever(
        lexical=LexicalRetriever(index=index), dense=DenseRetriever(index=index), k=k
    )
