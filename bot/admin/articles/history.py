"""An article's versions: what changed in each, and going back to one."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web

from bot.admin.articles.handlers import article_not_found
from bot.admin.auth import current_session, require_role
from bot.admin.common import (
    EDITORS,
    EVERYONE,
    PageError,
    can_edit,
    flash_message,
    form_int,
    html_response,
    redirect,
)
from bot.admin.context import admin_context
from bot.admin.diff import diff_html
from bot.admin.pages import render_page
from knowledge_base.markdown_io import to_markdown
from knowledge_base.store import ArticleNotFound, VersionConflict

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VersionRow:
    version: int
    author: str
    summary: str
    created_at: datetime
    status: str


@require_role(*EVERYONE)
async def article_history(request: web.Request) -> web.StreamResponse:
    ctx = admin_context(request)
    slug = request.match_info["slug"]
    article = await ctx.knowledge.store.get(slug)
    if article is None:
        raise article_not_found(slug)
    versions = await ctx.knowledge.store.history(slug)
    by_number = {v.version: v for v in versions}
    wanted = request.query.get("version", "")
    shown = int(wanted) if wanted.isdigit() and int(wanted) in by_number else versions[0].version
    previous = by_number.get(shown - 1)
    diff = diff_html(
        to_markdown(previous.article) if previous else "",
        to_markdown(by_number[shown].article),
        label=f"Changements de la version {shown}",
    )
    page = render_page(
        "history.html",
        session=current_session(request),
        title=f"Historique de {slug}",
        active="articles",
        flash=flash_message(request),
        slug=slug,
        article_title=article.title,
        current=article.version,
        rows=[
            VersionRow(v.version, v.author, v.summary, v.created_at, v.article.status.value)
            for v in versions
        ],
        shown=shown,
        diff=diff,
        can_edit=can_edit(request),
    )
    return html_response(page)


@require_role(*EDITORS)
async def article_revert(request: web.Request) -> web.StreamResponse:
    ctx = admin_context(request)
    session = current_session(request)
    slug = request.match_info["slug"]
    form = await request.post()
    version = form_int(form, "version")
    expected = form_int(form, "expected_version")
    history_url = f"/admin/articles/{slug}/history"
    try:
        saved = await ctx.knowledge.revert(slug, version, session.user.email, expected)
    except VersionConflict as exc:
        return redirect(f"{history_url}?msg=conflict&v={exc.current.version}")
    except ArticleNotFound as exc:
        raise PageError(
            404, "Version introuvable", f"L’article « {slug} » n’a pas de version {version}."
        ) from exc
    log.info("article %s reverted to version %d by staff user %s", slug, version, session.user.id)
    return redirect(f"{history_url}?msg=reverted&from={version}&v={saved.version}")
