"""The article editor's form: its fields, their French validation messages, the page
(with its Markdown preview, /admin/api/preview for the live one) and an editing conflict."""

from __future__ import annotations

import asyncio
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.admin.auth import current_session, require_role
from bot.admin.common import EDITORS, form_str, html_response, newlines, search_key
from bot.admin.context import admin_context
from bot.admin.diff import diff_html
from bot.admin.pages import Flash, Markup, render_page
from bot.admin.render import render_markdown
from knowledge_base.articles import (
    ARTICLE_FIELDS,
    MAX_BODY,
    MAX_TITLE,
    REPLACES_FIELD,
    Article,
    article_from_fields,
    replaces_of,
)
from knowledge_base.store import articles

MAX_SUMMARY_CHARS = 500
# The article's own fields, then what only the editor has: the national fiches an
# article replaces (kept in `extra`), the body and the change summary.
TEXT_FIELDS = (*ARTICLE_FIELDS, "replaces", "body", "summary")
LIST_FIELDS = ("tags", "synonyms", "life_events", "replaces")


@dataclass(frozen=True)
class Conflict:
    theirs_version: int
    theirs_author: str
    theirs_at: datetime | None
    theirs_body: str
    theirs_text: str  # whole article (front matter + body) for the diff
    mine_text: str
    changed_fields: Sequence[tuple[str, str, str]]  # (label, theirs, mine)


def slugify(text: str, limit: int = 80) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) > limit:
        slug = slug[:limit].rsplit("-", 1)[0]
    return slug


def split_list(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"[,\n]", text) if part.strip()]


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
    values = {name: newlines(form_str(form, name)) for name in TEXT_FIELDS}
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


async def categories(request: web.Request) -> list[str]:
    store = admin_context(request).knowledge.store
    return sorted({a.category for a in await store.all() if a.category}, key=search_key)


async def modified_by(
    engine: AsyncEngine, slug: str | None = None
) -> dict[str, tuple[datetime, str]]:
    query = sa.select(articles.c.slug, articles.c.updated_at, articles.c.updated_by)
    if slug is not None:
        query = query.where(articles.c.slug == slug)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return {r.slug: (r.updated_at, r.updated_by) for r in rows}


async def form_page(
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
        categories=await categories(request),
        extra=extra,
        conflict=conflict,
        conflict_diff=conflict_diff,
    )
    return html_response(page, status)


# --- the live preview ---
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
