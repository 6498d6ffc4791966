"""The /admin staff area over HTTP: sign-in, sessions, CSRF, roles and the editing flows.

The app is built as in production (`Services.start` + `create_public_app`) on
an empty base, with the Rasa double; each test signs in its own browser-like
client (cookie jar) and uses its own articles.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestServer
from argon2 import PasswordHasher

from bot.admin import STAFF_AUTH
from bot.admin.auth import MAX_CONCURRENT_HASHES, LoginThrottle, StaffAuth, require_role
from bot.admin.users import Role, UserStore, hash_token, staff_sessions, staff_users
from bot.app import Services, create_public_app
from knowledge_base.articles import Article, Status
from knowledge_base.logbook import kb_queries
from tests.conftest import make_settings
from tests.support.rasa_double import RasaDouble

PASSWORD = "correct horse battery staple"
EDITOR = "redaction@villebrune.example"
EDITOR_2 = "redaction2@villebrune.example"
AGENT = "accueil@villebrune.example"
ADMIN = "dsi@villebrune.example"


@dataclass
class Env:
    services: Services
    server: TestServer
    users: UserStore

    @property
    def base(self) -> str:
        return str(self.server.make_url("")).rstrip("/")


@pytest.fixture(scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    rasa = TestServer(RasaDouble().app(), host="127.0.0.1")
    await rasa.start_server()
    data_dir = tmp_path_factory.mktemp("admin-data")
    settings = make_settings(
        data_dir,
        str(rasa.make_url("")).rstrip("/"),
        GUICHET__RASA__TIMEOUT_S="1",
        # The sign-in tests play clients at several addresses (X-Forwarded-For).
        GUICHET__SECURITY__TRUSTED_PROXIES='["127.0.0.1"]',
    )
    services = await Services.start(settings)
    server = TestServer(create_public_app(services), host="127.0.0.1")
    await server.start_server()
    users = UserStore(services.engine)
    for email, role in ((EDITOR, Role.EDITOR), (EDITOR_2, Role.EDITOR), (AGENT, Role.AGENT)):
        await users.create(email, PASSWORD, role)
    await users.create(ADMIN, PASSWORD, Role.ADMIN)
    yield Env(services, server, users)
    await server.close()
    await services.close()
    await rasa.close()


class Browser:
    """A cookie-keeping HTTP client, like one staff member's browser."""

    def __init__(self, base: str) -> None:
        self.http = aiohttp.ClientSession(base_url=base, cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def get(self, path: str, **kw: Any) -> tuple[aiohttp.ClientResponse, str]:
        async with self.http.get(path, allow_redirects=False, **kw) as resp:
            text = await resp.text()
        token = re.search(r'name="csrf-token" content="([^"]*)"', text)
        if token and token.group(1):
            self.csrf = token.group(1)
        return resp, text

    async def post(
        self, path: str, data: dict[str, str], *, csrf: bool = True, **kw: Any
    ) -> tuple[aiohttp.ClientResponse, str]:
        body = {"csrf_token": self.csrf, **data} if csrf else data
        async with self.http.post(path, data=body, allow_redirects=False, **kw) as resp:
            return resp, await resp.text()

    async def login(
        self, email: str, password: str = PASSWORD, **kw: Any
    ) -> aiohttp.ClientResponse:
        await self.get("/admin/login")
        resp, _ = await self.post("/admin/login", {"email": email, "password": password}, **kw)
        if resp.status == 303:
            await self.get("/admin/articles")  # picks the session's CSRF token
        return resp

    async def close(self) -> None:
        await self.http.close()


@pytest.fixture(autouse=True)
def fresh_throttle(env: Env) -> None:
    """Each test gets its own sign-in throttle: failures of one never hold up another."""
    env.server.app[STAFF_AUTH].throttle = LoginThrottle()


@pytest.fixture
async def browser(env: Env) -> AsyncIterator[Browser]:
    b = Browser(env.base)
    yield b
    await b.close()


async def signed_in(env: Env, email: str) -> Browser:
    b = Browser(env.base)
    resp = await b.login(email)
    assert resp.status == 303, await resp.text()
    return b


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


def set_cookies(resp: aiohttp.ClientResponse) -> list[str]:
    return resp.headers.getall("Set-Cookie", [])


def article_form(**fields: str) -> dict[str, str]:
    form = {
        "title": "",
        "category": "Voirie et espace public",
        "tags": "",
        "synonyms": "",
        "life_events": "",
        "service": "",
        "contact": "",
        "url": "",
        "updated": "",
        "status": "published",
        "body": "",
        "summary": "",
    }
    form.update(fields)
    return form


async def seed(env: Env, slug: str, body: str, status: Status = Status.PUBLISHED) -> Article:
    article = Article(slug=slug, title=f"Article {slug}", body=body, status=status)
    return await env.services.knowledge.save(article, author="import", expected_version=0)


def hidden(text: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', text)
    assert match, f"no hidden field {name}"
    return html.unescape(match.group(1))


# --- sign-in ---
async def test_wrong_credentials_get_one_generic_message_and_no_session(
    env: Env, browser: Browser
) -> None:
    await browser.get("/admin/login")
    wrong_password, page_1 = await browser.post(
        "/admin/login", {"email": EDITOR, "password": "not the password at all"}
    )
    unknown_user, page_2 = await browser.post(
        "/admin/login", {"email": "personne@villebrune.example", "password": PASSWORD}
    )
    for resp, page in ((wrong_password, page_1), (unknown_user, page_2)):
        assert resp.status == 401
        assert "Identifiants incorrects" in page
        assert not any(c.startswith("guichet_admin=") for c in set_cookies(resp))
        lowered = page.lower()
        assert "mot de passe incorrect" not in lowered and "inconnu" not in lowered
    # The typed e-mail is kept (escaped), the password never.
    assert 'value="redaction@villebrune.example"' in page_1
    assert "not the password" not in page_1
    resp, _ = await browser.get("/admin/articles")
    assert resp.status == 303 and resp.headers["Location"].startswith("/admin/login")


async def test_sign_in_sets_a_strict_http_only_cookie_holding_an_unstored_token(
    env: Env, browser: Browser
) -> None:
    resp = await browser.login(EDITOR)
    assert resp.status == 303 and resp.headers["Location"] == "/admin/articles"
    cookie = next(c for c in set_cookies(resp) if c.startswith("guichet_admin="))
    attributes = [a.strip().lower() for a in cookie.split(";")]
    assert "httponly" in attributes and "samesite=strict" in attributes
    assert "secure" not in attributes  # plain http here
    token = cookie.split(";")[0].split("=", 1)[1]
    assert len(token) >= 43  # 32 random bytes, base64url
    async with env.services.engine.connect() as conn:
        stored = [r.token_hash for r in await conn.execute(sa.select(staff_sessions))]
    assert token not in stored
    assert hashlib.sha256(token.encode()).hexdigest() in stored

    page, text = await browser.get("/admin/articles")
    assert page.status == 200 and "Articles" in text
    assert page.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"  # the app's own middleware


async def test_cookie_is_secure_behind_https(env: Env, browser: Browser) -> None:
    resp = await browser.login(EDITOR, headers={"X-Forwarded-Proto": "https"})
    cookie = next(c for c in set_cookies(resp) if c.startswith("guichet_admin="))
    assert "secure" in [a.strip().lower() for a in cookie.split(";")]


async def test_logout_needs_csrf_then_ends_the_session(env: Env, editor: Browser) -> None:
    token = editor.http.cookie_jar.filter_cookies(env.server.make_url("/"))["guichet_admin"].value
    resp, text = await editor.post("/admin/logout", {}, csrf=False)
    assert resp.status == 403 and "Action refusée" in text
    resp, _ = await editor.post("/admin/logout", {})
    assert resp.status == 303 and resp.headers["Location"] == "/admin/login?msg=logout"
    resp, _ = await editor.get("/admin/articles")
    assert resp.status == 303
    # The old token is dead on the server, not only forgotten by the browser.
    async with aiohttp.ClientSession() as other:
        async with other.get(
            env.server.make_url("/admin/articles"),
            headers={"Cookie": f"guichet_admin={token}"},
            allow_redirects=False,
        ) as resp:
            assert resp.status == 303


async def test_idle_sessions_expire_after_eight_hours(env: Env, editor: Browser) -> None:
    resp, _ = await editor.get("/admin/articles")
    assert resp.status == 200
    token = editor.http.cookie_jar.filter_cookies(env.server.make_url("/"))["guichet_admin"].value
    async with env.services.engine.begin() as conn:
        # This browser's session only: the other tests' sessions stay alive.
        expired = await conn.execute(
            sa.update(staff_sessions)
            .where(staff_sessions.c.token_hash == hash_token(token))
            .values(last_seen_at=sa.func.datetime("now", "-481 minutes"))
        )
    assert expired.rowcount == 1
    resp, _ = await editor.get("/admin/articles")
    assert resp.status == 303 and resp.headers["Location"].startswith("/admin/login")


async def test_sign_in_goes_back_to_local_pages_only(env: Env) -> None:
    for target, expected in (
        ("/admin/test?q=piscine", "/admin/test?q=piscine"),
        ("https://evil.example/admin", "/admin/articles"),
        ("//evil.example/admin", "/admin/articles"),
        ("/\\evil.example", "/admin/articles"),
    ):
        b = Browser(env.base)
        await b.get("/admin/login")
        resp, _ = await b.post(
            "/admin/login", {"email": EDITOR, "password": PASSWORD, "next": target}
        )
        await b.close()
        assert resp.headers["Location"] == expected


async def test_login_form_itself_is_csrf_protected(env: Env) -> None:
    b = Browser(env.base)
    try:
        # No token from the sign-in page (a forged cross-site form).
        credentials = {"email": EDITOR, "password": PASSWORD}
        resp, _ = await b.post("/admin/login", credentials, csrf=False)
        assert resp.status == 403 and "guichet_admin=" not in " ".join(set_cookies(resp))
    finally:
        await b.close()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(env: Env) -> FakeClock:
    """This test's own sign-in throttle, on a clock the test moves."""
    fake = FakeClock()
    env.server.app[STAFF_AUTH].throttle = LoginThrottle(clock=fake)
    return fake


async def attempt(env: Env, address: str, email: str, password: str) -> tuple[int, str]:
    b = Browser(env.base)
    try:
        await b.get("/admin/login")
        resp, text = await b.post(
            "/admin/login",
            {"email": email, "password": password},
            headers={"X-Forwarded-For": address},
        )
        return resp.status, text
    finally:
        await b.close()


async def test_failures_make_the_next_attempt_wait_longer_never_lock_the_owner(
    env: Env, clock: FakeClock
) -> None:
    attacker, owner = "203.0.113.7", "198.51.100.9"
    statuses = [(await attempt(env, attacker, ADMIN, "wrong password!"))[0] for _ in range(4)]
    assert statuses == [401, 401, 401, 429]  # three free failures, then a wait
    status, page = await attempt(env, attacker, ADMIN, "wrong password!")
    assert status == 429 and "Patientez 1 seconde" in page
    # The wait doubles with each failure: 1 s, 2 s, 4 s...
    for wait in (1, 2, 4):
        clock.now += wait - 0.5
        assert (await attempt(env, attacker, ADMIN, "wrong password!"))[0] == 429
        clock.now += 0.5
        assert (await attempt(env, attacker, ADMIN, "wrong password!"))[0] == 401
    # The owner, from their own address, signs in at once with the right password.
    assert (await attempt(env, owner, ADMIN, PASSWORD))[0] == 303
    # Even the attacker's address gets the right password in after the wait (no lock).
    clock.now += 8
    assert (await attempt(env, attacker, ADMIN, PASSWORD))[0] == 303


async def test_parallel_attempts_are_counted_before_any_hash(env: Env, clock: FakeClock) -> None:
    users = env.server.app[STAFF_AUTH].users
    running, most, verified = 0, 0, 0
    verify = users._verify

    def counting_verify(stored: str, password: str) -> bool:
        nonlocal running, most, verified
        running += 1
        verified += 1
        most = max(most, running)
        try:
            return verify(stored, password)
        finally:
            running -= 1

    users._verify = counting_verify  # type: ignore[method-assign]
    try:
        statuses = await asyncio.gather(
            *(attempt(env, "203.0.113.8", EDITOR, "wrong password!") for _ in range(12))
        )
    finally:
        del users._verify
    codes = sorted(s for s, _ in statuses)
    # Three let through (counted as failures while in flight), the rest refused unhashed.
    assert codes == [401] * 3 + [429] * 9
    assert verified == 3 and most <= MAX_CONCURRENT_HASHES
    # One address cannot try more than its bucket of attempts, whatever the e-mails.
    others = [
        (await attempt(env, "203.0.113.9", f"x{n}@villebrune.example", "wrong password!"))[0]
        for n in range(12)
    ]
    assert others == [401] * 10 + [429] * 2


def test_throttle_counts_in_flight_attempts_and_forgets_after_success() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(clock=clock)
    assert [throttle.check("a@x.fr", "1.2.3.4") for _ in range(3)] == [0, 0, 0]
    assert throttle.check("a@x.fr", "1.2.3.4") == 1  # three in flight: the 4th waits
    throttle.succeeded("a@x.fr", "1.2.3.4")
    assert throttle.check("a@x.fr", "1.2.3.4") == 0
    # Over all addresses, an e-mail waits only after many failures, and a minute at most.
    for n in range(60):
        clock.now += 120
        throttle.check("b@x.fr", f"10.0.{n}.1")
    assert 0 < throttle.check("b@x.fr", "10.9.9.9") <= 60


# --- access rules ---
PAGES = [
    "/admin",
    "/admin/articles",
    "/admin/articles/new",
    "/admin/articles/quelque-chose",
    "/admin/articles/quelque-chose/history",
    "/admin/test?q=mairie",
    "/admin/unanswered",
    "/admin/lexicon",
]
FORMS = [
    "/admin/articles/new",
    "/admin/articles/quelque-chose",
    "/admin/articles/quelque-chose/status",
    "/admin/articles/quelque-chose/revert",
    "/admin/lexicon",
    "/admin/logout",
]


async def test_every_route_needs_a_session(env: Env, browser: Browser) -> None:
    for path in PAGES:
        resp, _ = await browser.get(path)
        assert resp.status == 303, path
        assert resp.headers["Location"].startswith("/admin/login?next=%2Fadmin"), path
    for path in FORMS:
        resp, _ = await browser.post(path, {"title": "x"}, csrf=False)
        assert resp.status == 303 and "/admin/login" in resp.headers["Location"], path
    async with browser.http.post("/admin/api/preview", json={"body": "x"}) as resp:
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == "login"
    # The sign-in page and its two static files are public.
    for path in ("/admin/login", "/admin/static/admin.css", "/admin/static/admin.js"):
        resp, _ = await browser.get(path)
        assert resp.status == 200, path
    resp, _ = await browser.get("/admin/static/../users.py")
    assert resp.status == 404


async def test_an_agent_reads_but_cannot_edit(env: Env, agent: Browser) -> None:
    await seed(env, "agent-lecture", "Texte que l’agent lit.")
    resp, text = await agent.get("/admin/articles")
    assert resp.status == 200 and "agent-lecture" in text and "Nouvel article" not in text
    resp, text = await agent.get("/admin/articles/agent-lecture")
    assert resp.status == 200 and "Consultation seule" in text and 'name="body"' not in text
    resp, text = await agent.get("/admin/articles/new")
    assert resp.status == 403 and "Accès refusé" in text and "agent" in text
    edits = [
        ("/admin/articles/new", article_form(slug="par-agent", title="Par l’agent")),
        ("/admin/articles/agent-lecture", {**article_form(title="Modifié"), "version": "1"}),
        ("/admin/articles/agent-lecture/status", {"status": "archived", "version": "1"}),
        ("/admin/articles/agent-lecture/revert", {"version": "1", "expected_version": "1"}),
        ("/admin/lexicon", {"groups": "a, b", "base": ""}),
    ]
    for path, data in edits:
        resp, text = await agent.post(path, data)
        assert resp.status == 403 and "Accès refusé" in text, path
    async with agent.http.post(
        "/admin/api/preview", json={"body": "x"}, headers={"X-CSRF-Token": agent.csrf}
    ) as resp:
        assert resp.status == 403
    stored = await env.services.knowledge.store.get("agent-lecture")
    assert stored is not None and stored.version == 1 and stored.status is Status.PUBLISHED
    assert await env.services.knowledge.store.get("par-agent") is None
    # Reading tools stay open to agents.
    for path in ("/admin/test?q=mairie", "/admin/unanswered", "/admin/lexicon"):
        resp, _ = await agent.get(path)
        assert resp.status == 200, path


async def test_csrf_missing_or_wrong_is_refused(env: Env, editor: Browser) -> None:
    data = article_form(slug="sans-jeton", title="Sans jeton", body="Texte.")
    resp, text = await editor.post("/admin/articles/new", data, csrf=False)
    assert resp.status == 403 and "Rechargez la page" in text
    resp, _ = await editor.post("/admin/articles/new", {**data, "csrf_token": "x" * 43}, csrf=False)
    assert resp.status == 403
    assert await env.services.knowledge.store.get("sans-jeton") is None
    async with editor.http.post("/admin/api/preview", json={"body": "**x**"}) as resp:
        assert resp.status == 403 and (await resp.json())["error"]["code"] == "csrf"
    async with editor.http.post(
        "/admin/api/preview", json={"body": "**x**"}, headers={"X-CSRF-Token": "nope"}
    ) as resp:
        assert resp.status == 403
    # The header is accepted in place of the form field.
    resp, _ = await editor.post(
        "/admin/articles/new", data, csrf=False, headers={"X-CSRF-Token": editor.csrf}
    )
    assert resp.status == 303


async def test_a_role_area_can_reuse_the_staff_auth(env: Env, agent: Browser) -> None:
    """What a future /agent console does: its own sub-app, the same sessions."""
    auth = StaffAuth(env.users, login_path="/admin/login", api_prefixes=("/agent/api/",))

    @require_role(Role.AGENT, Role.ADMIN)
    async def console(request: web.Request) -> web.Response:
        return web.Response(text="console")

    class Console:
        """Handlers as methods work the same."""

        @require_role(Role.AGENT)
        async def queue(self, request: web.Request) -> web.Response:
            return web.Response(text="queue of " + request.path)

    async def unmarked(request: web.Request) -> web.Response:
        return web.Response(text="should never be served")

    area = web.Application(middlewares=[auth.middleware])
    area.router.add_get("", console)
    area.router.add_get("/queue", Console().queue)
    area.router.add_get("/oops", unmarked)
    app = web.Application()
    app.add_subapp("/agent", area)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    editor = await signed_in(env, EDITOR)
    try:
        cookies = {
            name: b.http.cookie_jar.filter_cookies(env.server.make_url("/"))["guichet_admin"].value
            for name, b in (("agent", agent), ("editor", editor))
        }
        async with aiohttp.ClientSession() as http:

            async def get(path: str, who: str | None) -> int:
                headers = {"Cookie": f"guichet_admin={cookies[who]}"} if who else {}
                async with http.get(
                    server.make_url(path), headers=headers, allow_redirects=False
                ) as resp:
                    return resp.status

            assert await get("/agent", "agent") == 200
            assert await get("/agent", "editor") == 403
            assert await get("/agent", None) == 303
            assert await get("/agent/queue", "agent") == 200
            assert await get("/agent/queue", "editor") == 403
            assert await get("/agent/oops", "agent") == 403  # fails closed
    finally:
        await editor.close()
        await server.close()


async def test_passwords_are_stored_as_argon2_hashes(env: Env) -> None:
    async with env.services.engine.connect() as conn:
        rows = (await conn.execute(sa.select(staff_users))).all()
    assert {r.email for r in rows} >= {EDITOR, AGENT, ADMIN}
    for row in rows:
        assert row.password_hash.startswith("$argon2id$")
        assert PASSWORD not in row.password_hash
        assert PasswordHasher().verify(row.password_hash, PASSWORD)


def test_cli_creates_users_with_long_enough_passwords(tmp_path: Path) -> None:
    data_dir = tmp_path / "cli-data"

    def cli(*args: str, password: str | None) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GUICHET")}
        env["GUICHET_DATA_DIR"] = str(data_dir)
        if password is not None:
            env["GUICHET_NEW_PASSWORD"] = password
        return subprocess.run(
            [sys.executable, "-m", "bot.admin", *args],
            env=env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=120,
        )

    short = cli("create-user", "chef@villebrune.example", "--role", "admin", password="court123")
    assert short.returncode == 1
    assert "at least 12 characters" in short.stderr
    ok = cli("create-user", "Chef@Villebrune.example", "--role", "admin", password=PASSWORD)
    assert ok.returncode == 0, ok.stderr
    assert "created admin chef@villebrune.example" in ok.stdout
    again = cli("create-user", "chef@villebrune.example", password=PASSWORD)
    assert again.returncode == 1 and "already exists" in again.stderr
    no_password = cli("set-password", "chef@villebrune.example", password=None)
    assert no_password.returncode == 1 and "GUICHET_NEW_PASSWORD" in no_password.stderr
    listed = cli("list-users", password=None)
    assert "chef@villebrune.example\tadmin\tactive" in listed.stdout
    with sqlite3.connect(data_dir / "guichet.db") as db:
        stored = db.execute("SELECT password_hash, role FROM staff_users").fetchone()
    assert stored[1] == "admin" and PasswordHasher().verify(stored[0], PASSWORD)


# --- editing flows ---
async def test_created_article_is_listed_searchable_and_ranked_at_once(
    env: Env, editor: Browser
) -> None:
    resp, text = await editor.get("/admin/articles/new")
    assert resp.status == 200 and 'name="slug"' in text
    data = article_form(
        slug="permis-vegetaliser-trottoirs",
        title="Permis de végétaliser les trottoirs",
        synonyms="fleurir ma rue, jardiner devant chez moi",
        tags="jardin, rue",
        url="https://www.villebrune.example/vegetaliser",
        updated="2026-05-04",
        body="La mairie délivre un permis de végétaliser pour planter au pied des murs.\n\n"
        "## Demande\n\n- formulaire en ligne\n- réponse sous 15 jours",
        summary="nouvel article",
    )
    resp, _ = await editor.post("/admin/articles/new", data)
    assert resp.status == 303
    location = resp.headers["Location"]
    assert location == "/admin/articles/permis-vegetaliser-trottoirs?msg=created&v=1"
    resp, text = await editor.get(location)
    assert "Article créé" in text and "Publier" not in text and "Dépublier" in text

    saved = await env.services.knowledge.store.get("permis-vegetaliser-trottoirs")
    assert saved is not None and saved.synonyms == ("fleurir ma rue", "jardiner devant chez moi")
    assert saved.updated == "2026-05-04" and saved.status is Status.PUBLISHED

    # Listed, and found by the search box without accents nor case.
    _, text = await editor.get("/admin/articles?q=VEGETALISER")
    assert "permis-vegetaliser-trottoirs" in text
    _, text = await editor.get("/admin/articles?q=vegetaliser&status=draft")
    assert "permis-vegetaliser-trottoirs" not in text
    _, text = await editor.get("/admin/articles?category=Voirie+et+espace+public")
    assert "permis-vegetaliser-trottoirs" in text
    # The bot's search finds it as soon as the save returned.
    ranked = await env.services.knowledge.rank("permis pour végétaliser mon trottoir")
    assert ranked and ranked[0].slug == "permis-vegetaliser-trottoirs"


async def test_invalid_fields_are_explained_in_french_and_the_text_is_kept(
    env: Env, editor: Browser
) -> None:
    typed_body = "Un texte <b>précieux</b> qu’il ne faut pas perdre."
    resp, text = await editor.post(
        "/admin/articles/new",
        article_form(slug="Mauvais Slug", title="Un titre", body=typed_body),
    )
    assert resp.status == 422
    assert "Identifiant (slug)" in text and "lettres minuscules" in text
    assert html.escape(typed_body, quote=True) in text or html.escape(typed_body) in text
    assert 'aria-invalid="true"' in text and 'value="Un titre"' in text

    resp, text = await editor.post(
        "/admin/articles/new",
        article_form(slug="lien-invalide", title="Lien", url="ftp://x", body=typed_body),
    )
    assert resp.status == 422 and "Lien (url)" in text and "https://" in text
    resp, text = await editor.post(
        "/admin/articles/new", article_form(slug="sans-titre", title="   ", body="x")
    )
    assert resp.status == 422 and "Titre (title) : obligatoire" in text
    resp, text = await editor.post(
        "/admin/articles/new", article_form(slug="new", title="Réservé", body="x")
    )
    assert resp.status == 422 and "réservé" in text
    await seed(env, "deja-pris", "x")
    resp, text = await editor.post(
        "/admin/articles/new", article_form(slug="deja-pris", title="Doublon", body="y")
    )
    assert resp.status == 422 and "déjà utilisé" in text
    stored = await env.services.knowledge.store.get("deja-pris")
    assert stored is not None and stored.body == "x"


async def test_values_are_escaped_in_every_page(env: Env, editor: Browser) -> None:
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    resp, _ = await editor.post(
        "/admin/articles/new",
        article_form(slug="titre-piege", title=f"Piège {evil}", category=evil, body=evil),
    )
    assert resp.status == 303
    for path in (
        "/admin/articles",
        "/admin/articles/titre-piege",
        "/admin/articles/titre-piege/history",
        "/admin/test?q=" + "Piège <script>",
    ):
        _, text = await editor.get(path)
        assert "<script>alert" not in text and "<img src=x" not in text, path
    _, text = await editor.get("/admin/articles/titre-piege")
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text


async def test_two_editors_on_one_version_the_second_sees_both_texts(
    env: Env, editor: Browser
) -> None:
    await seed(env, "conflit-horaires", "Ouvert de 9 h à 17 h.")
    other = await signed_in(env, EDITOR_2)
    try:
        _, page_a = await editor.get("/admin/articles/conflit-horaires")
        _, page_b = await other.get("/admin/articles/conflit-horaires")
        assert hidden(page_a, "version") == hidden(page_b, "version") == "1"

        text_a = "Ouvert de 9 h à 18 h (texte de la première rédactrice)."
        text_b = "Ouvert de 8 h 30 à 17 h (texte du second rédacteur)."
        resp, _ = await editor.post(
            "/admin/articles/conflit-horaires",
            {**article_form(title="Article conflit-horaires", body=text_a), "version": "1"},
        )
        assert resp.status == 303
        resp, page = await other.post(
            "/admin/articles/conflit-horaires",
            {**article_form(title="Horaires (B)", body=text_b), "version": "1"},
        )
        assert resp.status == 409
        assert "Conflit" in page and EDITOR in page
        assert html.escape(text_a) in page and html.escape(text_b) in page
        assert "Horaires (B)" in page  # the typed title is kept in the form
        assert 'class="line add"' in page and 'class="line del"' in page
        stored = await env.services.knowledge.store.get("conflit-horaires")
        assert stored is not None and stored.body == text_a and stored.version == 2

        # Nothing is lost: saving again goes on top of the first editor's version.
        assert hidden(page, "version") == "2"
        resp, _ = await other.post(
            "/admin/articles/conflit-horaires",
            {**article_form(title="Horaires (B)", body=text_b), "version": "2"},
        )
        assert resp.status == 303 and resp.headers["Location"].endswith("msg=saved&v=3")
        stored = await env.services.knowledge.store.get("conflit-horaires")
        assert stored is not None and stored.body == text_b and stored.version == 3
        history = await env.services.knowledge.store.history("conflit-horaires")
        assert [(v.version, v.author) for v in history] == [
            (3, EDITOR_2),
            (2, EDITOR),
            (1, "import"),
        ]
    finally:
        await other.close()


async def test_revert_restores_an_old_text_as_a_new_version(env: Env, editor: Browser) -> None:
    await seed(env, "tarifs-piscine", "Entrée : 3 euros.")
    resp, _ = await editor.post(
        "/admin/articles/tarifs-piscine",
        {
            **article_form(title="Article tarifs-piscine", body="Entrée : 4 euros."),
            "version": "1",
            "summary": "hausse des tarifs",
        },
    )
    assert resp.status == 303
    resp, page = await editor.get("/admin/articles/tarifs-piscine/history?version=2")
    assert resp.status == 200 and "hausse des tarifs" in page and "Revenir à cette version" in page
    # The changed word is emphasised inside the removed and the added line.
    assert re.search(r'<del class="line del">.*<strong class="chg">3</strong> euros', page)
    assert re.search(r'<ins class="line add">.*<strong class="chg">4</strong> euros', page)
    # Stale expected version: refused, nothing written.
    resp, _ = await editor.post(
        "/admin/articles/tarifs-piscine/revert", {"version": "1", "expected_version": "1"}
    )
    assert resp.status == 303 and "msg=conflict" in resp.headers["Location"]
    resp, _ = await editor.post(
        "/admin/articles/tarifs-piscine/revert", {"version": "1", "expected_version": "2"}
    )
    assert resp.status == 303
    assert resp.headers["Location"].endswith("history?msg=reverted&from=1&v=3")
    stored = await env.services.knowledge.store.get("tarifs-piscine")
    assert stored is not None and stored.body == "Entrée : 3 euros." and stored.version == 3
    _, page = await editor.get(resp.headers["Location"])
    assert "Version 1 rétablie" in page and "retour à la version 1" in page


async def test_quick_actions_publish_unpublish_and_archive(env: Env, editor: Browser) -> None:
    await seed(env, "ludotheque-jeux", "La ludothèque prête des jeux de société.", Status.DRAFT)
    store, knowledge = env.services.knowledge.store, env.services.knowledge

    async def ranked_slugs() -> list[str]:
        return [r.slug for r in await knowledge.rank("ludothèque prêt de jeux de société")]

    assert "ludotheque-jeux" not in await ranked_slugs()
    resp, _ = await editor.post(
        "/admin/articles/ludotheque-jeux/status", {"status": "published", "version": "1"}
    )
    assert resp.headers["Location"] == "/admin/articles/ludotheque-jeux?msg=published&v=2"
    assert "ludotheque-jeux" in await ranked_slugs()
    resp, _ = await editor.post(
        "/admin/articles/ludotheque-jeux/status", {"status": "draft", "version": "1"}
    )
    assert "msg=conflict" in resp.headers["Location"]  # stale version: nothing changed
    stored = await store.get("ludotheque-jeux")
    assert stored is not None and stored.status is Status.PUBLISHED
    resp, _ = await editor.post(
        "/admin/articles/ludotheque-jeux/status", {"status": "draft", "version": "2"}
    )
    assert resp.headers["Location"].endswith("msg=draft&v=3")
    assert "ludotheque-jeux" not in await ranked_slugs()
    resp, _ = await editor.post(
        "/admin/articles/ludotheque-jeux/status", {"status": "archived", "version": "3"}
    )
    stored = await store.get("ludotheque-jeux")
    assert stored is not None and stored.status is Status.ARCHIVED and stored.version == 4
    history = await store.history("ludotheque-jeux")
    assert [v.summary for v in history[:3]] == ["archivage", "dépublication", "publication"]


async def test_preview_api_returns_sanitised_html(env: Env, editor: Browser) -> None:
    async with editor.http.post(
        "/admin/api/preview",
        json={"body": "## Titre\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1)) **gras**"},
        headers={"X-CSRF-Token": editor.csrf},
    ) as resp:
        assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
        rendered = (await resp.json())["html"]
    assert "<h2>Titre</h2>" in rendered and "<strong>gras</strong>" in rendered
    assert "<script" not in rendered and "href" not in rendered
    async with editor.http.post(
        "/admin/api/preview", json={"nope": 1}, headers={"X-CSRF-Token": editor.csrf}
    ) as resp:
        assert resp.status == 400


async def test_test_panel_shows_the_answer_and_logs_nothing(env: Env, editor: Browser) -> None:
    await seed(
        env,
        "piscine-horaires",
        "La piscine municipale est ouverte du mardi au dimanche de 10 h à 19 h.",
    )

    async def logged() -> int:
        async with env.services.engine.connect() as conn:
            count = sa.select(sa.func.count()).select_from(kb_queries)
            return int((await conn.execute(count)).scalar() or 0)

    before = await logged()
    resp, page = await editor.get("/admin/test?q=horaires+de+la+piscine+municipale")
    assert resp.status == 200
    # The only article on this topic, asked in its own words: a direct answer.
    assert 'Verdict : <span class="verdict verdict-answer">Réponse</span>' in page
    assert "piscine-horaires" in page and "Score fusionné" in page and "Cosinus" in page
    assert await logged() == before


async def test_unanswered_questions_lead_to_a_prefilled_new_article(
    env: Env, editor: Browser
) -> None:
    await env.services.knowledge.queries.record(
        "Où adopter un hérisson ?", "webchat", "not_found", None
    )
    resp, page = await editor.get("/admin/unanswered")
    assert resp.status == 200 and "Où adopter un hérisson ?" in page and "Chat du site" in page
    link = re.search(r'href="(/admin/articles/new\?title=[^"]+)"', page)
    assert link and "Rédiger un article" in page
    _, form = await editor.get(html.unescape(link.group(1)))
    assert 'value="Où adopter un hérisson ?"' in form
    assert 'value="ou-adopter-un-herisson"' in form  # suggested identifier


async def test_lexicon_is_edited_line_by_line(env: Env, editor: Browser) -> None:
    _, page = await editor.get("/admin/lexicon")
    base = hidden(page, "base")
    resp, page = await editor.post(
        "/admin/lexicon", {"base": base, "groups": "trottoir, pavé\nvélo\n"}
    )
    assert resp.status == 422 and "Ligne 2" in page and "vélo" in page
    resp, _ = await editor.post(
        "/admin/lexicon",
        {"base": base, "groups": "trottoir, pavé, Trottoir\r\n\r\nvélo, bicyclette, biclou\n"},
    )
    assert resp.status == 303 and resp.headers["Location"] == "/admin/lexicon?msg=lexicon"
    assert await env.services.knowledge.lexicon_groups() == [
        ["trottoir", "pavé"],
        ["vélo", "bicyclette", "biclou"],
    ]
    # A form opened before that save is stale: refused, text kept, both shown.
    resp, page = await editor.post("/admin/lexicon", {"base": base, "groups": "a, b"})
    assert resp.status == 409 and "modifié entre-temps" in page and "biclou" in page
    assert await env.services.knowledge.lexicon_groups() == [
        ["trottoir", "pavé"],
        ["vélo", "bicyclette", "biclou"],
    ]
