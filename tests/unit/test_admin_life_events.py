"""/admin/life-events over HTTP: staff list, rename, merge and order the life events.

The app is built as in production (`Services.start` + `create_public_app`) with the
Rasa double, on demo articles imported into an empty base; the life-event answer is
checked through the app's own action executor, as Rasa would call it.
"""

from __future__ import annotations

import asyncio
import html
import shutil
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any
from urllib.parse import quote_plus

import pytest

from bot.admin.users import Role, UserStore
from bot.app import DEMO_BASE
from knowledge_base.articles import Article, Status
from knowledge_base.event_store import LifeEventStore
from knowledge_base.life_events import EventSettings
from knowledge_base.store import VersionConflict
from tests.support.actions import run_action
from tests.support.public_app import PublicApp, public_app
from tests.unit.test_admin_auth import PASSWORD, Browser

EDITOR = "redaction@villebrune.example"
AGENT = "accueil@villebrune.example"

BIRTH = "mon enfant est né"
EXPECTING = "j'attends un enfant"
DEATH = "un proche est décédé"
NEW_BIRTH = "L'arrivée d'un bébé"
SLUGS = [
    # un proche est décédé
    "actes-etat-civil-copies",
    "cimetiere-concessions",
    "cimetiere-inhumation-cremation",
    "deces-declaration",
    "dechets-encombrants",
    "livret-de-famille",
    "taxe-habitation-residence-secondaire",
    # mon enfant est né (with livret-de-famille)
    "bapteme-civil",
    "creches-inscription",
    "naissance-declaration",
    "reconnaissance-enfant",
    "titres-identite-mineurs",
    # j'attends un enfant (with reconnaissance, naissance, crèches)
    "relais-petite-enfance",
    "assistantes-maternelles",
]


Env = PublicApp


@pytest.fixture(scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    async with public_app(tmp_path_factory.mktemp("life-events-admin")) as app:
        users = UserStore(app.services.engine)
        await users.create(EDITOR, PASSWORD, Role.EDITOR)
        await users.create(AGENT, PASSWORD, Role.AGENT)
        source = tmp_path_factory.mktemp("life-events-articles")
        for slug in SLUGS:
            shutil.copy(DEMO_BASE / f"{slug}.md", source)
        report = await app.services.knowledge.import_dir(source, "import")
        assert report.ok and len(report.created) == len(SLUGS)
        yield app


async def signed_in(env: Env, email: str) -> Browser:
    return await env.signed_in(email)


@pytest.fixture
async def editor(env: Env) -> AsyncIterator[Browser]:
    b = await signed_in(env, EDITOR)
    yield b
    await b.close()


@pytest.fixture
async def agent(env: Env) -> AsyncIterator[Browser]:
    b = await signed_in(env, AGENT)
    yield b
    await b.close()


def page_url(tag: str) -> str:
    return f"/admin/life-events/event?tag={quote_plus(tag)}"


async def answer(env: Env, text: str, tag: str) -> dict[str, Any]:
    """The life-event answer's list of procedures, as the citizen would get it."""
    replies = await run_action(
        env.services.executor,
        "action_life_event",
        text,
        "life_event",
        {"guichet": {"life_event": tag}},
    )
    return replies[-1]


async def tagged(env: Env, tag: str) -> list[str]:
    return [a.slug for a in await env.services.knowledge.store.all() if tag in a.life_events]


async def draft(env: Env, slug: str, events: tuple[str, ...]) -> Article:
    article = Article(slug=slug, title=f"Brouillon {slug}", body="À relire.", life_events=events)
    return await env.services.knowledge.save(article, author="import", expected_version=0)


# --- reading ---
async def test_list_shows_each_event_with_its_articles_in_the_bots_order(
    env: Env, agent: Browser
) -> None:
    resp, page = await agent.get("/admin/life-events")
    assert resp.status == 200
    assert '<a href="/admin/life-events" aria-current="page">Moments de vie</a>' in page
    assert html.escape(DEATH) in page and html.escape(EXPECTING) in page
    # The death's procedures in the order the bot gives them: declaration first.
    start = page.index(f">{html.escape(DEATH)}</a></h2>")
    section = page[start : page.index("</section>", start)]
    assert section.index("deces-declaration") < section.index("cimetiere-inhumation-cremation")
    assert section.index("cimetiere-inhumation-cremation") < section.index("dechets-encombrants")
    assert "7 articles, dont 7 publiés" in section
    # An agent reads an event's page, without the forms.
    resp, page = await agent.get(page_url(DEATH))
    assert resp.status == 200 and "Ordre des articles" in page
    assert 'action="/admin/life-events/rename"' not in page
    resp, _ = await agent.post("/admin/life-events/rename", {"tag": DEATH, "name": "Deuil"})
    assert resp.status == 403
    assert await tagged(env, DEATH)


async def test_unknown_event_and_missing_csrf_are_refused(env: Env, editor: Browser) -> None:
    resp, page = await editor.get(page_url("je pars sur Mars"))
    assert resp.status == 404 and "Moment de vie introuvable" in page
    assert "je pars sur Mars" in page
    resp, _ = await editor.post(
        "/admin/life-events/rename", {"tag": DEATH, "name": "Deuil"}, csrf=False
    )
    assert resp.status == 403
    resp, page = await editor.post(
        "/admin/life-events/order", {"tag": "je pars sur Mars", "position-x": "1"}
    )
    assert resp.status == 404 and "introuvable" in page
    assert await tagged(env, DEATH) and not await tagged(env, "Deuil")


# --- rename ---
async def test_bad_names_are_explained_in_french_and_nothing_changes(
    env: Env, editor: Browser
) -> None:
    before = {a.slug: a.version for a in await env.services.knowledge.store.all()}
    cases = [
        ("   ", "Nouveau nom : obligatoire."),
        ("naissance, adoption", "sans virgule"),
        ("x" * 201, "200 caractères au plus"),
        # Another event's name, whatever the case and accents: a merge, not a rename.
        ("UN PROCHE EST DECEDE", "existe déjà"),
    ]
    for name, message in cases:
        resp, page = await editor.post("/admin/life-events/rename", {"tag": BIRTH, "name": name})
        assert resp.status == 422, name
        assert html.escape(message) in page and "Rien n’a été modifié" in page
    after = {a.slug: a.version for a in await env.services.knowledge.store.all()}
    assert after == before


async def test_rename_rewrites_every_article_with_history_and_the_bot_follows(
    env: Env, editor: Browser
) -> None:
    knowledge = env.services.knowledge
    hidden = await draft(env, "bebe-brouillon", (BIRTH, "je déménage"))
    births = await tagged(env, BIRTH)
    assert len(births) == 7
    new = NEW_BIRTH
    resp, _ = await editor.post("/admin/life-events/rename", {"tag": BIRTH, "name": f"  {new} "})
    assert resp.status == 303
    assert resp.headers["Location"] == page_url(new) + "&msg=renamed&n=7"
    resp, page = await editor.get(resp.headers["Location"])
    assert "Moment de vie renommé : 7 articles mis à jour." in page
    assert "anciens noms : « mon enfant est né »" in html.unescape(page)

    # Every article, the draft included, carries the new name in place of the old.
    assert await tagged(env, new) == births and not await tagged(env, BIRTH)
    stored = await knowledge.store.get(hidden.slug)
    assert stored is not None and stored.life_events == (new, "je déménage")
    assert stored.status is Status.DRAFT
    for slug in births:
        (latest, *_) = await knowledge.store.history(slug)
        assert latest.author == EDITOR
        assert latest.summary == f"moment de vie « {BIRTH} » renommé « {new} »"
        indexed = knowledge.index.article(slug)
        if indexed is not None:  # published: the index holds the new version
            assert indexed.version == latest.version
    resp, page = await editor.get("/admin/life-events")
    assert html.escape(new) in page and f">{html.escape(BIRTH)}</a>" not in page

    # The bot: the new name, the old name and the old phrasings name the event,
    # whose procedures keep their order (declaration within 5 days first).
    events = env.services.life_events
    assert events is not None and events.event(BIRTH) is None
    for text in (new, BIRTH, "notre fille est née ce matin"):
        found = events.match(text)
        assert found is not None and found.tag == new, text
    steps = await answer(env, "notre fille est née ce matin", new)
    assert steps["life_event"] == new
    assert steps["articles"][0] == "naissance-declaration"
    assert "bebe-brouillon" not in steps["articles"]  # a draft is never offered


async def test_merge_joins_the_articles_once_and_the_order_of_both(
    env: Env, editor: Browser
) -> None:
    knowledge = env.services.knowledge
    await draft(env, "famille-brouillon", (EXPECTING,))
    expecting = await tagged(env, EXPECTING)
    # The birth, under the name the test before may have given it.
    tags = (await knowledge.life_events_overview()).tags()
    target = next(t for t in (NEW_BIRTH, BIRTH) if t in tags)
    kept = (await knowledge.life_events_overview()).articles(target)
    moved = (await knowledge.life_events_overview()).articles(EXPECTING)

    # The target must be another existing event.
    for into in ("", EXPECTING, "je pars sur Mars"):
        resp, page = await editor.post("/admin/life-events/merge", {"tag": EXPECTING, "into": into})
        assert resp.status == 422 and "Choisissez le moment de vie" in page
    resp, _ = await editor.post("/admin/life-events/merge", {"tag": EXPECTING, "into": target})
    assert resp.status == 303
    assert resp.headers["Location"] == page_url(target) + f"&msg=merged&n={len(expecting)}"

    assert not await tagged(env, EXPECTING)
    for article in await knowledge.store.all():
        assert len(set(article.life_events)) == len(article.life_events), article.slug
        if article.slug in expecting:
            assert target in article.life_events
    # The target's own articles first, then the merged event's new ones.
    order = list((await knowledge.life_events_overview()).articles(target))
    assert order == kept + [s for s in moved if s not in kept]
    # The merged event's name and phrasings now bring the merged set.
    events = env.services.life_events
    assert events is not None
    for text in (EXPECTING, "on attend un bébé pour juin"):
        found = events.match(text)
        assert found is not None and found.tag == target, text
    assert "relais-petite-enfance" in (await answer(env, "on attend un bébé", target))["articles"]
    resp, page = await editor.get("/admin/life-events")
    assert f">{html.escape(EXPECTING)}</a>" not in page


# --- order ---
async def test_staff_order_is_stored_and_the_answer_follows_it(env: Env, editor: Browser) -> None:
    knowledge = env.services.knowledge
    await draft(env, "deuil-brouillon", (DEATH,))
    overview = await knowledge.life_events_overview()
    current = overview.articles(DEATH)
    assert current[0] == "deces-declaration"
    # Bad positions: French message, nothing stored.
    resp, page = await editor.post(
        "/admin/life-events/order",
        {"tag": DEATH, "position-deces-declaration": "premier", "position-livret-de-famille": "0"},
    )
    assert resp.status == 422
    text = html.unescape(page)
    assert "Position de « Déclarer un décès et obtenir un acte de décès » : un nombre " in text
    assert "entier de 1 à 999 est attendu (reçu « premier »)" in text
    assert "(reçu « 0 »)" in text and "Rien n’a été modifié" in text
    assert (await knowledge.life_events_overview()).articles(DEATH) == current

    # The family record book first, the declaration second; the others keep their order.
    form = {f"position-{slug}": str(i) for i, slug in enumerate(current, 1)}
    form["position-livret-de-famille"] = "1"
    form["position-deces-declaration"] = "2"
    resp, _ = await editor.post("/admin/life-events/order", {"tag": DEATH, **form})
    assert resp.status == 303 and resp.headers["Location"] == page_url(DEATH) + "&msg=ordered"
    resp, page = await editor.get(resp.headers["Location"])
    assert "Ordre des articles enregistré" in page
    expected = ["livret-de-famille", "deces-declaration"] + [
        s for s in current if s not in ("livret-de-famille", "deces-declaration")
    ]
    assert list((await knowledge.life_events_overview()).articles(DEATH)) == expected
    assert page.index("/admin/articles/livret-de-famille") < page.index(
        "/admin/articles/deces-declaration"
    )
    # The bot's answer follows it, drafts left out.
    steps = await answer(env, "mon père est mort hier", DEATH)
    assert steps["articles"] == [s for s in expected if s != "deuil-brouillon"]
    assert [b["payload"] for b in steps["buttons"]][:2] == [
        '/ask_question{"kb_article":"livret-de-famille"}',
        '/ask_question{"kb_article":"deces-declaration"}',
    ]
    # An article tagged later comes after the ordered ones.
    later = Article(
        slug="aaa-deuil-aide",
        title="Aide au deuil",
        body="Le CCAS accompagne les familles.",
        life_events=(DEATH,),
        status=Status.PUBLISHED,
    )
    await knowledge.save(later, author="import", expected_version=0)
    assert (await answer(env, "mon père est mort", DEATH))["articles"][-1] == "aaa-deuil-aide"


# --- one transaction ---
async def test_a_stale_article_leaves_every_article_as_it_was(env: Env) -> None:
    store = env.services.knowledge.store
    a = await store.get("bapteme-civil")
    b = await store.get("creches-inscription")
    assert a is not None and b is not None
    versions = len(await store.history("bapteme-civil"))
    changes = [
        (replace(a, life_events=("renommé",)), a.version),
        (replace(b, life_events=("renommé",)), b.version - 1),  # edited meanwhile
    ]
    with pytest.raises(VersionConflict):
        await store.save_many(changes, "test", "renommage")
    # The first article's write went back with the second's conflict.
    assert await store.get("bapteme-civil") == a
    assert len(await store.history("bapteme-civil")) == versions
    assert not await tagged(env, "renommé")


async def test_an_order_set_through_another_instance_reaches_this_one(env: Env) -> None:
    # Another app instance writes the settings in the shared database; this one's
    # follow loop (started by Services.start) rebuilds its life events from them.
    events = env.services.life_events
    assert events is not None
    current = list((await env.services.knowledge.life_events_overview()).articles(DEATH))
    wanted = tuple(reversed(current))
    other = LifeEventStore(env.services.engine)
    settings = (await other.load()).get(DEATH, EventSettings())
    await other.put(DEATH, replace(settings, order=wanted), "instance-b@villebrune.example")
    # The bot's list: the published articles, now in that order.
    offered = set(events.articles(DEATH))
    expected = [s for s in wanted if s in offered]
    assert events.articles(DEATH) != expected
    async with asyncio.timeout(30):
        while True:
            if events.articles(DEATH) == expected:
                break
            await asyncio.sleep(0.1)


async def test_a_former_name_taken_by_a_rename_is_that_event_alone(
    env: Env, editor: Browser
) -> None:
    knowledge = env.services.knowledge
    await draft(env, "vacances-brouillon", ("le cas alpha",))
    await draft(env, "voyage-brouillon", ("le cas bêta",))
    await draft(env, "avion-brouillon", ("le cas gamma",))
    resp, _ = await editor.post(
        "/admin/life-events/merge", {"tag": "le cas bêta", "into": "le cas alpha"}
    )
    assert resp.status == 303
    settings = await knowledge.life_event_settings.load()
    assert settings["le cas alpha"].former == ("le cas bêta",)
    # "le cas bêta" is free again as an event's name: it names that event only.
    resp, _ = await editor.post(
        "/admin/life-events/rename", {"tag": "le cas gamma", "name": "le cas bêta"}
    )
    assert resp.status == 303
    settings = await knowledge.life_event_settings.load()
    assert settings["le cas alpha"].former == ()
    assert settings["le cas bêta"].former == ("le cas gamma",)
    found = (await knowledge.life_events_overview()).match("le cas bêta")
    assert found is not None and found.tag == "le cas bêta"
