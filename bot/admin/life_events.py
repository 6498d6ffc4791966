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

from bot.admin import templates
from bot.admin.auth import current_session, require_role
from bot.admin.context import admin_context
from bot.admin.templates import Flash, Markup, fill, join, status_badge
from bot.admin.users import Role, StaffSession
from bot.core.text import fold
from knowledge_base.articles import Article
from knowledge_base.event_store import MAX_EVENT_NAME
from knowledge_base.life_events import LifeEvents
from knowledge_base.service import LifeEventNotFound
from knowledge_base.store import VersionConflict

log = logging.getLogger(__name__)

EDITORS = (Role.EDITOR, Role.ADMIN)
EVERYONE = tuple(Role)
MAX_POSITION = 999
BASE = "/admin/life-events"


class EventPageError(Exception):
    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(f"{status} {title}")
        self.status, self.title, self.message = status, title, message


def event_url(tag: str, **query: str) -> str:
    return f"{BASE}/event?" + urlencode({"tag": tag, **query})


def clean_name(text: str) -> str:
    return " ".join(text.split())


def _fold(text: str) -> str:
    return " ".join(fold(text).casefold().split())


def _redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def _form_str(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def _not_found(tag: str) -> EventPageError:
    return EventPageError(
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
    taken = next((t for t in events.tags() if t != tag and _fold(t) == _fold(name)), None)
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
        raw = _form_str(form, f"position-{slug}").strip()
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


def _count(rows: Sequence[EventRow]) -> str:
    published = sum(r.status == "published" for r in rows)
    total = f"{len(rows)} article{'s' if len(rows) > 1 else ''}"
    return f"{total}, dont {published} publié{'s' if published > 1 else ''}"


LIST = """<h1>Moments de vie</h1>
<p>Un moment de vie (« je déménage », « un proche est décédé »…) réunit les démarches
qu’il entraîne. Ils viennent des articles : le champ « Événements de vie » de chaque
article. Quand un habitant en parle, le bot propose les articles publiés du moment de vie,
dans l’ordre ci-dessous.</p>
<p class="count" role="status">$count</p>
$events"""

LIST_EVENT = """<section class="life-event" aria-labelledby="$id">
<h2 id="$id"><a href="$url">$tag</a></h2>
<p class="muted">$count$former</p>
<ol>$items</ol>
</section>"""


def _former(former: Sequence[str]) -> Markup:
    if not former:
        return Markup("")
    return fill(" — anciens noms : $names", names=", ".join(f"« {n} »" for n in former))


def _article_item(row: EventRow) -> Markup:
    return fill(
        '<li><a href="/admin/articles/$slug">$title</a> $badge</li>',
        slug=row.slug,
        title=row.title,
        badge=status_badge(row.status),
    )


def list_page(
    *,
    session: StaffSession,
    events: LifeEvents,
    articles: Mapping[str, Article],
    former: Mapping[str, Sequence[str]],
) -> str:
    tags = sorted(events.tags(), key=_fold)
    sections = []
    for number, tag in enumerate(tags, 1):
        rows = _rows(tag, events, articles)
        sections.append(
            fill(
                LIST_EVENT,
                id=f"event-{number}",
                url=event_url(tag),
                tag=tag,
                count=_count(rows),
                former=_former(former.get(tag, ())),
                items=join(_article_item(r) for r in rows),
            )
        )
    body = fill(
        LIST,
        count=f"{len(tags)} moment{'s' if len(tags) > 1 else ''} de vie",
        events=join(sections)
        if sections
        else Markup('<p class="empty">Aucun article ne porte de moment de vie pour le moment.</p>'),
    )
    return templates.layout("Moments de vie", body, session=session, active="life-events")


EVENT = """<p><a href="/admin/life-events">← Tous les moments de vie</a></p>
<h1>Moment de vie « $tag »</h1>
<p class="muted">$count$former</p>
$errors
<section aria-labelledby="h-order">
<h2 id="h-order">Ordre des articles</h2>
$order
</section>
$edit"""

ORDER_FORM = """<p class="hint" id="order-hint">Le bot propose les articles dans cet ordre :
ce qu’il faut faire d’abord, et les démarches à délai (une naissance se déclare dans les
5 jours), en premier. Seuls les articles publiés sont proposés. Changez les numéros, puis
enregistrez.</p>
<form method="post" action="/admin/life-events/order" class="stack">
$csrf
<input type="hidden" name="tag" value="$tag">
<div class="table-wrap"><table class="data">
<caption class="sr-only">Articles du moment de vie, dans l’ordre proposé</caption>
<thead><tr><th scope="col">Position</th><th scope="col">Article</th>
<th scope="col">Statut</th></tr></thead>
<tbody>$rows</tbody></table></div>
<div class="form-actions"><button type="submit" class="btn">Enregistrer l’ordre</button></div>
</form>"""

ORDER_ROW = """<tr><td><label class="sr-only" for="$id">Position de « $title »</label>
<input type="number" id="$id" name="position-$slug" value="$position" min="1" max="$max"
 inputmode="numeric" class="input-small" aria-describedby="order-hint"></td>
<td><a href="/admin/articles/$slug">$title</a><br><code class="slug">$slug</code></td>
<td>$badge</td></tr>"""

EDIT = """<section aria-labelledby="h-rename">
<h2 id="h-rename">Renommer</h2>
<p class="hint" id="rename-hint">Le nouveau nom remplace l’ancien dans chaque article (une
nouvelle version de chacun, visible dans son historique). L’ancien nom reste compris par
le bot.</p>
<form method="post" action="/admin/life-events/rename" class="stack">
$csrf
<input type="hidden" name="tag" value="$tag">
<div class="field">
<label for="f-name">Nouveau nom</label>
<input type="text" id="f-name" name="name" value="$name" maxlength="$max" required
 aria-describedby="rename-hint">
</div>
<div class="form-actions"><button type="submit" class="btn">Renommer</button></div>
</form>
</section>
<section aria-labelledby="h-merge">
<h2 id="h-merge">Fusionner dans un autre moment de vie</h2>
<p class="hint" id="merge-hint">Les articles de « $tag » rejoignent le moment de vie
choisi, après les siens ; « $tag » disparaît de la liste mais reste compris par le bot.</p>
$merge
</section>"""

MERGE_FORM = """<form method="post" action="/admin/life-events/merge" class="stack">
$csrf
<input type="hidden" name="tag" value="$tag">
<div class="field">
<label for="f-into">Fusionner dans</label>
<select id="f-into" name="into" required aria-describedby="merge-hint">
<option value="">— choisir —</option>$options</select>
</div>
<div class="form-actions"><button type="submit" class="btn">Fusionner</button></div>
</form>"""


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
    rows = _rows(tag, events, articles)
    csrf = fill('<input type="hidden" name="csrf_token" value="$t">', t=session.csrf_token)
    if can_edit:
        order = fill(
            ORDER_FORM,
            csrf=csrf,
            tag=tag,
            rows=join(
                fill(
                    ORDER_ROW,
                    id=f"pos-{i}",
                    slug=r.slug,
                    title=r.title,
                    position=i,
                    max=MAX_POSITION,
                    badge=status_badge(r.status),
                )
                for i, r in enumerate(rows, 1)
            ),
        )
        others = [t for t in sorted(events.tags(), key=_fold) if t != tag]
        merge = (
            fill(
                MERGE_FORM,
                csrf=csrf,
                tag=tag,
                options=join(fill('<option value="$t">$t</option>', t=t) for t in others),
            )
            if others
            else Markup('<p class="empty">Aucun autre moment de vie.</p>')
        )
        edit = fill(
            EDIT,
            csrf=csrf,
            tag=tag,
            name=tag if name is None else name,
            max=MAX_EVENT_NAME,
            merge=merge,
        )
    else:
        order = fill("<ol>$items</ol>", items=join(_article_item(r) for r in rows))
        edit = Markup("")
    errors_html = (
        fill(
            '<div class="alert alert-error" role="alert" id="erreurs" tabindex="-1">'
            "<h2>Rien n’a été modifié</h2><ul>$items</ul></div>",
            items=join(fill("<li>$m</li>", m=m) for m in errors),
        )
        if errors
        else Markup("")
    )
    body = fill(
        EVENT,
        tag=tag,
        count=_count(rows),
        former=_former(former),
        errors=errors_html,
        order=order,
        edit=edit,
    )
    return templates.layout(
        f"Moment de vie « {tag} »", body, session=session, active="life-events", flash=flash
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
def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html")


def _can_edit(session: StaffSession) -> bool:
    return session.user.has_role(frozenset(EDITORS))


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
        can_edit=_can_edit(session),
        errors=errors,
        name=name,
        flash=None if errors else _flash(request),
    )
    return _html(page, status)


def _error(request: web.Request, exc: EventPageError) -> web.Response:
    page = templates.error_page(exc.status, exc.title, exc.message, current_session(request))
    return _html(page, exc.status)


@require_role(*EVERYONE)
async def life_event_list(request: web.Request) -> web.StreamResponse:
    events, articles, former = await _state(request)
    page = list_page(
        session=current_session(request), events=events, articles=articles, former=former
    )
    return _html(page)


@require_role(*EVERYONE)
async def life_event_detail(request: web.Request) -> web.StreamResponse:
    try:
        return await _event_response(request, request.query.get("tag", ""))
    except EventPageError as exc:
        return _error(request, exc)


async def _move(request: web.Request, merge: bool) -> web.StreamResponse:
    knowledge = admin_context(request).knowledge
    session = current_session(request)
    form = await request.post()
    tag = _form_str(form, "tag")
    try:
        events = await knowledge.life_events_overview()
        if events.event(tag) is None:
            raise _not_found(tag)
        if merge:
            target = _form_str(form, "into")
            if target == tag or events.event(target) is None:
                return await _event_response(
                    request,
                    tag,
                    errors=[f"Choisissez le moment de vie dans lequel fusionner « {tag} »."],
                    status=422,
                )
            summary = f"moment de vie « {tag} » fusionné dans « {target} »"
        else:
            target = clean_name(_form_str(form, "name"))
            if target == tag:
                return _redirect(event_url(tag))
            problem = rename_error(target, tag, events)
            if problem is not None:
                return await _event_response(
                    request, tag, errors=[problem], name=target, status=422
                )
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
    except EventPageError as exc:
        return _error(request, exc)
    log.info(
        "life event %r %s %r by staff user %s (%d articles)",
        tag,
        "merged into" if merge else "renamed",
        target,
        session.user.id,
        len(saved),
    )
    code = "merged" if merge else "renamed"
    return _redirect(event_url(target, msg=code, n=str(len(saved))))


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
    tag = _form_str(form, "tag")
    try:
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
    except EventPageError as exc:
        return _error(request, exc)
    log.info("life event %r reordered by staff user %s", tag, session.user.id)
    return _redirect(event_url(tag, msg="ordered"))


def setup_life_event_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/life-events", life_event_list)
    router.add_get("/life-events/event", life_event_detail)
    router.add_post("/life-events/rename", life_event_rename)
    router.add_post("/life-events/merge", life_event_merge)
    router.add_post("/life-events/order", life_event_order)
