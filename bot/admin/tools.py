"""The editors' tools: test a question without recording it, the questions left
without an answer."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from bot.admin.auth import current_session, require_role
from bot.admin.common import EVERYONE, can_edit, html_response
from bot.admin.context import admin_context
from bot.admin.pages import render_page
from knowledge_base.articles import MAX_TITLE
from knowledge_base.service import RankedArticle

MAX_QUESTION_CHARS = 2000


@dataclass(frozen=True)
class PassageView:
    slug: str
    title: str
    text: str
    url: str


@dataclass(frozen=True)
class RankedView:
    slug: str
    title: str
    score: float
    cosine: float | None
    bm25_norm: float | None
    lexical_rank: int | None
    dense_rank: int | None
    # Any other evidence the retriever gives, as (name, value).
    other: Sequence[tuple[str, object]] = ()


@dataclass(frozen=True)
class UnansweredRow:
    question: str
    channel: str
    created_at: datetime
    new_url: str


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# Evidence shown in their own columns; the rest goes to "other".
NAMED_EVIDENCE = {"cosine", "bm25_norm", "lexical_rank", "dense_rank", "score", "rrf", "title"}


def ranked_view(r: RankedArticle) -> RankedView:
    return RankedView(
        slug=r.slug,
        title=r.title,
        score=r.score,
        cosine=_float(r.evidence.get("cosine")),
        bm25_norm=_float(r.evidence.get("bm25_norm")),
        lexical_rank=_int(r.evidence.get("lexical_rank")),
        dense_rank=_int(r.evidence.get("dense_rank")),
        other=[(k, v) for k, v in sorted(r.evidence.items()) if k not in NAMED_EVIDENCE],
    )


@require_role(*EVERYONE)
async def test_question(request: web.Request) -> web.StreamResponse:
    knowledge = admin_context(request).knowledge
    q = " ".join(request.query.get("q", "").split())[:MAX_QUESTION_CHARS]
    confidence: str | None = None
    passages: list[PassageView] = []
    ranked_views: list[RankedView] = []
    if q:
        answer, ranked = await knowledge.preview(q)
        confidence = answer.confidence.value
        passages = [PassageView(p.slug, p.title, p.text, p.url) for p in answer.passages]
        ranked_views = [ranked_view(r) for r in ranked]
    thresholds = knowledge.thresholds
    page = render_page(
        "test.html",
        session=current_session(request),
        title="Tester une question",
        active="test",
        q=q,
        confidence=confidence,
        passages=passages,
        ranked=ranked_views,
        thresholds={f.name: getattr(thresholds, f.name) for f in dataclasses.fields(thresholds)},
    )
    return html_response(page)


@require_role(*EVERYONE)
async def unanswered(request: web.Request) -> web.StreamResponse:
    queries = await admin_context(request).knowledge.queries.unanswered(100)
    rows = [
        UnansweredRow(
            question=q.question,
            channel=q.channel,
            created_at=q.created_at,
            new_url="/admin/articles/new?" + urlencode({"title": q.question[:MAX_TITLE]}),
        )
        for q in queries
    ]
    page = render_page(
        "unanswered.html",
        session=current_session(request),
        title="Questions sans réponse",
        active="unanswered",
        rows=rows,
        can_edit=can_edit(request),
    )
    return html_response(page)
