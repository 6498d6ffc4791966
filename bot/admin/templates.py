"""HTML of the staff pages, built with string.Template and escaping by default.

`fill(template, **values)` escapes every value unless it is `Markup` (HTML
this module built itself, or nh3-sanitised article HTML). Nothing else is
ever inserted unescaped. Page text is French; code and comments English.
"""

from __future__ import annotations

import difflib
import hashlib
import html
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.admin.users import Role, StaffSession

STATIC_DIR = Path(__file__).with_name("static")
TIMEZONE = ZoneInfo("Europe/Paris")


class Markup(str):
    """A string that is already safe HTML."""

    __slots__ = ()


def esc(value: object) -> Markup:
    if isinstance(value, Markup):
        return value
    return Markup(html.escape("" if value is None else str(value), quote=True))


def fill(template: str, /, **values: object) -> Markup:
    return Markup(string.Template(template).substitute({k: esc(v) for k, v in values.items()}))


def join(parts: Iterable[object], sep: str = "") -> Markup:
    return Markup(sep.join(esc(p) for p in parts))


def _asset_version(name: str) -> str:
    try:
        return hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:10]
    except OSError:
        return "0"


ASSETS = {name: _asset_version(name) for name in ("admin.css", "admin.js")}

# --- labels ---
STATUS_LABELS = {"draft": "Brouillon", "published": "Publié", "archived": "Archivé"}
ROLE_LABELS = {Role.EDITOR: "rédacteur", Role.AGENT: "agent", Role.ADMIN: "administrateur"}
CHANNEL_LABELS = {"webchat": "Chat du site", "phone": "Téléphone"}
CONFIDENCE_LABELS = {
    "answer": ("Réponse", "Le bot répondrait directement avec le passage ci-dessous."),
    "ambiguous": (
        "Suggestions",
        "Le bot hésiterait et proposerait ces articles (« Vouliez-vous dire… »).",
    ),
    "not_found": (
        "Pas de réponse",
        "Le bot dirait qu’il n’a pas trouvé de réponse fiable et proposerait de contacter "
        "la mairie.",
    ),
}
FIELD_LABELS = {
    "slug": "Identifiant (slug)",
    "title": "Titre",
    "category": "Catégorie",
    "status": "Statut",
    "tags": "Mots-clés",
    "synonyms": "Synonymes",
    "life_events": "Événements de vie",
    "replaces": "Remplace les fiches nationales",
    "service": "Service",
    "contact": "Contact",
    "url": "Lien vers la page du site",
    "updated": "Date de mise à jour",
    "body": "Texte",
}

NAV = (
    ("articles", "/admin/articles", "Articles"),
    ("test", "/admin/test", "Tester une question"),
    ("unanswered", "/admin/unanswered", "Questions sans réponse"),
    ("lexicon", "/admin/lexicon", "Lexique"),
    ("life-events", "/admin/life-events", "Moments de vie"),
    ("stats", "/admin/stats", "Statistiques"),
)


def fmt_datetime(value: datetime | None) -> str:
    if value is None:
        return "—"
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(TIMEZONE).strftime("%d/%m/%Y à %H:%M")


def fmt_date(value: str | None) -> str:
    if not value:
        return "—"
    try:
        return datetime.fromisoformat(value).strftime("%d/%m/%Y")
    except ValueError:
        return value


def status_badge(status: str) -> Markup:
    return fill(
        '<span class="badge badge-$status">$label</span>',
        status=status,
        label=STATUS_LABELS.get(status, status),
    )


# --- layout ---
LAYOUT = """<!doctype html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<meta name="csrf-token" content="$csrf">
<title>$title — Guichet, espace agents</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/admin/static/admin.css?v=$css_v">
<script src="/admin/static/admin.js?v=$js_v" defer></script>
</head>
<body>
<a class="skip-link" href="#contenu">Aller au contenu</a>
<header class="site-header">
<div class="wrap header-row">
<p class="brand"><a href="/admin/articles">Guichet
<span class="brand-sub">espace agents</span></a></p>
$account
</div>
$nav
</header>
<main id="contenu" class="wrap" tabindex="-1">
$flash
$body
</main>
<footer class="site-footer">
<div class="wrap"><p>Guichet — assistant de la mairie. Espace réservé aux agents.</p></div>
</footer>
</body>
</html>
"""

ACCOUNT = """<div class="account">
<p><span class="sr-only">Connecté en tant que </span>$email <span class="role">($role)</span></p>
<form method="post" action="/admin/logout">
<input type="hidden" name="csrf_token" value="$csrf">
<button type="submit" class="btn btn-secondary btn-small">Se déconnecter</button>
</form>
</div>"""


def _nav(active: str) -> Markup:
    items = []
    for key, href, label in NAV:
        current = Markup(' aria-current="page"') if key == active else Markup("")
        items.append(
            fill(
                '<li><a href="$href"$current>$label</a></li>',
                href=href,
                current=current,
                label=label,
            )
        )
    return fill(
        '<nav class="main-nav" aria-label="Navigation principale">'
        '<div class="wrap"><ul>$items</ul></div></nav>',
        items=join(items),
    )


@dataclass(frozen=True)
class Flash:
    kind: str  # "success", "info", "error"
    text: str


def flash_html(flash: Flash | None) -> Markup:
    if flash is None:
        return Markup("")
    role = "alert" if flash.kind == "error" else "status"
    return fill(
        '<div class="alert alert-$kind" role="$role"><p>$text</p></div>',
        kind=flash.kind,
        role=role,
        text=flash.text,
    )


def layout(
    title: str,
    body: Markup,
    *,
    session: StaffSession | None,
    active: str = "",
    flash: Flash | None = None,
    csrf: str = "",
) -> str:
    if session is not None:
        account = fill(
            ACCOUNT,
            email=session.user.email,
            role=ROLE_LABELS[session.user.role],
            csrf=session.csrf_token,
        )
        nav = _nav(active)
        csrf = session.csrf_token
    else:
        account, nav = Markup(""), Markup("")
    return fill(
        LAYOUT,
        title=title,
        csrf=csrf,
        css_v=ASSETS["admin.css"],
        js_v=ASSETS["admin.js"],
        account=account,
        nav=nav,
        flash=flash_html(flash),
        body=body,
    )


def _csrf_field(session: StaffSession) -> Markup:
    return fill('<input type="hidden" name="csrf_token" value="$t">', t=session.csrf_token)


# --- login and errors ---
LOGIN = """<div class="narrow">
<h1>Connexion à l’espace agents</h1>
$error
<form method="post" action="/admin/login" class="stack" novalidate>
<input type="hidden" name="csrf_token" value="$csrf">
<input type="hidden" name="next" value="$next">
<div class="field">
<label for="email">Adresse e-mail</label>
<input type="email" id="email" name="email" value="$email" autocomplete="username"
 required$describedby>
</div>
<div class="field">
<label for="password">Mot de passe</label>
<input type="password" id="password" name="password" autocomplete="current-password"
 required$describedby>
</div>
<button type="submit" class="btn">Se connecter</button>
</form>
</div>"""


def login_page(
    *, csrf: str, next_url: str, email: str = "", error: str = "", notice: Flash | None = None
) -> str:
    error_html = (
        fill(
            '<div class="alert alert-error" role="alert" id="login-error"><p>$e</p></div>', e=error
        )
        if error
        else Markup("")
    )
    describedby = Markup(' aria-describedby="login-error"') if error else Markup("")
    body = fill(
        LOGIN,
        error=error_html,
        csrf=csrf,
        next=next_url,
        email=email,
        describedby=describedby,
    )
    return layout("Connexion", body, session=None, flash=notice, csrf=csrf)


def error_page(status: int, title: str, message: str, session: StaffSession | None) -> str:
    body = fill(
        '<h1>$title</h1><p>$message</p><p><a href="$back">$back_label</a></p>',
        title=title,
        message=message,
        back="/admin/articles" if session else "/admin/login",
        back_label="Retour à la liste des articles" if session else "Aller à la connexion",
    )
    return layout(f"{title} ({status})", body, session=session)


# --- article list ---
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


def _options(choices: Sequence[tuple[str, str]], selected: str) -> Markup:
    return join(
        fill(
            '<option value="$v"$sel>$label</option>',
            v=value,
            label=label,
            sel=Markup(" selected") if value == selected else Markup(""),
        )
        for value, label in choices
    )


LIST = """<div class="page-head">
<h1>Articles</h1>
$new_button
</div>
<form class="filters" role="search" method="get" action="/admin/articles"
 aria-label="Rechercher des articles">
<div class="field field-grow">
<label for="q">Rechercher</label>
<input type="search" id="q" name="q" value="$q" aria-describedby="q-hint">
<p class="hint" id="q-hint">Dans le titre, l’identifiant, les synonymes et le texte ;
accents et majuscules ignorés.</p>
</div>
<div class="field">
<label for="f-status">Statut</label>
<select id="f-status" name="status">$status_options</select>
</div>
<div class="field">
<label for="f-category">Catégorie</label>
<select id="f-category" name="category">$category_options</select>
</div>
<div class="field">
<label for="f-sort">Trier par</label>
<select id="f-sort" name="sort">$sort_options</select>
</div>
<div class="filters-actions">
<button type="submit" class="btn">Filtrer</button>
<a href="/admin/articles" class="btn btn-secondary">Réinitialiser</a>
</div>
</form>
<p class="count" role="status">$count</p>
$table"""

LIST_TABLE = """<div class="table-wrap">
<table class="data">
<caption class="sr-only">Articles de la base de connaissances</caption>
<thead><tr>
<th scope="col">Titre</th><th scope="col">Catégorie</th><th scope="col">Statut</th>
<th scope="col">Mise à jour</th><th scope="col">Dernière modification</th>
<th scope="col" class="num">Version</th>
</tr></thead>
<tbody>
$rows
</tbody>
</table>
</div>"""

LIST_ROW = """<tr>
<td><a href="/admin/articles/$slug">$title</a><br><code class="slug">$slug</code></td>
<td>$category</td>
<td>$badge</td>
<td>$updated</td>
<td>$modified_at<br><span class="muted">$modified_by</span></td>
<td class="num">$version</td>
</tr>"""


def article_list_page(
    *,
    session: StaffSession,
    rows: Sequence[ArticleRow],
    total: int,
    q: str,
    status: str,
    category: str,
    categories: Sequence[str],
    sort: str,
    can_edit: bool,
    flash: Flash | None,
) -> str:
    if rows:
        table = fill(
            LIST_TABLE,
            rows=join(
                fill(
                    LIST_ROW,
                    slug=r.slug,
                    title=r.title,
                    category=r.category or "—",
                    badge=status_badge(r.status),
                    updated=fmt_date(r.updated),
                    modified_at=fmt_datetime(r.modified_at),
                    modified_by=r.modified_by,
                    version=r.version,
                )
                for r in rows
            ),
        )
    else:
        table = Markup('<p class="empty">Aucun article ne correspond à ces critères.</p>')
    count = f"{len(rows)} article{'s' if len(rows) > 1 else ''}"
    if len(rows) != total:
        count += f" sur {total}"
    body = fill(
        LIST,
        new_button=Markup('<a class="btn" href="/admin/articles/new">Nouvel article</a>')
        if can_edit
        else Markup(""),
        q=q,
        status_options=_options([("", "Tous"), *STATUS_LABELS.items()], status),
        category_options=_options([("", "Toutes"), *((c, c) for c in categories)], category),
        sort_options=_options(
            [("title", "Titre"), ("modified", "Dernière modification")], sort or "title"
        ),
        count=count,
        table=table,
    )
    return layout("Articles", body, session=session, active="articles", flash=flash)


# --- diffs ---
_TOKEN = re.compile(r"\s+|\w+|[^\w\s]")


def _word_diff(old: str, new: str) -> tuple[Markup, Markup]:
    a, b = _TOKEN.findall(old), _TOKEN.findall(new)
    out_old: list[Markup] = []
    out_new: list[Markup] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        old_part, new_part = "".join(a[i1:i2]), "".join(b[j1:j2])
        if tag == "equal":
            out_old.append(esc(old_part))
            out_new.append(esc(new_part))
            continue
        if old_part:
            out_old.append(fill('<strong class="chg">$t</strong>', t=old_part))
        if new_part:
            out_new.append(fill('<strong class="chg">$t</strong>', t=new_part))
    return join(out_old), join(out_new)


def _line(kind: str, text: Markup | str) -> Markup:
    if kind == "add":
        return fill(
            '<ins class="line add"><span class="sign" aria-hidden="true">+</span>'
            '<span class="sr-only">Ajouté : </span>$t</ins>',
            t=text,
        )
    if kind == "del":
        return fill(
            '<del class="line del"><span class="sign" aria-hidden="true">−</span>'
            '<span class="sr-only">Supprimé : </span>$t</del>',
            t=text,
        )
    return fill(
        '<span class="line ctx"><span class="sign" aria-hidden="true"> </span>$t</span>', t=text
    )


def diff_html(old: str, new: str, *, label: str, context: int = 2) -> Markup:
    """Line diff of two texts, changed words emphasised inside replaced lines."""
    a, b = old.splitlines(), new.splitlines()
    groups = list(difflib.SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(context))
    if not groups:
        return Markup('<p class="muted">Aucune différence de texte.</p>')
    hunks: list[Markup] = []
    for group in groups:
        lines: list[Markup] = []
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines += [_line("ctx", t) for t in a[i1:i2]]
            elif tag == "delete":
                lines += [_line("del", t) for t in a[i1:i2]]
            elif tag == "insert":
                lines += [_line("add", t) for t in b[j1:j2]]
            else:
                olds, news = a[i1:i2], b[j1:j2]
                pairs = [_word_diff(o, n) for o, n in zip(olds, news, strict=False)]
                lines += [_line("del", p[0]) for p in pairs]
                lines += [_line("del", t) for t in olds[len(pairs) :]]
                lines += [_line("add", p[1]) for p in pairs]
                lines += [_line("add", t) for t in news[len(pairs) :]]
        first, last = group[0], group[-1]
        header = fill(
            '<span class="hunk">Lignes $a1–$a2 → $b1–$b2</span>',
            a1=first[1] + 1,
            a2=last[2],
            b1=first[3] + 1,
            b2=last[4],
        )
        hunks.append(fill("$h$l", h=header, l=join(lines)))
    return fill(
        '<div class="diff" role="region" aria-label="$label" tabindex="0">'
        '<p class="legend"><ins class="add">+ ajouté</ins> <del class="del">− supprimé</del></p>'
        "<pre>$hunks</pre></div>",
        label=label,
        hunks=join(hunks),
    )


# --- article form ---
@dataclass(frozen=True)
class Conflict:
    theirs_version: int
    theirs_author: str
    theirs_at: datetime | None
    theirs_body: str
    theirs_text: str  # whole article (front matter + body) for the diff
    mine_text: str
    changed_fields: Sequence[tuple[str, str, str]]  # (label, theirs, mine)


def _field_error(errors: Mapping[str, str], name: str, hint_id: str = "") -> tuple[Markup, Markup]:
    """(attributes for the control, error paragraph)."""
    ids = [f"f-{name}-error"] if name in errors else []
    if hint_id:
        ids.append(hint_id)
    attrs = fill(' aria-describedby="$ids"', ids=" ".join(ids)) if ids else Markup("")
    if name not in errors:
        return attrs, Markup("")
    return (
        fill('$a aria-invalid="true"', a=attrs),
        fill('<p class="field-error" id="f-$n-error">$m</p>', n=name, m=errors[name]),
    )


def _input(
    name: str,
    values: Mapping[str, str],
    errors: Mapping[str, str],
    *,
    hint: str = "",
    kind: str = "text",
    extra: str = "",
) -> Markup:
    attrs, error = _field_error(errors, name, f"{name}-hint" if hint else "")
    hint_html = fill('<p class="hint" id="$n-hint">$h</p>', n=name, h=hint) if hint else Markup("")
    return fill(
        '<div class="field$cls"><label for="f-$n">$label</label>$hint$error'
        '<input type="$kind" id="f-$n" name="$n" value="$v"$attrs$extra></div>',
        cls=" has-error" if error else "",
        n=name,
        label=FIELD_LABELS[name],
        hint=hint_html,
        error=error,
        kind=kind,
        v=values.get(name, ""),
        attrs=attrs,
        extra=Markup(extra),
    )


FORM = """<div class="page-head">
<h1>$heading</h1>
<div class="page-actions">$actions</div>
</div>
$summary
$conflict
<div class="editor">
<form method="post" action="$action" class="article-form stack" id="article-form"
 novalidate data-dirty-check$unsaved>
<input type="hidden" name="csrf_token" value="$csrf">
<input type="hidden" name="version" value="$version">
$slug_field
$title_field
<div class="row">
$category_field
<div class="field$status_cls"><label for="f-status">Statut</label>$status_error
<select id="f-status" name="status"$status_attrs>$status_options</select></div>
</div>
$tags_field
$synonyms_field
$life_events_field
$replaces_field
<div class="row">
$service_field
$contact_field
</div>
<div class="row">
$url_field
$updated_field
</div>
<div class="field$body_cls">
<label for="f-body">Texte (Markdown)</label>
<p class="hint" id="body-hint">Titres de section avec « ## », listes avec « - »,
gras avec **mot**, liens avec [texte](https://…). Le premier paragraphe sert de réponse
courte : mettez-y l’essentiel.</p>
$body_error
<textarea id="f-body" name="body" rows="22" spellcheck="true"
 data-preview-target="apercu-contenu"$body_attrs>$body</textarea>
</div>
$extra_fields
<div class="field">
<label for="f-summary">Résumé de la modification <span class="optional">(facultatif)</span></label>
<input type="text" id="f-summary" name="summary" value="$summary_value" maxlength="500"
 aria-describedby="summary-hint">
<p class="hint" id="summary-hint">Visible dans l’historique, par exemple
« horaires d’été 2026 ».</p>
</div>
<div class="form-actions">
<button type="submit" class="btn" name="action" value="save">$save_label</button>
<button type="submit" class="btn btn-secondary js-hide" name="action"
 value="preview">Mettre à jour l’aperçu</button>
<a href="$cancel" class="btn btn-secondary">Annuler</a>
</div>
</form>
<section class="preview" aria-labelledby="apercu-titre">
<h2 id="apercu-titre">Aperçu</h2>
<p class="hint" id="apercu-etat" role="status"></p>
<div id="apercu-contenu" class="article-body">$preview</div>
</section>
</div>"""

QUICK_ACTION = """<form method="post" action="/admin/articles/$slug/status" class="inline"
 data-confirm-if-dirty="$confirm">
<input type="hidden" name="csrf_token" value="$csrf">
<input type="hidden" name="version" value="$version">
<input type="hidden" name="status" value="$status">
<button type="submit" class="btn $cls">$label</button>
</form>"""

CONFLICT = """<section class="alert alert-warning conflict" role="alert"
 aria-labelledby="conflit-titre" tabindex="-1" id="conflit">
<h2 id="conflit-titre">Conflit : l’article a été modifié pendant que vous travailliez</h2>
<p>$author a enregistré la version $version le $at.
<strong>Votre texte n’a pas été enregistré</strong> : il est conservé dans le formulaire
ci-dessous.</p>
<p>Comparez les deux versions, reprenez si besoin les changements de l’autre personne dans
votre texte, puis cliquez sur « Enregistrer » : votre version sera enregistrée par-dessus la
version $version.</p>
$fields
<div class="compare">
<div>
<h3>Version enregistrée (version $version, par $author)</h3>
<pre class="text-block" tabindex="0">$theirs</pre>
</div>
<div>
<h3>Votre version (non enregistrée)</h3>
<pre class="text-block" tabindex="0">$mine</pre>
</div>
</div>
<details open>
<summary>Différences entre la version enregistrée et la vôtre</summary>
$diff
</details>
</section>"""


def article_form_page(
    *,
    session: StaffSession,
    values: Mapping[str, str],
    is_new: bool,
    version: int,
    errors: Mapping[str, str],
    other_errors: Sequence[str],
    preview: Markup,
    categories: Sequence[str],
    extra: Mapping[str, object],
    conflict: Conflict | None = None,
    flash: Flash | None = None,
) -> str:
    slug = values.get("slug", "")
    csrf = session.csrf_token
    if is_new:
        slug_field = _input(
            "slug",
            values,
            errors,
            hint="Lettres minuscules sans accent, chiffres et tirets, par exemple "
            "« carte-identite-demande ». Il ne pourra plus être modifié.",
            extra=' required maxlength="120" pattern="[a-z0-9]+(-[a-z0-9]+)*" '
            'autocomplete="off" spellcheck="false" data-slug-from="f-title"',
        )
        actions = Markup("")
    else:
        slug_field = fill(
            '<p class="field-static"><span class="label">Identifiant (slug)</span> '
            '<code>$slug</code> <span class="muted">(non modifiable)</span></p>',
            slug=slug,
        )
        status = values.get("status", "draft")
        quick: list[Markup] = []
        for target, label, cls in (
            ("published", "Publier", ""),
            ("draft", "Dépublier", "btn-secondary"),
            ("archived", "Archiver", "btn-secondary"),
        ):
            if target == status or (target == "draft" and status != "published"):
                continue
            quick.append(
                fill(
                    QUICK_ACTION,
                    slug=slug,
                    csrf=csrf,
                    version=version,
                    status=target,
                    label=label,
                    cls=cls,
                    confirm="Vos modifications non enregistrées seront perdues. Continuer ?",
                )
            )
        quick.append(
            fill(
                '<a class="btn btn-secondary" href="/admin/articles/$s/history">Historique</a>',
                s=slug,
            )
        )
        actions = join(quick)

    summary = Markup("")
    listed = [(name, message) for name, message in errors.items()]
    if listed or other_errors:
        items = [fill('<li><a href="#f-$n">$m</a></li>', n=n, m=m) for n, m in listed]
        items += [fill("<li>$m</li>", m=m) for m in other_errors]
        summary = fill(
            '<div class="alert alert-error" role="alert" id="erreurs" tabindex="-1">'
            "<h2>L’article n’a pas été enregistré</h2><ul>$items</ul></div>",
            items=join(items),
        )

    conflict_html = Markup("")
    if conflict is not None:
        fields_html = Markup("")
        if conflict.changed_fields:
            fields_html = fill(
                '<table class="data compact"><caption>Champs qui diffèrent</caption>'
                '<thead><tr><th scope="col">Champ</th><th scope="col">Version enregistrée</th>'
                '<th scope="col">Votre version</th></tr></thead><tbody>$rows</tbody></table>',
                rows=join(
                    fill(
                        '<tr><th scope="row">$l</th><td>$t</td><td>$m</td></tr>', l=lab, t=th, m=mi
                    )
                    for lab, th, mi in conflict.changed_fields
                ),
            )
        conflict_html = fill(
            CONFLICT,
            author=conflict.theirs_author,
            version=conflict.theirs_version,
            at=fmt_datetime(conflict.theirs_at),
            fields=fields_html,
            theirs=conflict.theirs_body,
            mine=values.get("body", ""),
            diff=diff_html(
                conflict.theirs_text,
                conflict.mine_text,
                label="Différences entre la version enregistrée et la vôtre",
            ),
        )

    status_attrs, status_error = _field_error(errors, "status")
    body_attrs, body_error = _field_error(errors, "body", "body-hint")
    extra_html = Markup("")
    if extra:
        extra_html = fill(
            '<details class="extra"><summary>Autres champs (importés, non modifiables ici)'
            "</summary><dl>$items</dl></details>",
            items=join(fill("<dt>$k</dt><dd>$v</dd>", k=k, v=str(v)) for k, v in extra.items()),
        )
    datalist = fill(
        '<datalist id="categories">$o</datalist>',
        o=join(fill('<option value="$c">', c=c) for c in categories),
    )
    list_hint = "Séparés par des virgules."
    body = fill(
        FORM,
        heading="Nouvel article" if is_new else f"Modifier : {values.get('title', slug)}",
        actions=actions,
        summary=summary,
        conflict=conflict_html,
        action="/admin/articles/new" if is_new else f"/admin/articles/{slug}",
        csrf=csrf,
        version=version,
        slug_field=slug_field,
        title_field=_input("title", values, errors, extra=' required maxlength="1000"'),
        category_field=fill(
            "$f$d",
            f=_input("category", values, errors, extra=' list="categories" maxlength="200"'),
            d=datalist,
        ),
        status_cls=" has-error" if status_error else "",
        status_error=status_error,
        status_attrs=status_attrs,
        status_options=_options(list(STATUS_LABELS.items()), values.get("status", "draft")),
        tags_field=_input("tags", values, errors, hint=list_hint),
        synonyms_field=_input(
            "synonyms",
            values,
            errors,
            hint="Les mots des habitants pour ce sujet, séparés par des virgules.",
        ),
        life_events_field=_input(
            "life_events",
            values,
            errors,
            hint="Par exemple « je déménage », « naissance » ; séparés par des virgules.",
        ),
        replaces_field=_input(
            "replaces",
            values,
            errors,
            hint="Identifiants des fiches Service-Public.fr que cet article remplace pour la "
            "commune (par exemple « F1342 »), séparés par des virgules.",
        ),
        service_field=_input("service", values, errors),
        contact_field=_input("contact", values, errors),
        url_field=_input("url", values, errors, kind="url", hint="Adresse commençant par https://"),
        updated_field=_input(
            "updated", values, errors, kind="date", hint="Date de la dernière vérification."
        ),
        body_cls=" has-error" if body_error else "",
        body_error=body_error,
        body_attrs=body_attrs,
        body=values.get("body", ""),
        extra_fields=extra_html,
        summary_value=values.get("summary", ""),
        save_label="Créer l’article" if is_new else "Enregistrer",
        # Re-shown after a refusal: the text in the form is not saved yet.
        unsaved=Markup(' data-unsaved="true"')
        if conflict is not None or errors or other_errors
        else Markup(""),
        cancel="/admin/articles" if is_new else f"/admin/articles/{slug}",
        preview=preview,
    )
    title = "Nouvel article" if is_new else f"Modifier {slug}"
    return layout(title, body, session=session, active="articles", flash=flash)


VIEW = """<div class="page-head">
<h1>$title</h1>
<div class="page-actions">
<a class="btn btn-secondary" href="/admin/articles/$slug/history">Historique</a></div>
</div>
$notice
<dl class="fields">$fields</dl>
<section aria-labelledby="texte-titre">
<h2 id="texte-titre">Texte</h2>
<div class="article-body">$body</div>
</section>"""


VIEW_ONLY_ROLE = """<p class="muted">Consultation seule : votre rôle ne permet pas de modifier \
les articles.</p>"""

NATIONAL_NOTICE = """<div class="notice">
<p>Fiche nationale (Service-Public.fr, DILA) : elle est mise à jour par l'import quotidien \
et ne se modifie pas ici. Pour donner les détails de la commune, écrivez un article local \
qui la remplace (champ <code>replaces: [$slug]</code> de l'article) : il répondra à sa place \
et la fiche sera proposée à côté.</p>
$action
</div>"""

NATIONAL_TOGGLE = """<form method="post" action="/admin/articles/$slug/status">
<input type="hidden" name="csrf_token" value="$csrf">
<input type="hidden" name="version" value="$version">
<input type="hidden" name="status" value="$target">
<button type="submit" class="btn btn-secondary">$label</button>
</form>"""


def article_view_page(
    *,
    session: StaffSession,
    values: Mapping[str, str],
    version: int,
    rendered: Markup,
    flash: Flash | None,
    national: bool = False,
    can_hide: bool = False,
) -> str:
    shown = [
        ("Identifiant (slug)", values.get("slug", "")),
        ("Statut", STATUS_LABELS.get(values.get("status", ""), values.get("status", ""))),
        ("Version", str(version)),
        *(
            (FIELD_LABELS[n], values.get(n, ""))
            for n in ("category", "tags", "synonyms", "life_events", "service", "contact", "url")
        ),
        ("Date de mise à jour", fmt_date(values.get("updated"))),
    ]
    slug = values.get("slug", "")
    if national:
        hidden = values.get("status") != "published"
        action = (
            fill(
                NATIONAL_TOGGLE,
                slug=slug,
                csrf=session.csrf_token,
                version=version,
                target="published" if hidden else "archived",
                label="Afficher de nouveau cette fiche" if hidden else "Masquer cette fiche",
            )
            if can_hide
            else ""
        )
        notice = fill(NATIONAL_NOTICE, slug=slug, action=action)
    else:
        notice = Markup(VIEW_ONLY_ROLE)
    body = fill(
        VIEW,
        title=values.get("title", ""),
        slug=slug,
        notice=notice,
        fields=join(fill("<dt>$k</dt><dd>$v</dd>", k=k, v=v or "—") for k, v in shown),
        body=rendered,
    )
    return layout(values.get("title", ""), body, session=session, active="articles", flash=flash)


# --- history ---
@dataclass(frozen=True)
class VersionRow:
    version: int
    author: str
    summary: str
    created_at: datetime
    status: str


HISTORY = """<div class="page-head">
<h1>Historique : $title</h1>
<div class="page-actions">
<a class="btn btn-secondary" href="/admin/articles/$slug">Retour à l’article</a></div>
</div>
<div class="table-wrap">
<table class="data">
<caption class="sr-only">Versions de l’article, de la plus récente à la plus ancienne</caption>
<thead><tr><th scope="col" class="num">Version</th><th scope="col">Date</th>
<th scope="col">Auteur</th>
<th scope="col">Résumé</th><th scope="col">Statut</th><th scope="col">Actions</th></tr></thead>
<tbody>$rows</tbody>
</table>
</div>
<section aria-labelledby="diff-titre" class="history-diff">
<h2 id="diff-titre">$diff_title</h2>
$diff
</section>"""

REVERT = """<form method="post" action="/admin/articles/$slug/revert" class="inline"
 data-confirm="$confirm">
<input type="hidden" name="csrf_token" value="$csrf">
<input type="hidden" name="version" value="$version">
<input type="hidden" name="expected_version" value="$current">
<button type="submit" class="btn btn-secondary btn-small">Revenir à cette version</button>
</form>"""


def history_page(
    *,
    session: StaffSession,
    slug: str,
    title: str,
    current: int,
    rows: Sequence[VersionRow],
    shown: int,
    diff: Markup,
    can_edit: bool,
    flash: Flash | None,
) -> str:
    items = []
    for r in rows:
        actions = [
            fill(
                '<a href="/admin/articles/$s/history?version=$v#diff-titre"$cur>'
                'Voir les changements<span class="sr-only"> de la version $v</span></a>',
                s=slug,
                v=r.version,
                cur=Markup(' aria-current="true"') if r.version == shown else Markup(""),
            )
        ]
        if can_edit and r.version != current:
            actions.append(
                fill(
                    REVERT,
                    slug=slug,
                    version=r.version,
                    current=current,
                    csrf=session.csrf_token,
                    confirm=f"Revenir à la version {r.version} ? Son texte sera enregistré "
                    "comme nouvelle version.",
                )
            )
        if r.version == current:
            actions.append(Markup('<span class="muted">version actuelle</span>'))
        items.append(
            fill(
                '<tr$cls><td class="num">$v</td><td>$at</td><td>$author</td><td>$summary</td>'
                '<td>$badge</td><td class="actions">$actions</td></tr>',
                cls=Markup(' class="selected"') if r.version == shown else Markup(""),
                v=r.version,
                at=fmt_datetime(r.created_at),
                author=r.author,
                summary=r.summary or "—",
                badge=status_badge(r.status),
                actions=join(actions, " "),
            )
        )
    diff_title = (
        f"Changements de la version {shown} par rapport à la version {shown - 1}"
        if shown > 1
        else f"Version {shown} : création de l’article"
    )
    body = fill(
        HISTORY,
        title=title,
        slug=slug,
        rows=join(items),
        diff_title=diff_title,
        diff=diff,
    )
    return layout(f"Historique de {slug}", body, session=session, active="articles", flash=flash)


# --- test a question ---
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


TEST = """<h1>Tester une question</h1>
<p>Voyez ce que le bot répondrait, sans rien enregistrer : la question n’apparaît pas
dans les statistiques ni dans les questions sans réponse.</p>
<form method="get" action="/admin/test" class="filters" role="search"
 aria-label="Tester une question">
<div class="field field-grow">
<label for="q">Question d’un habitant</label>
<input type="search" id="q" name="q" value="$q" maxlength="2000" required>
</div>
<div class="filters-actions"><button type="submit" class="btn">Tester</button></div>
</form>
$result"""

TEST_RESULT = """<section aria-labelledby="verdict-titre" class="result">
<h2 id="verdict-titre">Verdict : <span class="verdict verdict-$kind">$label</span></h2>
<p>$explanation</p>
$passages
<h2>Articles trouvés</h2>
<p class="hint">Le score fusionné combine la recherche par le sens (cosinus) et la
recherche par mots (BM25 normalisé par le score d’une correspondance idéale). Les rangs
sont ceux de chaque recherche prise seule. Seuils de décision : $thresholds.</p>
$table
</section>"""

RANKED_TABLE = """<div class="table-wrap"><table class="data">
<caption class="sr-only">Articles classés par score fusionné</caption>
<thead><tr><th scope="col" class="num">Rang</th><th scope="col">Article</th>
<th scope="col" class="num">Score fusionné</th><th scope="col" class="num">Cosinus</th>
<th scope="col" class="num">BM25 normalisé</th><th scope="col" class="num">Rang mots</th>
<th scope="col" class="num">Rang sens</th><th scope="col">Autres indices</th></tr></thead>
<tbody>$rows</tbody></table></div>"""

RANKED_ROW = """<tr><td class="num">$i</td>
<td><a href="/admin/articles/$slug">$title</a><br><code class="slug">$slug</code></td>
<td class="num">$score</td><td class="num">$cos</td><td class="num">$bm</td>
<td class="num">$lr</td><td class="num">$dr</td><td>$other</td></tr>"""


def _num(value: object, digits: int = 3) -> str:
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}".replace(".", ",")
    return str(value)


def test_page(
    *,
    session: StaffSession,
    q: str,
    confidence: str | None,
    passages: Sequence[PassageView],
    ranked: Sequence[RankedView],
    thresholds: Mapping[str, object],
) -> str:
    result = Markup("")
    if confidence is not None:
        label, explanation = CONFIDENCE_LABELS.get(confidence, (confidence, ""))
        passages_html = join(
            fill(
                '<article class="passage"><h3><a href="/admin/articles/$slug">$title</a></h3>'
                '<p class="passage-text">$text</p>$link</article>',
                slug=p.slug,
                title=p.title,
                text=p.text or "(article sans texte : le titre et le lien font la réponse)",
                link=fill('<p class="muted">Lien cité : $u</p>', u=p.url) if p.url else "",
            )
            for p in passages
        )
        if ranked:
            table = fill(
                RANKED_TABLE,
                rows=join(
                    fill(
                        RANKED_ROW,
                        i=i,
                        slug=r.slug,
                        title=r.title,
                        score=_num(r.score, 4),
                        cos=_num(r.cosine),
                        bm=_num(r.bm25_norm),
                        lr=_num(r.lexical_rank),
                        dr=_num(r.dense_rank),
                        other=", ".join(f"{k} = {_num(v)}" for k, v in r.other) or "—",
                    )
                    for i, r in enumerate(ranked, 1)
                ),
            )
        else:
            table = Markup('<p class="empty">Aucun article publié ne correspond.</p>')
        result = fill(
            TEST_RESULT,
            kind=confidence,
            label=label,
            explanation=explanation,
            passages=passages_html,
            table=table,
            thresholds=" ; ".join(f"{k} = {_num(v, 2)}" for k, v in thresholds.items()),
        )
    body = fill(TEST, q=q, result=result)
    return layout("Tester une question", body, session=session, active="test")


# --- unanswered questions ---
@dataclass(frozen=True)
class UnansweredRow:
    question: str
    channel: str
    created_at: datetime
    new_url: str


def unanswered_page(*, session: StaffSession, rows: Sequence[UnansweredRow], can_edit: bool) -> str:
    if rows:
        action_head = Markup('<th scope="col">Action</th>') if can_edit else Markup("")
        table = fill(
            '<div class="table-wrap"><table class="data">'
            '<caption class="sr-only">Questions restées sans réponse, les plus récentes d’abord'
            '</caption><thead><tr><th scope="col">Date</th><th scope="col">Canal</th>'
            '<th scope="col">Question</th>$head</tr></thead><tbody>$rows</tbody></table></div>',
            head=action_head,
            rows=join(
                fill(
                    "<tr><td>$at</td><td>$channel</td><td>$q</td>$action</tr>",
                    at=fmt_datetime(r.created_at),
                    channel=CHANNEL_LABELS.get(r.channel, r.channel),
                    q=r.question,
                    action=fill(
                        '<td><a href="$u">Rédiger un article'
                        '<span class="sr-only"> pour « $q »</span></a></td>',
                        u=r.new_url,
                        q=r.question,
                    )
                    if can_edit
                    else "",
                )
                for r in rows
            ),
        )
    else:
        table = Markup('<p class="empty">Aucune question sans réponse pour le moment.</p>')
    body = fill(
        "<h1>Questions sans réponse</h1>"
        "<p>Les 100 dernières questions auxquelles le bot n’a pas trouvé de réponse fiable. "
        "Un article qui y répond, ou un synonyme ajouté au lexique, comble le manque.</p>$t",
        t=table,
    )
    return layout("Questions sans réponse", body, session=session, active="unanswered")


# --- lexicon ---
LEXICON = """<h1>Lexique</h1>
<p>Chaque ligne est un groupe d’expressions que la recherche considère comme
équivalentes, séparées par des virgules. Exemple :
<code>carte d’identité, CNI, carte nationale d’identité</code>.</p>
$errors
$conflict
<form method="post" action="/admin/lexicon" class="stack" data-dirty-check>
<input type="hidden" name="csrf_token" value="$csrf">
<input type="hidden" name="base" value="$base">
<div class="field$cls">
<label for="f-groups">Groupes de synonymes ($count groupes)</label>
<p class="hint" id="groups-hint">Au moins deux expressions par ligne. Les lignes vides
sont ignorées.</p>
<textarea id="f-groups" name="groups" rows="24" spellcheck="false"
 aria-describedby="groups-hint"$attrs>$groups</textarea>
</div>
<div class="form-actions"><button type="submit" class="btn">Enregistrer le lexique</button></div>
</form>"""


def lexicon_page(
    *,
    session: StaffSession,
    text: str,
    count: int,
    base: str,
    can_edit: bool,
    errors: Sequence[str] = (),
    current_text: str | None = None,
    flash: Flash | None = None,
) -> str:
    if not can_edit:
        body = fill(
            "<h1>Lexique</h1><p>Groupes d’expressions équivalentes pour la recherche "
            "($count groupes). Consultation seule.</p>"
            '<pre class="text-block" tabindex="0">$t</pre>',
            count=count,
            t=text,
        )
        return layout("Lexique", body, session=session, active="lexicon", flash=flash)
    errors_html = Markup("")
    if errors:
        errors_html = fill(
            '<div class="alert alert-error" role="alert" id="erreurs" tabindex="-1">'
            "<h2>Le lexique n’a pas été enregistré</h2><ul>$items</ul></div>",
            items=join(fill("<li>$m</li>", m=m) for m in errors),
        )
    conflict_html = Markup("")
    if current_text is not None:
        conflict_html = fill(
            '<section class="alert alert-warning" role="alert"><h2>Le lexique a été modifié '
            "entre-temps</h2><p>Quelqu’un a enregistré le lexique depuis que vous avez ouvert "
            "cette page. Votre texte est conservé ci-dessous ; comparez avec la version "
            "enregistrée, puis enregistrez à nouveau.</p>$diff</section>",
            diff=diff_html(current_text, text, label="Différences avec le lexique enregistré"),
        )
    body = fill(
        LEXICON,
        errors=errors_html,
        conflict=conflict_html,
        csrf=session.csrf_token,
        base=base,
        cls=" has-error" if errors else "",
        count=count,
        attrs=Markup(' aria-invalid="true"') if errors else Markup(""),
        groups=text,
    )
    return layout("Lexique", body, session=session, active="lexicon", flash=flash)
