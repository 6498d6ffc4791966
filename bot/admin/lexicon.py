"""/admin/lexicon: the search's synonym groups, one a line, edited as one text."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence

from aiohttp import web

from bot.admin.auth import current_session, require_role
from bot.admin.common import (
    EDITORS,
    EVERYONE,
    can_edit,
    flash_message,
    form_str,
    html_response,
    newlines,
    redirect,
    search_key,
)
from bot.admin.context import admin_context
from bot.admin.diff import diff_html
from bot.admin.pages import Flash, render_page
from bot.admin.users import StaffSession

log = logging.getLogger(__name__)

MAX_LEXICON_LINES = 5000
MAX_EXPRESSION_CHARS = 200


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
            if expression and search_key(expression) not in seen:
                seen.add(search_key(expression))
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
    groups = await admin_context(request).knowledge.lexicon_groups()
    page = _lexicon_page(
        current_session(request),
        text=lexicon_text(groups),
        count=len(groups),
        base=lexicon_base(groups),
        can_edit=can_edit(request),
        flash=flash_message(request),
    )
    return html_response(page)


@require_role(*EDITORS)
async def lexicon_save(request: web.Request) -> web.StreamResponse:
    knowledge = admin_context(request).knowledge
    session = current_session(request)
    form = await request.post()
    text = newlines(form_str(form, "groups"))
    groups, errors = parse_lexicon(text)
    current = await knowledge.lexicon_groups()
    stale = form_str(form, "base") != lexicon_base(current)
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
        return html_response(page, 409 if stale and not errors else 422)
    await knowledge.set_lexicon(groups)
    log.info("lexicon replaced (%d groups) by staff user %s", len(groups), session.user.id)
    return redirect("/admin/lexicon?msg=lexicon")
