"""What every page of the /admin area uses: errors, redirects, form fields, messages.

Pages follow post/redirect/get: a successful form redirects with a message code
(`?msg=`), never with text taken from the request; `flash_message` turns the code
back into French.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from bot.admin.auth import current_session
from bot.admin.pages import Flash
from bot.admin.users import Role
from bot.core.text import fold

EDITORS = (Role.EDITOR, Role.ADMIN)
EVERYONE = tuple(Role)


class PageError(Exception):
    """Ends a request with a French error page (or JSON error on API paths)."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(f"{status} {title}")
        self.status, self.title, self.message = status, title, message


def redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def html_response(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html")


def form_str(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def form_int(form: Mapping[str, Any], name: str) -> int:
    value = form_str(form, name).strip()
    if not value.isdigit() or len(value) > 9:
        raise PageError(400, "Requête invalide", "Le formulaire est incomplet : rechargez la page.")
    return int(value)


def can_edit(request: web.Request) -> bool:
    return current_session(request).user.has_role(frozenset(EDITORS))


def newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def search_key(text: str) -> str:
    """How the staff area compares what staff type (searches, duplicates): bot.core.text's
    `fold`, then `casefold` (ß as ss) and single spaces (a line break or a double space
    in an article's body must not hide a match)."""
    return " ".join(fold(text).casefold().split())


def flash_message(request: web.Request) -> Flash | None:
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
