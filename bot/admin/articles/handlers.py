"""The article list and the article pages: create, edit (or read), publish, hide."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from aiohttp import web

from bot.admin.articles.form import (
    TEXT_FIELDS,
    Conflict,
    article_values,
    form_page,
    form_values,
    french_error,
    modified_by,
    slugify,
    values_to_article,
)
from bot.admin.auth import current_session, require_role
from bot.admin.common import (
    EDITORS,
    EVERYONE,
    PageError,
    can_edit,
    flash_message,
    form_int,
    form_str,
    html_response,
    redirect,
    search_key,
)
from bot.admin.context import admin_context
from bot.admin.pages import FIELD_LABELS, STATUS_LABELS, Markup, render_page
from bot.admin.render import render_markdown
from knowledge_base.articles import MAX_TITLE, Article, ArticleError, Status
from knowledge_base.markdown_io import to_markdown
from knowledge_base.sources import is_imported, with_hidden
from knowledge_base.store import ArticleNotFound, VersionConflict, same_content

log = logging.getLogger(__name__)

RESERVED_SLUGS = frozenset({"new"})


@dataclass(frozen=True)
class ArticleRow:
    slug: str
    title: str
    category: str
    status: str
    updated: str | None
    modified_at: datetime | None
    modified_by: str
    version: int


def article_not_found(slug: str) -> PageError:
    return PageError(404, "Article introuvable", f"Aucun article n’a l’identifiant « {slug} ».")


def _timestamp(value: datetime | None) -> float:
    if value is None:
        return 0.0
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


@require_role(*EVERYONE)
async def home(request: web.Request) -> web.StreamResponse:
    return redirect("/admin/articles")


@require_role(*EVERYONE)
async def article_list(request: web.Request) -> web.StreamResponse:
    ctx = admin_context(request)
    q = request.query.get("q", "").strip()[:200]
    status = request.query.get("status", "")
    status = status if status in STATUS_LABELS else ""
    category = request.query.get("category", "")[:200]
    sort = "modified" if request.query.get("sort") == "modified" else "title"
    all_articles = await ctx.knowledge.store.all()
    modified = await modified_by(ctx.engine)
    needle = search_key(q)
    rows = []
    for a in all_articles:
        if status and a.status.value != status:
            continue
        if category and a.category != category:
            continue
        if needle:
            haystack = " ".join([a.title, a.slug, " ".join(a.synonyms), " ".join(a.tags), a.body])
            if needle not in search_key(haystack):
                continue
        at, by = modified.get(a.slug, (None, ""))
        rows.append(
            ArticleRow(a.slug, a.title, a.category, a.status.value, a.updated, at, by, a.version)
        )
    if sort == "modified":
        rows.sort(key=lambda r: _timestamp(r.modified_at), reverse=True)
    else:
        rows.sort(key=lambda r: search_key(r.title))
    page = render_page(
        "articles.html",
        session=current_session(request),
        title="Articles",
        active="articles",
        flash=flash_message(request),
        rows=rows,
        total=len(all_articles),
        q=q,
        status=status,
        category=category,
        categories=sorted({a.category for a in all_articles if a.category}, key=search_key),
        sort=sort,
        can_edit=can_edit(request),
    )
    return html_response(page)


@require_role(*EDITORS)
async def article_new(request: web.Request) -> web.StreamResponse:
    title = " ".join(request.query.get("title", "").split())[:MAX_TITLE]
    values = {name: "" for name in TEXT_FIELDS}
    values.update(title=title, slug=slugify(title), status=Status.DRAFT.value)
    return await form_page(request, values, is_new=True, version=0, extra={})


@require_role(*EDITORS)
async def article_create(request: web.Request) -> web.StreamResponse:
    ctx = admin_context(request)
    session = current_session(request)
    form = await request.post()
    values = form_values(form)
    values["slug"] = values["slug"].strip()
    errors: dict[str, str] = {}
    other: list[str] = []
    article: Article | None = None
    try:
        article = values_to_article(values, {})
    except ArticleError as exc:
        name, message = french_error(str(exc))
        if name:
            errors[name] = message
        else:
            other.append(message)
    slug = values["slug"]
    if "slug" not in errors and slug in RESERVED_SLUGS:
        errors["slug"] = f"Identifiant (slug) : « {slug} » est réservé, choisissez-en un autre."
    if "slug" not in errors and slug:
        existing = await ctx.knowledge.store.get(slug)
        if existing is not None:
            errors["slug"] = (
                f"Identifiant (slug) : « {slug} » est déjà utilisé par l’article "
                f"« {existing.title} »."
            )
    if errors or other or article is None:
        return await form_page(
            request,
            values,
            is_new=True,
            version=0,
            extra={},
            errors=errors,
            other_errors=other,
            status=422,
        )
    if form_str(form, "action") == "preview":
        return await form_page(request, values, is_new=True, version=0, extra={})
    try:
        saved = await ctx.knowledge.save(
            article,
            author=session.user.email,
            expected_version=0,
            summary=values["summary"] or "création",
        )
    except VersionConflict:  # created by someone else a moment ago
        errors["slug"] = (
            f"Identifiant (slug) : « {slug} » vient d’être utilisé par un autre article."
        )
        return await form_page(
            request, values, is_new=True, version=0, extra={}, errors=errors, status=409
        )
    log.info("article %s created by staff user %s", saved.slug, session.user.id)
    return redirect(f"/admin/articles/{saved.slug}?msg=created&v={saved.version}")


@require_role(*EVERYONE)
async def article_edit(request: web.Request) -> web.StreamResponse:
    slug = request.match_info["slug"]
    article = await admin_context(request).knowledge.store.get(slug)
    if article is None:
        raise article_not_found(slug)
    national = is_imported(article)
    if national or not can_edit(request):
        rendered = Markup(await asyncio.to_thread(render_markdown, article.body))
        values = article_values(article)
        page = render_page(
            "article_view.html",
            session=current_session(request),
            title=values["title"],
            active="articles",
            flash=flash_message(request),
            values=values,
            version=article.version,
            rendered=rendered,
            national=national,
            can_hide=can_edit(request),
        )
        return html_response(page)
    return await form_page(
        request,
        article_values(article),
        is_new=False,
        version=article.version,
        extra=article.extra,
        flash=flash_message(request),
    )


def _changed_fields(theirs: Article, mine: Article) -> list[tuple[str, str, str]]:
    a, b = article_values(theirs), article_values(mine)
    changed = []
    for name in TEXT_FIELDS:
        if name in ("slug", "body", "summary") or a[name] == b[name]:
            continue
        if name == "status":
            a_shown = STATUS_LABELS[a[name]]
            b_shown = STATUS_LABELS[b[name]]
        else:
            a_shown, b_shown = a[name] or "—", b[name] or "—"
        changed.append((FIELD_LABELS[name], a_shown, b_shown))
    return changed


@require_role(*EDITORS)
async def article_save(request: web.Request) -> web.StreamResponse:
    ctx = admin_context(request)
    session = current_session(request)
    slug = request.match_info["slug"]
    current = await ctx.knowledge.store.get(slug)
    if current is None:
        raise article_not_found(slug)
    if is_imported(current):
        log.warning("refused an edit of national fiche %s by staff user %s", slug, session.user.id)
        raise PageError(
            403,
            "Fiche nationale",
            "Les fiches nationales (Service-Public.fr) ne se modifient pas ici : elles sont "
            "remplacées à chaque import. Écrivez plutôt un article local qui la remplace.",
        )
    form = await request.post()
    version = form_int(form, "version")
    values = form_values(form)
    values["slug"] = slug  # the slug never changes after creation
    try:
        article = values_to_article(values, current.extra)
    except ArticleError as exc:
        name, message = french_error(str(exc))
        return await form_page(
            request,
            values,
            is_new=False,
            version=version,
            extra=current.extra,
            errors={name: message} if name else {},
            other_errors=[] if name else [message],
            status=422,
        )
    if form_str(form, "action") == "preview":
        return await form_page(request, values, is_new=False, version=version, extra=current.extra)
    if version == current.version and same_content(current, article):
        return redirect(f"/admin/articles/{slug}?msg=unchanged")
    try:
        saved = await ctx.knowledge.save(
            article,
            author=session.user.email,
            expected_version=version,
            summary=values["summary"],
        )
    except VersionConflict as exc:
        theirs = exc.current
        at, by = (await modified_by(ctx.engine, slug)).get(slug, (None, "?"))
        log.info("edit conflict on %s: form at %d, stored %d", slug, version, theirs.version)
        conflict = Conflict(
            theirs_version=theirs.version,
            theirs_author=by,
            theirs_at=at,
            theirs_body=theirs.body,
            theirs_text=to_markdown(theirs),
            mine_text=to_markdown(article),
            changed_fields=_changed_fields(theirs, article),
        )
        # The form now carries their version: saving again goes on top of it.
        return await form_page(
            request,
            values,
            is_new=False,
            version=theirs.version,
            extra=theirs.extra,
            conflict=conflict,
            status=409,
        )
    except ArticleNotFound as exc:
        raise article_not_found(slug) from exc
    log.info(
        "article %s saved at version %d by staff user %s", slug, saved.version, session.user.id
    )
    return redirect(f"/admin/articles/{slug}?msg=saved&v={saved.version}")


STATUS_SUMMARIES = {
    Status.PUBLISHED: "publication",
    Status.DRAFT: "dépublication",
    Status.ARCHIVED: "archivage",
}


@require_role(*EDITORS)
async def article_status(request: web.Request) -> web.StreamResponse:
    ctx = admin_context(request)
    session = current_session(request)
    slug = request.match_info["slug"]
    form = await request.post()
    version = form_int(form, "version")
    try:
        target = Status(form_str(form, "status"))
    except ValueError as exc:
        raise PageError(400, "Requête invalide", "Statut inconnu.") from exc
    current = await ctx.knowledge.store.get(slug)
    if current is None:
        raise article_not_found(slug)
    if current.version != version:
        return redirect(f"/admin/articles/{slug}?msg=conflict&v={current.version}")
    if current.status is target:
        return redirect(f"/admin/articles/{slug}?msg=unchanged")
    changed = replace(current, status=target)
    if is_imported(current):
        if target is Status.DRAFT:
            raise PageError(400, "Requête invalide", "Une fiche nationale se masque ou s'affiche.")
        # Hidden by staff: the next imports keep it hidden (knowledge_base.sources).
        changed = with_hidden(changed, target is Status.ARCHIVED)
    try:
        saved = await ctx.knowledge.save(
            changed,
            author=session.user.email,
            expected_version=version,
            summary=STATUS_SUMMARIES[target],
        )
    except VersionConflict as exc:
        return redirect(f"/admin/articles/{slug}?msg=conflict&v={exc.current.version}")
    log.info("article %s set to %s by staff user %s", slug, target.value, session.user.id)
    return redirect(f"/admin/articles/{slug}?msg={target.value}&v={saved.version}")
