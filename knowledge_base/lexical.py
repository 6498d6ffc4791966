"""An in-memory BM25 inverted index that updates one document at a time.

Rebuilt from the database at start-up (a few hundred ms for thousands of
articles), then kept in step with every save, so an edit is searchable at once.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict


class BM25Index:
    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self._postings: dict[str, dict[str, int]] = defaultdict(dict)
        self._lengths: dict[str, int] = {}
        self._terms: dict[str, tuple[str, ...]] = {}
        self._total_length = 0

    def __len__(self) -> int:
        return len(self._lengths)

    def __contains__(self, doc_id: str) -> bool:
        return doc_id in self._lengths

    def add(self, doc_id: str, tokens: list[str]) -> None:
        self.remove(doc_id)
        counts = Counter(tokens)
        for term, tf in counts.items():
            self._postings[term][doc_id] = tf
        self._lengths[doc_id] = len(tokens)
        self._terms[doc_id] = tuple(counts)
        self._total_length += len(tokens)

    def remove(self, doc_id: str) -> None:
        if doc_id not in self._lengths:
            return
        for term in self._terms.pop(doc_id):
            postings = self._postings[term]
            postings.pop(doc_id, None)
            if not postings:
                del self._postings[term]
        self._total_length -= self._lengths.pop(doc_id)

    def idf(self, term: str) -> float:
        n = len(self._lengths)
        df = len(self._postings.get(term, ()))
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def search(self, tokens: list[str], limit: int = 20) -> list[tuple[str, float]]:
        if not self._lengths:
            return []
        avg = self._total_length / len(self._lengths) or 1.0
        scores: dict[str, float] = defaultdict(float)
        for term in set(tokens):
            postings = self._postings.get(term)
            if not postings:
                continue
            idf = self.idf(term)
            for doc_id, tf in postings.items():
                norm = self.k1 * (1 - self.b + self.b * self._lengths[doc_id] / avg)
                scores[doc_id] += idf * tf * (self.k1 + 1) / (tf + norm)
        return sorted(scores.items(), key=lambda kv: kv[1], reverse=True)[:limit]

    def max_score(self, tokens: list[str]) -> float:
        """Score of an ideal document holding every query term once: for normalising."""
        return sum(self.idf(t) for t in set(tokens) if t in self._postings)
