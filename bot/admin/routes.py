"""The /admin area's routes, its error pages, and its static files.

The pages live by group: articles/ (list, editor, history), tools.py (test a
question, unanswered questions), lexicon.py, life_events.py, stats/. Every handler
carries its access rule (`require_role` or `public`); the auth middleware refuses
any route without one.
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from bot.admin.articles.form import api_preview
from bot.admin.articles.handlers import (
    article_create,
    article_edit,
    article_list,
    article_new,
    article_save,
    article_status,
    home,
)
from bot.admin.articles.history import article_history, article_revert
from bot.admin.auth import STAFF_SESSION, public
from bot.admin.common import PageError, html_response
from bot.admin.lexicon import lexicon, lexicon_save
from bot.admin.life_events import setup_life_event_routes
from bot.admin.pages import STATIC_DIR, error_page
from bot.admin.stats import stats_csv, stats_page
from bot.admin.tools import test_question, unanswered
from bot.core.static import CSS, JS, StaticFiles

log = logging.getLogger(__name__)

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
    return html_response(error_page(status, title, message, request.get(STAFF_SESSION)), status)


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
