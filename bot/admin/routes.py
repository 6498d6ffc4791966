"""Pages and form handlers of the /admin area: articles, history, tests, lexicon.

Every handler carries its access rule (`require_role`); the auth middleware
refuses any route without one. Pages follow post/redirect/get: a successful
form redirects with a message code, never with text taken from the request.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from aiohttp import web
from aiohttp.typedefs import Handler
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.admin.auth import STAFF_SESSION, current_session, public, require_role
from bot.admin.context import admin_context
from bot.admin.diff import diff_html
from bot.admin.life_events import setup_life_event_routes
from bot.admin.pages import (
    FIELD_LABELS,
    STATIC_DIR,
    STATUS_LABELS,
    Flash,
    Markup,
    error_page,
    render_page,
)
from bot.admin.render import render_markdown
from bot.admin.stats import stats_csv, stats_page
from bot.admin.users import Role, StaffSession
from bot.core.static import CSS, JS, StaticFiles
from bot.core.text import fold as fold_accents
from knowledge_base.articles import (
    MAX_BODY,
    MAX_TITLE,
    REPLACES_FIELD,
    Article,
    ArticleError,
    Status,
    article_from_fields,
    replaces_of,
)
from knowledge_base.markdown_io import to_markdown
from knowledge_base.service import RankedArticle
from knowledge_base.sources import is_imported, with_hidden
from knowledge_base.store import ArticleNotFound, VersionConflict, articles, same_content

log = logging.getLogger(__name__)

EDITORS = (Role.EDITOR, Role.ADMIN)
EVERYONE = tuple(Role)
MAX_QUESTION_CHARS = 2000
MAX_SUMMARY_CHARS = 500
MAX_LEXICON_LINES = 5000
MAX_EXPRESSION_CHARS = 200
RESERVED_SLUGS = frozenset({"new"})

TEXT_FIELDS = (
    "slug",
    "title",
    "category",
    "tags",
    "synonyms",
    "life_events",
    "replaces",
    "service",
    "contact",
    "url",
    "updated",
    "status",
    "body",
    "summary",
)
LIST_FIELDS = ("tags", "synonyms", "life_events", "replaces")


# --- what the pages show ---
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


@dataclass(frozen=True)
class VersionRow:
    version: int
    author: str
    summary: str
    created_at: datetime
    status: str


@dataclass(frozen=True)
class Conflict:
    theirs_version: int
    theirs_author: str
    theirs_at: datetime | None
    theirs_body: str
    theirs_text: str  # whole article (front matter + body) for the diff
    mine_text: str
    changed_fields: Sequence[tuple[str, str, str]]  # (label, theirs, mine)


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


class PageError(Exception):
    """Ends a request with a French error page (or JSON error on API paths)."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(f"{status} {title}")
        self.status, self.title, self.message = status, title, message


_ctx = admin_context


def _redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html")


def _not_found(slug: str) -> PageError:
    return PageError(404, "Article introuvable", f"Aucun article n’a l’identifiant « {slug} ».")


def _form_str(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def _form_int(form: Mapping[str, Any], name: str) -> int:
    value = _form_str(form, name).strip()
    if not value.isdigit() or len(value) > 9:
        raise PageError(400, "Requête invalide", "Le formulaire est incomplet : rechargez la page.")
    return int(value)


def _can_edit(request: web.Request) -> bool:
    return current_session(request).user.has_role(frozenset(EDITORS))


# --- text helpers ---
def fold(text: str) -> str:
    """Lower case without accents and with single spaces, for searching the way staff
    type."""
    return " ".join(fold_accents(text).casefold().split())


def slugify(text: str, limit: int = 80) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) > limit:
        slug = slug[:limit].rsplit("-", 1)[0]
    return slug


def split_list(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"[,\n]", text) if part.strip()]


def _timestamp(value: datetime | None) -> float:
    if value is None:
        return 0.0
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def _newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


# --- validation messages ---
_LIST_LABELS = {
    "tags": "Mots-clés (tags)",
    "synonyms": "Synonymes (synonyms)",
    "life_events": "Événements de vie (life_events)",
    "replaces": "Remplace les fiches nationales (replaces)",
}
_ERRORS: list[tuple[re.Pattern[str], str, str]] = [
    (
        re.compile(r"^'replaces' must list article slugs"),
        "replaces",
        "Remplace les fiches nationales (replaces) : des identifiants de fiches comme "
        "« F1342 », séparés par des virgules.",
    ),
    (
        re.compile(r"^'slug' must be"),
        "slug",
        "Identifiant (slug) : uniquement des lettres minuscules sans accent, des chiffres et "
        "des tirets entre les mots, 120 caractères au plus (ex. « carte-identite-demande »).",
    ),
    (
        re.compile(r"^'title' is required"),
        "title",
        f"Titre (title) : obligatoire, de 1 à {MAX_TITLE} caractères.",
    ),
    (
        re.compile(r"^the body has (?P<n>\d+) characters, at most (?P<max>\d+)"),
        "body",
        "Texte (body) : {n} caractères, {max} au maximum.",
    ),
    (
        re.compile(r"^'status' must be one of"),
        "status",
        "Statut (status) : choisissez Brouillon, Publié ou Archivé.",
    ),
    (
        re.compile(r"^'url' must be an http"),
        "url",
        "Lien (url) : une adresse complète commençant par http:// ou https://, sans espace.",
    ),
    (
        re.compile(r"^'updated' must be a date"),
        "updated",
        "Date de mise à jour (updated) : une date au format AAAA-MM-JJ est attendue.",
    ),
    (
        re.compile(
            r"^'(?P<field>tags|synonyms|life_events)' has (?P<n>\d+) items, at most (?P<max>\d+)"
        ),
        "{field}",
        "{label} : {n} éléments, {max} au maximum.",
    ),
    (
        re.compile(r"^'(?P<field>tags|synonyms|life_events)' must be a list"),
        "{field}",
        "{label} : une liste d’expressions séparées par des virgules est attendue.",
    ),
]


def french_error(message: str) -> tuple[str | None, str]:
    """(field name or None, French message) for an ArticleError's English message."""
    for pattern, field, french in _ERRORS:
        match = pattern.match(message)
        if match:
            values = match.groupdict()
            name = field.format(**values)
            values["label"] = _LIST_LABELS.get(name, name)
            return name, french.format(**values)
    return None, f"Article refusé : {message}"


# --- article form ---
def article_values(article: Article) -> dict[str, str]:
    return {
        "slug": article.slug,
        "title": article.title,
        "category": article.category,
        "tags": ", ".join(article.tags),
        "synonyms": ", ".join(article.synonyms),
        "life_events": ", ".join(article.life_events),
        "replaces": ", ".join(replaces_of(article)),
        "service": article.service,
        "contact": article.contact,
        "url": article.url,
        "updated": article.updated or "",
        "status": article.status.value,
        "body": article.body,
        "summary": "",
    }


def form_values(form: Mapping[str, Any]) -> dict[str, str]:
    values = {name: _newlines(_form_str(form, name)) for name in TEXT_FIELDS}
    values["summary"] = " ".join(values["summary"].split())[:MAX_SUMMARY_CHARS]
    return values


def values_to_article(values: Mapping[str, str], extra: Mapping[str, Any]) -> Article:
    fields: dict[str, Any] = dict(extra)
    fields.update({name: values.get(name, "") for name in TEXT_FIELDS if name != "body"})
    fields.pop("summary", None)
    for name in LIST_FIELDS:
        fields[name] = split_list(values.get(name, ""))
    # Fiche IDs as staff read them on Service-Public.fr ("F1342") are slugs in lower case.
    fields[REPLACES_FIELD] = [s.lower() for s in fields[REPLACES_FIELD]]
    if not fields[REPLACES_FIELD]:
        del fields[REPLACES_FIELD]
    return article_from_fields(fields, values.get("body", ""))


async def _categories(request: web.Request) -> list[str]:
    store = _ctx(request).knowledge.store
    return sorted({a.category for a in await store.all() if a.category}, key=fold)


async def _modified(
    engine: AsyncEngine, slug: str | None = None
) -> dict[str, tuple[datetime, str]]:
    query = sa.select(articles.c.slug, articles.c.updated_at, articles.c.updated_by)
    if slug is not None:
        query = query.where(articles.c.slug == slug)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return {r.slug: (r.updated_at, r.updated_by) for r in rows}


async def _form_page(
    request: web.Request,
    values: Mapping[str, str],
    *,
    is_new: bool,
    version: int,
    extra: Mapping[str, Any],
    errors: Mapping[str, str] | None = None,
    other_errors: list[str] | None = None,
    conflict: Conflict | None = None,
    flash: Flash | None = None,
    status: int = 200,
) -> web.Response:
    preview = Markup(await asyncio.to_thread(render_markdown, values.get("body", "")))
    conflict_diff = (
        diff_html(
            conflict.theirs_text,
            conflict.mine_text,
            label="Différences entre la version enregistrée et la vôtre",
        )
        if conflict is not None
        else None
    )
    page = render_page(
        "article_form.html",
        session=current_session(request),
        title="Nouvel article" if is_new else f"Modifier {values.get('slug', '')}",
        active="articles",
        flash=flash,
        values=values,
        is_new=is_new,
        version=version,
        errors=errors or {},
        other_errors=other_errors or [],
        preview=preview,
        categories=await _categories(request),
        extra=extra,
        conflict=conflict,
        conflict_diff=conflict_diff,
    )
    return _html(page, status)


def _flash(request: web.Request) -> Flash | None:
    code = request.query.get("msg", "")
    v = request.query.get("v", "")
    origin = request.query.get("from", "")
    v = v if v.isdigit() else "?"
    origin = origin if origin.isdigit() else "?"
    messages = {
        "created": ("success", f"Article créé (version {v})."),
        "saved": ("success", f"Article enregistré (version {v})."),
        "unchanged": ("info", "Aucune modification à enregistrer."),
        "published": (
            "success",
            f"Article publié : le bot l’utilise dès maintenant (version {v}).",
        ),
        "draft": (
            "success",
            f"Article dépublié : il repasse en brouillon et le bot ne l’utilise plus "
            f"(version {v}).",
        ),
        "archived": ("success", f"Article archivé : le bot ne l’utilise plus (version {v})."),
        "reverted": ("success", f"Version {origin} rétablie : enregistrée comme version {v}."),
        "conflict": (
            "error",
            f"L’article a été modifié entre-temps (il est maintenant en version {v}) : rien n’a "
            "été changé. Vérifiez la version actuelle, puis recommencez.",
        ),
        "lexicon": ("success", "Lexique enregistré : la recherche l’utilise dès maintenant."),
    }
    if code not in messages:
        return None
    kind, text = messages[code]
    return Flash(kind, text)


# --- handlers: articles ---
@require_role(*EVERYONE)
async def home(request: web.Request) -> web.StreamResponse:
    return _redirect("/admin/articles")


@require_role(*EVERYONE)
async def article_list(request: web.Request) -> web.StreamResponse:
    ctx = _ctx(request)
    q = request.query.get("q", "").strip()[:200]
    status = request.query.get("status", "")
    status = status if status in STATUS_LABELS else ""
    category = request.query.get("category", "")[:200]
    sort = "modified" if request.query.get("sort") == "modified" else "title"
    all_articles = await ctx.knowledge.store.all()
    modified = await _modified(ctx.engine)
    needle = fold(q)
    rows = []
    for a in all_articles:
        if status and a.status.value != status:
            continue
        if category and a.category != category:
            continue
        if needle:
            haystack = " ".join([a.title, a.slug, " ".join(a.synonyms), " ".join(a.tags), a.body])
            if needle not in fold(haystack):
                continue
        at, by = modified.get(a.slug, (None, ""))
        rows.append(
            ArticleRow(a.slug, a.title, a.category, a.status.value, a.updated, at, by, a.version)
        )
    if sort == "modified":
        rows.sort(key=lambda r: _timestamp(r.modified_at), reverse=True)
    else:
        rows.sort(key=lambda r: fold(r.title))
    page = render_page(
        "articles.html",
        session=current_session(request),
        title="Articles",
        active="articles",
        flash=_flash(request),
        rows=rows,
        total=len(all_articles),
        q=q,
        status=status,
        category=category,
        categories=sorted({a.category for a in all_articles if a.category}, key=fold),
        sort=sort,
        can_edit=_can_edit(request),
    )
    return _html(page)


@require_role(*EDITORS)
async def article_new(request: web.Request) -> web.StreamResponse:
    title = " ".join(request.query.get("title", "").split())[:MAX_TITLE]
    values = {name: "" for name in TEXT_FIELDS}
    values.update(title=title, slug=slugify(title), status=Status.DRAFT.value)
    return await _form_page(request, values, is_new=True, version=0, extra={})


@require_role(*EDITORS)
async def article_create(request: web.Request) -> web.StreamResponse:
    ctx = _ctx(request)
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
        return await _form_page(
            request,
            values,
            is_new=True,
            version=0,
            extra={},
            errors=errors,
            other_errors=other,
            status=422,
        )
    if _form_str(form, "action") == "preview":
        return await _form_page(request, values, is_new=True, version=0, extra={})
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
        return await _form_page(
            request, values, is_new=True, version=0, extra={}, errors=errors, status=409
        )
    log.info("article %s created by staff user %s", saved.slug, session.user.id)
    return _redirect(f"/admin/articles/{saved.slug}?msg=created&v={saved.version}")


@require_role(*EVERYONE)
async def article_edit(request: web.Request) -> web.StreamResponse:
    slug = request.match_info["slug"]
    article = await _ctx(request).knowledge.store.get(slug)
    if article is None:
        raise _not_found(slug)
    national = is_imported(article)
    if national or not _can_edit(request):
        rendered = Markup(await asyncio.to_thread(render_markdown, article.body))
        values = article_values(article)
        page = render_page(
            "article_view.html",
            session=current_session(request),
            title=values["title"],
            active="articles",
            flash=_flash(request),
            values=values,
            version=article.version,
            rendered=rendered,
            national=national,
            can_hide=_can_edit(request),
        )
        return _html(page)
    return await _form_page(
        request,
        article_values(article),
        is_new=False,
        version=article.version,
        extra=article.extra,
        flash=_flash(request),
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
    ctx = _ctx(request)
    session = current_session(request)
    slug = request.match_info["slug"]
    current = await ctx.knowledge.store.get(slug)
    if current is None:
        raise _not_found(slug)
    if is_imported(current):
        log.warning("refused an edit of national fiche %s by staff user %s", slug, session.user.id)
        raise PageError(
            403,
            "Fiche nationale",
            "Les fiches nationales (Service-Public.fr) ne se modifient pas ici : elles sont "
            "remplacées à chaque import. Écrivez plutôt un article local qui la remplace.",
        )
    form = await request.post()
    version = _form_int(form, "version")
    values = form_values(form)
    values["slug"] = slug  # the slug never changes after creation
    try:
        article = values_to_article(values, current.extra)
    except ArticleError as exc:
        name, message = french_error(str(exc))
        return await _form_page(
            request,
            values,
            is_new=False,
            version=version,
            extra=current.extra,
            errors={name: message} if name else {},
            other_errors=[] if name else [message],
            status=422,
        )
    if _form_str(form, "action") == "preview":
        return await _form_page(request, values, is_new=False, version=version, extra=current.extra)
    if version == current.version and same_content(current, article):
        return _redirect(f"/admin/articles/{slug}?msg=unchanged")
    try:
        saved = await ctx.knowledge.save(
            article,
            author=session.user.email,
            expected_version=version,
            summary=values["summary"],
        )
    except VersionConflict as exc:
        theirs = exc.current
        at, by = (await _modified(ctx.engine, slug)).get(slug, (None, "?"))
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
        return await _form_page(
            request,
            values,
            is_new=False,
            version=theirs.version,
            extra=theirs.extra,
            conflict=conflict,
            status=409,
        )
    except ArticleNotFound as exc:
        raise _not_found(slug) from exc
    log.info(
        "article %s saved at version %d by staff user %s", slug, saved.version, session.user.id
    )
    return _redirect(f"/admin/articles/{slug}?msg=saved&v={saved.version}")


STATUS_SUMMARIES = {
    Status.PUBLISHED: "publication",
    Status.DRAFT: "dépublication",
    Status.ARCHIVED: "archivage",
}


@require_role(*EDITORS)
async def article_status(request: web.Request) -> web.StreamResponse:
    ctx = _ctx(request)
    session = current_session(request)
    slug = request.match_info["slug"]
    form = await request.post()
    version = _form_int(form, "version")
    try:
        target = Status(_form_str(form, "status"))
    except ValueError as exc:
        raise PageError(400, "Requête invalide", "Statut inconnu.") from exc
    current = await ctx.knowledge.store.get(slug)
    if current is None:
        raise _not_found(slug)
    if current.version != version:
        return _redirect(f"/admin/articles/{slug}?msg=conflict&v={current.version}")
    if current.status is target:
        return _redirect(f"/admin/articles/{slug}?msg=unchanged")
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
        return _redirect(f"/admin/articles/{slug}?msg=conflict&v={exc.current.version}")
    log.info("article %s set to %s by staff user %s", slug, target.value, session.user.id)
    return _redirect(f"/admin/articles/{slug}?msg={target.value}&v={saved.version}")


# --- handlers: history ---
@require_role(*EVERYONE)
async def article_history(request: web.Request) -> web.StreamResponse:
    ctx = _ctx(request)
    slug = request.match_info["slug"]
    article = await ctx.knowledge.store.get(slug)
    if article is None:
        raise _not_found(slug)
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
        flash=_flash(request),
        slug=slug,
        article_title=article.title,
        current=article.version,
        rows=[
            VersionRow(v.version, v.author, v.summary, v.created_at, v.article.status.value)
            for v in versions
        ],
        shown=shown,
        diff=diff,
        can_edit=_can_edit(request),
    )
    return _html(page)


@require_role(*EDITORS)
async def article_revert(request: web.Request) -> web.StreamResponse:
    ctx = _ctx(request)
    session = current_session(request)
    slug = request.match_info["slug"]
    form = await request.post()
    version = _form_int(form, "version")
    expected = _form_int(form, "expected_version")
    history_url = f"/admin/articles/{slug}/history"
    try:
        saved = await ctx.knowledge.revert(slug, version, session.user.email, expected)
    except VersionConflict as exc:
        return _redirect(f"{history_url}?msg=conflict&v={exc.current.version}")
    except ArticleNotFound as exc:
        raise PageError(
            404, "Version introuvable", f"L’article « {slug} » n’a pas de version {version}."
        ) from exc
    log.info("article %s reverted to version %d by staff user %s", slug, version, session.user.id)
    return _redirect(f"{history_url}?msg=reverted&from={version}&v={saved.version}")


# --- handlers: tools ---
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
    knowledge = _ctx(request).knowledge
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
    return _html(page)


@require_role(*EVERYONE)
async def unanswered(request: web.Request) -> web.StreamResponse:
    queries = await _ctx(request).knowledge.queries.unanswered(100)
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
        can_edit=_can_edit(request),
    )
    return _html(page)


def lexicon_text(groups: list[list[str]]) -> str:
    return "\n".join(", ".join(group) for group in groups)


def lexicon_base(groups: list[list[str]]) -> str:
    """Fingerprint of the lexicon a form was opened on, to detect concurrent edits."""
    data = json.dumps(groups, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:32]


def parse_lexicon(text: str) -> tuple[list[list[str]], list[str]]:
    """Groups from the textarea, and French errors (line by line)."""
    groups: list[list[str]] = []
    errors: list[str] = []
    lines = text.split("\n")
    if len(lines) > MAX_LEXICON_LINES:
        return [], [f"Le lexique a {len(lines)} lignes, {MAX_LEXICON_LINES} au maximum."]
    for number, line in enumerate(lines, 1):
        seen: set[str] = set()
        group: list[str] = []
        for expression in (" ".join(e.split()) for e in line.split(",")):
            if expression and fold(expression) not in seen:
                seen.add(fold(expression))
                group.append(expression)
        if not group:
            continue
        if len(group) < 2:
            errors.append(
                f"Ligne {number} : « {group[0]} » est seule ; un groupe réunit au moins deux "
                "expressions séparées par des virgules."
            )
        too_long = [e for e in group if len(e) > MAX_EXPRESSION_CHARS]
        if too_long:
            errors.append(
                f"Ligne {number} : une expression dépasse {MAX_EXPRESSION_CHARS} caractères."
            )
        groups.append(group)
    return groups, errors


def _lexicon_page(
    session: StaffSession,
    *,
    text: str,
    count: int,
    base: str,
    can_edit: bool,
    errors: Sequence[str] = (),
    current_text: str | None = None,
    flash: Flash | None = None,
) -> str:
    conflict_diff = None
    if current_text is not None:
        conflict_diff = diff_html(
            current_text, text, label="Différences avec le lexique enregistré"
        )
    return render_page(
        "lexicon.html",
        session=session,
        title="Lexique",
        active="lexicon",
        flash=flash,
        text=text,
        count=count,
        base=base,
        can_edit=can_edit,
        errors=errors,
        conflict_diff=conflict_diff,
    )


@require_role(*EVERYONE)
async def lexicon(request: web.Request) -> web.StreamResponse:
    groups = await _ctx(request).knowledge.lexicon_groups()
    page = _lexicon_page(
        current_session(request),
        text=lexicon_text(groups),
        count=len(groups),
        base=lexicon_base(groups),
        can_edit=_can_edit(request),
        flash=_flash(request),
    )
    return _html(page)


@require_role(*EDITORS)
async def lexicon_save(request: web.Request) -> web.StreamResponse:
    knowledge = _ctx(request).knowledge
    session = current_session(request)
    form = await request.post()
    text = _newlines(_form_str(form, "groups"))
    groups, errors = parse_lexicon(text)
    current = await knowledge.lexicon_groups()
    stale = _form_str(form, "base") != lexicon_base(current)
    if errors or stale:
        page = _lexicon_page(
            session,
            text=text,
            count=len(groups),
            base=lexicon_base(current),
            can_edit=True,
            errors=errors,
            current_text=lexicon_text(current) if stale else None,
        )
        return _html(page, 409 if stale and not errors else 422)
    await knowledge.set_lexicon(groups)
    log.info("lexicon replaced (%d groups) by staff user %s", len(groups), session.user.id)
    return _redirect("/admin/lexicon?msg=lexicon")


# --- API and static files ---
@require_role(*EDITORS)
async def api_preview(request: web.Request) -> web.StreamResponse:
    try:
        data = await request.json()
    except ValueError:
        data = None
    body = data.get("body") if isinstance(data, dict) else None
    if not isinstance(body, str):
        return web.json_response(
            {"error": {"code": "bad_request", "message": "Texte manquant."}}, status=400
        )
    if len(body) > MAX_BODY:
        return web.json_response(
            {
                "error": {
                    "code": "too_long",
                    "message": f"Texte trop long : {MAX_BODY} caractères au maximum.",
                }
            },
            status=413,
        )
    return web.json_response({"html": await asyncio.to_thread(render_markdown, body)})


STATIC_FILES = StaticFiles(STATIC_DIR, {"staff.css": CSS, "admin.css": CSS, "admin.js": JS})


@public
async def static(request: web.Request) -> web.StreamResponse:
    return await STATIC_FILES.handler(request)


# --- area middleware and routes ---
HTTP_ERRORS = {
    400: ("Requête invalide", "La requête n’a pas pu être lue. Rechargez la page et réessayez."),
    404: ("Page introuvable", "Cette page n’existe pas ou plus."),
    405: ("Action impossible", "Cette adresse n’accepte pas ce type de requête."),
    413: (
        "Contenu trop volumineux",
        "Le contenu envoyé est trop volumineux. Raccourcissez le texte et réessayez.",
    ),
}


def _error_response(request: web.Request, status: int, title: str, message: str) -> web.Response:
    if request.path.startswith("/admin/api/"):
        return web.json_response(
            {"error": {"code": str(status), "message": message}}, status=status
        )
    return _html(error_page(status, title, message, request.get(STAFF_SESSION)), status)


@web.middleware
async def area_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """French error pages (the security headers, no caching included, are
    bot/security/headers.py's)."""
    try:
        response = await handler(request)
    except PageError as exc:
        response = _error_response(request, exc.status, exc.title, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        title, message = HTTP_ERRORS.get(
            exc.status, ("Erreur", "La requête n’a pas pu aboutir. Réessayez.")
        )
        response = _error_response(request, exc.status, title, message)
    except Exception:
        log.exception("staff area error on %s %s", request.method, request.path)
        response = _error_response(
            request,
            500,
            "Erreur technique",
            "Une erreur inattendue s’est produite ; rien n’a été perdu de ce qui était déjà "
            "enregistré. Réessayez, et prévenez l’administrateur si elle persiste.",
        )
    return response


SLUG = r"{slug:[a-z0-9]+(?:-[a-z0-9]+)*}"


def setup_routes(area: web.Application) -> None:
    """Routes relative to the area's /admin prefix."""
    router = area.router
    router.add_get("", home)
    router.add_get("/", home)
    router.add_get("/articles", article_list)
    router.add_get("/articles/new", article_new)
    router.add_post("/articles/new", article_create)
    router.add_get(f"/articles/{SLUG}", article_edit)
    router.add_post(f"/articles/{SLUG}", article_save)
    router.add_post(f"/articles/{SLUG}/status", article_status)
    router.add_get(f"/articles/{SLUG}/history", article_history)
    router.add_post(f"/articles/{SLUG}/revert", article_revert)
    router.add_get("/test", test_question)
    router.add_get("/unanswered", unanswered)
    router.add_get("/lexicon", lexicon)
    setup_life_event_routes(router)
    router.add_post("/lexicon", lexicon_save)
    router.add_post("/api/preview", api_preview)
    router.add_get("/static/{name}", static)
    router.add_get("/stats", stats_page)
    router.add_get("/stats.csv", stats_csv)
