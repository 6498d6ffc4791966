"""/admin and national fiches: read-only, hidden by staff, and kept hidden by imports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.admin.users import Role, UserStore
from knowledge_base.articles import Status
from knowledge_base.sources.service_public import ServicePublicSource
from tests.support.public_app import PublicApp, public_app
from tests.unit.test_admin_auth import PASSWORD

EDITOR = "redaction@villebrune.example"
AGENT = "accueil@villebrune.example"
DATA = Path(__file__).resolve().parents[1] / "data" / "service_public"
QUESTION = "ma mairie peut-elle me faire un certificat de concubinage ?"


async def import_fiches(env: PublicApp) -> None:
    report = await env.services.knowledge.import_source(ServicePublicSource(DATA), "cron")
    assert [name for name, _ in report.errors] == []


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[PublicApp]:
    async with public_app(tmp_path / "data") as app:
        users = UserStore(app.services.engine)
        await users.create(EDITOR, PASSWORD, Role.EDITOR)
        await users.create(AGENT, PASSWORD, Role.AGENT)
        await import_fiches(app)
        yield app


async def test_a_national_fiche_is_read_only_and_hidden_until_staff_show_it(env: PublicApp) -> None:
    kb = env.services.knowledge
    editor = await env.signed_in(EDITOR)
    try:
        resp, page = await editor.get("/admin/articles/f1433")
        assert resp.status == 200
        assert "Fiche nationale (Service-Public.fr, DILA)" in page
        assert 'name="body"' not in page  # no editing form
        assert "Masquer cette fiche" in page
        # A save posted anyway is refused, the fiche unchanged.
        before = await kb.store.get("f1433")
        assert before is not None
        resp, page = await editor.post(
            "/admin/articles/f1433",
            {"version": str(before.version), "title": "Changé", "body": "Changé"},
        )
        assert resp.status == 403 and "ne se modifient pas ici" in page
        assert await kb.store.get("f1433") == before
        # Hidden: out of the answers, and the daily import keeps it hidden.
        assert (await kb.rank(QUESTION))[0].slug == "f1433"
        resp, _ = await editor.post(
            "/admin/articles/f1433/status", {"version": str(before.version), "status": "archived"}
        )
        assert resp.status == 303
        await import_fiches(env)
        hidden = await kb.store.get("f1433")
        assert hidden is not None and hidden.status is Status.ARCHIVED
        assert "f1433" not in [r.slug for r in await kb.rank(QUESTION)]
        resp, page = await editor.get("/admin/articles/f1433")
        assert "Afficher de nouveau cette fiche" in page
        # Shown again: back in the answers, and the next import keeps it published.
        resp, _ = await editor.post(
            "/admin/articles/f1433/status", {"version": str(hidden.version), "status": "published"}
        )
        assert resp.status == 303
        await import_fiches(env)
        shown = await kb.store.get("f1433")
        assert shown is not None and shown.status is Status.PUBLISHED
        assert (await kb.rank(QUESTION))[0].slug == "f1433"
    finally:
        await editor.close()


async def test_an_agent_reads_a_national_fiche_without_the_hide_button(env: PublicApp) -> None:
    agent = await env.signed_in(AGENT)
    try:
        resp, page = await agent.get("/admin/articles/f1433")
        assert resp.status == 200 and "Fiche nationale" in page
        assert "Masquer cette fiche" not in page
    finally:
        await agent.close()


async def test_a_local_article_written_in_admin_replaces_a_fiche(env: PublicApp) -> None:
    kb = env.services.knowledge
    editor = await env.signed_in(EDITOR)
    form = {
        "slug": "certificat-concubinage-villebrune",
        "title": "Certificat de concubinage à Villebrune",
        "status": "published",
        "body": "La mairie de Villebrune délivre le certificat sur rendez-vous, à l'accueil, "
        "avec une pièce d'identité de chacun et deux témoins majeurs.",
    }
    try:
        await editor.get("/admin/articles/new")
        # A value that is no fiche ID: a French message on the field, nothing stored.
        resp, page = await editor.post("/admin/articles/new", {**form, "replaces": "F 14/33"})
        assert resp.status == 422 and "des identifiants de fiches comme" in page
        assert await kb.store.get(form["slug"]) is None
        # The ID as Service-Public.fr writes it.
        resp, _ = await editor.post("/admin/articles/new", {**form, "replaces": "F1433"})
        assert resp.status == 303
        saved = await kb.store.get(form["slug"])
        assert saved is not None and saved.extra["replaces"] == ["f1433"]
        resp, page = await editor.get(f"/admin/articles/{form['slug']}")
        assert 'value="f1433"' in page
    finally:
        await editor.close()
    answer, ranked = await kb.preview(QUESTION)
    top = answer.passages[0]
    assert top.slug == form["slug"] and "f1433" not in [r.slug for r in ranked]
    assert top.see_also is not None and top.see_also.slug == "f1433"
