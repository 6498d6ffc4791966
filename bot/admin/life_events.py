"""/admin/life-events: staff manage the life events ("moments de vie").

The events are the articles' `life_events` tags, never a list of their own: a rename
or a merge saves every article of the event with its new tag (a version in each
article's history, the search index updated, through `KnowledgeBase`), and the
order of an event's articles is stored beside them (knowledge_base/event_store.py);
the life-event answer (actions/life_event.py) follows it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from bot.admin.auth import current_session, require_role
from bot.admin.common import (
    EDITORS,
    EVERYONE,
    PageError,
    can_edit,
    form_str,
    html_response,
    redirect,
    search_key,
)
from bot.admin.context import admin_context
from bot.admin.pages import Flash, render_page
from bot.admin.users import StaffSession
from knowledge_base.articles import Article
from knowledge_base.event_store import MAX_EVENT_NAME
from knowledge_base.life_events import LifeEvents
from knowledge_base.service import LifeEventNotFound
from knowledge_base.store import VersionConflict

log = logging.getLogger(__name__)

MAX_POSITION = 999
BASE = "/admin/life-events"


def event_url(tag: str, **query: str) -> str:
    return f"{BASE}/event?" + urlencode({"tag": tag, **query})


def clean_name(text: str) -> str:
    return " ".join(text.split())


def _not_found(tag: str) -> PageError:
    return PageError(
        404,
        "Moment de vie introuvable",
        f"Aucun article ne porte le moment de vie « {tag} » : il a peut-être été renommé "
        "ou fusionné entre-temps.",
    )


def rename_error(name: str, tag: str, events: LifeEvents) -> str | None:
    """The French reason a new name is refused, or None."""
    if not name:
        return "Nouveau nom : obligatoire."
    if len(name) > MAX_EVENT_NAME:
        return f"Nouveau nom : {MAX_EVENT_NAME} caractères au plus."
    if "," in name:
        return (
            "Nouveau nom : sans virgule (dans un article, les moments de vie sont séparés "
            "par des virgules)."
        )
    taken = next((t for t in events.tags() if t != tag and search_key(t) == search_key(name)), None)
    if taken is not None:
        return (
            f"Le moment de vie « {taken} » existe déjà : pour réunir les deux, utilisez "
            "« Fusionner » ci-dessous."
        )
    return None


def parse_positions(
    form: Mapping[str, Any], slugs: Sequence[str], titles: Mapping[str, str]
) -> tuple[list[str], list[str]]:
    """The new order of `slugs` from their `position-<slug>` fields, and French errors.
    Equal positions keep the current order; a missing field keeps the current place."""
    errors: list[str] = []
    keyed: list[tuple[int, int, str]] = []
    for index, slug in enumerate(slugs):
        raw = form_str(form, f"position-{slug}").strip()
        if not raw:
            position = index + 1
        elif raw.isdigit() and 1 <= int(raw) <= MAX_POSITION:
            position = int(raw)
        else:
            errors.append(
                f"Position de « {titles.get(slug, slug)} » : un nombre entier de 1 à "
                f"{MAX_POSITION} est attendu (reçu « {raw[:20]} »)."
            )
            position = index + 1
        keyed.append((position, index, slug))
    return [slug for _, _, slug in sorted(keyed)], errors


# --- pages ---
@dataclass(frozen=True)
class EventRow:
    slug: str
    title: str
    status: str


def _rows(tag: str, events: LifeEvents, articles: Mapping[str, Article]) -> list[EventRow]:
    return [
        EventRow(slug, articles[slug].title, articles[slug].status.value)
        for slug in events.articles(tag)
        if slug in articles
    ]


def list_page(
    *,
    session: StaffSession,
    events: LifeEvents,
    articles: Mapping[str, Article],
    former: Mapping[str, Sequence[str]],
) -> str:
    shown = [
        {
            "tag": tag,
            "url": event_url(tag),
            "rows": _rows(tag, events, articles),
            "former": former.get(tag, ()),
        }
        for tag in sorted(events.tags(), key=search_key)
    ]
    return render_page(
        "life_events.html",
        session=session,
        title="Moments de vie",
        active="life-events",
        events=shown,
    )


def event_page(
    *,
    session: StaffSession,
    tag: str,
    events: LifeEvents,
    articles: Mapping[str, Article],
    former: Sequence[str],
    can_edit: bool,
    errors: Sequence[str] = (),
    name: str | None = None,
    flash: Flash | None = None,
) -> str:
    return render_page(
        "life_event.html",
        session=session,
        title=f"Moment de vie « {tag} »",
        active="life-events",
        flash=flash,
        tag=tag,
        rows=_rows(tag, events, articles),
        former=former,
        others=[t for t in sorted(events.tags(), key=search_key) if t != tag],
        max_position=MAX_POSITION,
        max_name=MAX_EVENT_NAME,
        name=name,
        errors=errors,
        can_edit=can_edit,
    )


def _flash(request: web.Request) -> Flash | None:
    code = request.query.get("msg", "")
    n = request.query.get("n", "")
    n = n if n.isdigit() else "?"
    plural = "s" if n not in ("0", "1") else ""
    messages = {
        "renamed": f"Moment de vie renommé : {n} article{plural} mis à jour.",
        "merged": f"Moments de vie fusionnés : {n} article{plural} mis à jour.",
        "ordered": "Ordre des articles enregistré : le bot le suit dès maintenant.",
    }
    return Flash("success", messages[code]) if code in messages else None


# --- handlers ---
async def _state(
    request: web.Request,
) -> tuple[LifeEvents, dict[str, Article], dict[str, tuple[str, ...]]]:
    knowledge = admin_context(request).knowledge
    events = await knowledge.life_events_overview()
    articles = {a.slug: a for a in await knowledge.store.all()}
    settings = await knowledge.life_event_settings.load()
    return events, articles, {tag: s.former for tag, s in settings.items()}


async def _event_response(
    request: web.Request,
    tag: str,
    *,
    errors: Sequence[str] = (),
    name: str | None = None,
    status: int = 200,
) -> web.Response:
    events, articles, former = await _state(request)
    if events.event(tag) is None:
        raise _not_found(tag)
    session = current_session(request)
    page = event_page(
        session=session,
        tag=tag,
        events=events,
        articles=articles,
        former=former.get(tag, ()),
        can_edit=can_edit(request),
        errors=errors,
        name=name,
        flash=None if errors else _flash(request),
    )
    return html_response(page, status)


@require_role(*EVERYONE)
async def life_event_list(request: web.Request) -> web.StreamResponse:
    events, articles, former = await _state(request)
    page = list_page(
        session=current_session(request), events=events, articles=articles, former=former
    )
    return html_response(page)


@require_role(*EVERYONE)
async def life_event_detail(request: web.Request) -> web.StreamResponse:
    return await _event_response(request, request.query.get("tag", ""))


async def _move(request: web.Request, merge: bool) -> web.StreamResponse:
    knowledge = admin_context(request).knowledge
    session = current_session(request)
    form = await request.post()
    tag = form_str(form, "tag")
    events = await knowledge.life_events_overview()
    if events.event(tag) is None:
        raise _not_found(tag)
    if merge:
        target = form_str(form, "into")
        if target == tag or events.event(target) is None:
            return await _event_response(
                request,
                tag,
                errors=[f"Choisissez le moment de vie dans lequel fusionner « {tag} »."],
                status=422,
            )
        summary = f"moment de vie « {tag} » fusionné dans « {target} »"
    else:
        target = clean_name(form_str(form, "name"))
        if target == tag:
            return redirect(event_url(tag))
        problem = rename_error(target, tag, events)
        if problem is not None:
            return await _event_response(request, tag, errors=[problem], name=target, status=422)
        summary = f"moment de vie « {tag} » renommé « {target} »"
    try:
        saved = await knowledge.move_life_event(tag, target, session.user.email, summary)
    except LifeEventNotFound as exc:
        raise _not_found(tag) from exc
    except VersionConflict:
        return await _event_response(
            request,
            tag,
            errors=[
                "Des articles de ce moment de vie ont été modifiés pendant l’opération : "
                "rien n’a été changé. Réessayez."
            ],
            status=409,
        )
    log.info(
        "life event %r %s %r by staff user %s (%d articles)",
        tag,
        "merged into" if merge else "renamed",
        target,
        session.user.id,
        len(saved),
    )
    code = "merged" if merge else "renamed"
    return redirect(event_url(target, msg=code, n=str(len(saved))))


@require_role(*EDITORS)
async def life_event_rename(request: web.Request) -> web.StreamResponse:
    return await _move(request, merge=False)


@require_role(*EDITORS)
async def life_event_merge(request: web.Request) -> web.StreamResponse:
    return await _move(request, merge=True)


@require_role(*EDITORS)
async def life_event_order(request: web.Request) -> web.StreamResponse:
    knowledge = admin_context(request).knowledge
    session = current_session(request)
    form = await request.post()
    tag = form_str(form, "tag")
    events, articles, _ = await _state(request)
    if events.event(tag) is None:
        raise _not_found(tag)
    slugs = events.articles(tag)
    order, errors = parse_positions(
        form, slugs, {s: articles[s].title for s in slugs if s in articles}
    )
    if errors:
        return await _event_response(request, tag, errors=errors, status=422)
    try:
        await knowledge.set_life_event_order(tag, order, session.user.email)
    except LifeEventNotFound as exc:
        raise _not_found(tag) from exc
    log.info("life event %r reordered by staff user %s", tag, session.user.id)
    return redirect(event_url(tag, msg="ordered"))


def setup_life_event_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/life-events", life_event_list)
    router.add_get("/life-events/event", life_event_detail)
    router.add_post("/life-events/rename", life_event_rename)
    router.add_post("/life-events/merge", life_event_merge)
    router.add_post("/life-events/order", life_event_order)
