"""From ranked articles to what the citizen reads: confidence and passage.

Extractive only: the passage is staff-written text, cut at sentence
boundaries, never rewritten.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from knowledge_base.chunking import Chunk
from knowledge_base.interface import Confidence
from knowledge_base.text import STOP_WORDS, stem_all, words

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[«\"(A-ZÀ-ÖØ-Ý0-9])")
_URL = re.compile(r"\(?\bhttps?://\S+\)?|\bwww\.\S+")


@dataclass(frozen=True)
class Thresholds:
    """When to answer, suggest, or say "not found".

    Chosen by a coarse grid search on tests/data/kb_dev.jsonl (most right
    answers with at most 8 % false answers on uncovered questions and 5 % wrong
    answers), then checked on the service-public benchmark; figures in
    docs/benchmarks.md. Cosines are those of multilingual-e5-small: another
    embedding model needs new values.
    """

    # The best article's fused score (cosine + weighted BM25) must reach this...
    min_score: float = 0.88
    # ...and be clearly ahead of the second to be given as the answer;
    # otherwise the citizen chooses among the first three.
    answer_margin: float = 0.04


def decide(ranked: list[dict[str, Any]], t: Thresholds) -> Confidence:
    """ranked: metadata of the fused documents (cosine, score...), best first."""
    if not ranked or float(ranked[0].get("score", 0.0)) < t.min_score:
        return Confidence.NOT_FOUND
    second = float(ranked[1]["score"]) if len(ranked) > 1 else 0.0
    if float(ranked[0]["score"]) - second >= t.answer_margin:
        return Confidence.ANSWER
    return Confidence.AMBIGUOUS


def _units(text: str) -> list[str]:
    """Sentences, treating each line (list item) as its own unit."""
    units: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if line:
            units += [s.strip() for s in _SENTENCE_END.split(line) if s.strip()]
    return units


def best_chunk(chunks: tuple[Chunk, ...], question: str, dense_chunk: int | None) -> Chunk | None:
    """The section that answers: most question stems in it, then the dense match, then the lead."""
    if not chunks:
        return None
    wanted = set(stem_all(w for w in words(question) if w not in STOP_WORDS and len(w) > 2))

    def overlap(chunk: Chunk) -> tuple[int, int]:
        in_section = len(wanted & set(stem_all(words(f"{chunk.heading} {chunk.text}"))))
        # Headings like "Pièces à fournir" or "Mot de passe oublié" decide when the
        # question names them and several sections mention the same words.
        in_heading = len(wanted & set(stem_all(words(chunk.heading))))
        return in_section, in_heading

    scores = [overlap(c) for c in chunks]
    top = max(scores)
    if top[0] >= 2 and scores.count(top) == 1:
        return chunks[scores.index(top)]
    if dense_chunk is not None and 0 <= dense_chunk < len(chunks):
        return chunks[dense_chunk]
    return chunks[0]


def passage(chunk: Chunk | None, *, voice: bool) -> str:
    if chunk is None:
        return ""
    units = _units(chunk.text)
    if voice:
        spoken = []
        for unit in units:
            unit = _URL.sub("", unit).strip(" :;-")
            if unit:
                spoken.append(unit if len(unit) <= 220 else unit[:220].rsplit(" ", 1)[0] + "…")
            if len(spoken) == 2:
                break
        return " ".join(spoken)
    text = "\n".join(units[:3])
    if chunk.heading and len(units) > 0:
        text = f"{chunk.heading} : {text}" if chunk.index > 0 else text
    return text
