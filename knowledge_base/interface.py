"""What the dialogue needs from the knowledge base, independent of how it searches."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class Confidence(StrEnum):
    ANSWER = "answer"  # one article clearly answers: show its passage
    AMBIGUOUS = "ambiguous"  # several candidates: ask which one was meant
    NOT_FOUND = "not_found"  # nothing relevant: say so, offer a human


@dataclass(frozen=True)
class CaseChoice:
    label: str  # "Pour un mineur"
    ref: str  # what passage_of() takes to answer that case: "slug#section"


@dataclass(frozen=True)
class Related:
    slug: str
    title: str
    url: str


@dataclass(frozen=True)
class Passage:
    slug: str
    title: str
    text: str
    url: str
    updated: str | None
    score: float
    # When the answer depends on the citizen's situation: the cases to choose from.
    choices: tuple[CaseChoice, ...] = ()
    # The national fiche on the same topic, set aside for this town's own article.
    see_also: Related | None = None


@dataclass(frozen=True)
class KnowledgeAnswer:
    confidence: Confidence
    passages: list[Passage] = field(default_factory=list)
    # Id of the logged question, for the citizen's "useful / not useful" feedback.
    query_id: int | None = None


class KnowledgeSearch(Protocol):
    async def answer(
        self, question: str, *, voice: bool = False, channel: str | None = None
    ) -> KnowledgeAnswer:
        """Best passages for a citizen's question, with how sure the match is."""
        ...

    async def passage_of(
        self, slug: str, *, voice: bool = False, question: str = ""
    ) -> Passage | None:
        """The answer of one article, when the citizen picked it among suggestions (the
        part matching `question`, the words that led to the suggestions, if given)."""
        ...
