"""The staff pages' Jinja2 environment: template files in bot/admin/templates/.

Autoescape is on for every template: a value is escaped unless it is `Markup`
(nh3-sanitised article HTML, or a fragment rendered from a template here).
`_finalize` escapes the way the pages always have (`html.escape`, so `&quot;` and
`&#x27;`) and prints None as nothing. Page text is French; code and comments English.
"""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import Markup

from bot.admin.users import Role, StaffSession

__all__ = ["Flash", "Markup", "error_page", "render", "render_page"]

TEMPLATE_DIR = Path(__file__).with_name("templates")
STATIC_DIR = Path(__file__).with_name("static")
TIMEZONE = ZoneInfo("Europe/Paris")

# --- labels ---
STATUS_LABELS = {"draft": "Brouillon", "published": "Publié", "archived": "Archivé"}
ROLE_LABELS = {Role.EDITOR: "rédacteur", Role.AGENT: "agent", Role.ADMIN: "administrateur"}
CHANNEL_LABELS = {"webchat": "Chat du site", "phone": "Téléphone"}
# The knowledge base's verdicts: (short label, what the bot would do), for the test page;
# the statistics use the short label.
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


@dataclass(frozen=True)
class Flash:
    kind: str  # "success", "info", "error"
    text: str


def _asset_version(name: str) -> str:
    try:
        return hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:10]
    except OSError:
        return "0"


ASSETS = {name: _asset_version(name) for name in ("staff.css", "admin.css", "admin.js")}


# --- formatting (also the templates' filters) ---
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


def fmt_number(value: object, digits: int = 3) -> str:
    """French decimals for the test page's scores; None as a dash."""
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}".replace(".", ",")
    return str(value)


def _finalize(value: Any) -> Any:
    if hasattr(value, "__html__"):
        return value
    return Markup(html.escape("" if value is None else str(value), quote=True))


ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
    autoescape=True,
    finalize=_finalize,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
)
ENV.filters.update(
    datetime=fmt_datetime,
    date=fmt_date,
    number=fmt_number,
    pairs=lambda values: [(v, v) for v in values],  # options whose value is their label
)
ENV.globals.update(
    ASSETS=ASSETS,
    NAV=NAV,
    STATUS_LABELS=STATUS_LABELS,
    ROLE_LABELS=ROLE_LABELS,
    CHANNEL_LABELS=CHANNEL_LABELS,
    CONFIDENCE_LABELS=CONFIDENCE_LABELS,
    FIELD_LABELS=FIELD_LABELS,
)


def render(name: str, /, **context: Any) -> Markup:
    """A template (a page or a fragment) as safe HTML."""
    return Markup(ENV.get_template(name).render(**context))


def render_page(
    name: str,
    /,
    *,
    session: StaffSession | None,
    title: str,
    active: str = "",
    flash: Flash | None = None,
    csrf: str = "",
    **context: Any,
) -> str:
    """A whole page: `name` extends base.html (header, navigation, message, footer)."""
    return str(
        render(
            name,
            session=session,
            page_title=title,
            active=active,
            flash=flash,
            csrf=session.csrf_token if session is not None else csrf,
            **context,
        )
    )


def error_page(status: int, title: str, message: str, session: StaffSession | None) -> str:
    return render_page(
        "error.html", session=session, title=f"{title} ({status})", message=message, heading=title
    )
