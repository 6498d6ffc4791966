"""Staff areas (/admin, /agent): every registered route is checked, so a new
route cannot forget its access rule; and the password policy.

Routes are read from the running app's router (sub-applications included), not
from a list kept by hand. For each one: without a session it must send to the
sign-in page (pages) or answer 401 (API); for each role its rule does not
allow, signed in with that role, 403. Routes open without signing in, and
routes every staff role may use, must be listed below on purpose.
"""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.admin.auth import _ACCESS
from bot.admin.users import Role, UserError, UserStore, check_password_policy
from bot.channels.agent_console import SESSION_ENDED
from tests.security.conftest import App, AppFactory, StaffBrowser

PASSWORD = "une phrase de passe assez longue"
ACCOUNTS = {
    Role.EDITOR: "redaction@villebrune.example",
    Role.AGENT: "accueil@villebrune.example",
    Role.ADMIN: "dsi@villebrune.example",
}
# Values for the routes' variable parts.
SAMPLES = {"slug": "un-article", "name": "admin.css"}
# Reachable without a session: the sign-in form and the sign-in page's own files.
PUBLIC = {("GET", "/admin/login"), ("POST", "/admin/login"), ("GET", "/admin/static/{name}")}
# Every staff role may use these (reading, statistics, signing out).
EVERY_STAFF_ROLE = {
    ("GET", "/admin"),
    ("GET", "/admin/"),
    ("GET", "/admin/articles"),
    ("GET", "/admin/articles/{slug}"),
    ("GET", "/admin/articles/{slug}/history"),
    ("GET", "/admin/test"),
    ("GET", "/admin/unanswered"),
    ("GET", "/admin/lexicon"),
    ("GET", "/admin/life-events"),
    ("GET", "/admin/life-events/event"),
    ("GET", "/admin/stats"),
    ("GET", "/admin/stats.csv"),
    ("POST", "/admin/logout"),
}


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    access: frozenset[Role] | None

    @property
    def path(self) -> str:
        return re.sub(
            r"\{(\w+)(?::[^}]*)?\}", lambda m: SAMPLES.get(m.group(1), "x"), self.template
        )

    @property
    def api(self) -> bool:
        return self.template.startswith("/admin/api/")


def staff_routes(app: web.Application) -> list[Route]:
    """Every route of the /admin and /agent sub-applications (HEAD is GET's twin)."""
    routes = []
    for resource in app.router.resources():
        info = resource.get_info()
        subapp = info.get("app")
        if not isinstance(subapp, web.Application):
            continue
        for sub_resource in subapp.router.resources():
            sub_info = sub_resource.get_info()
            template = sub_info.get("formatter") or sub_info.get("path")
            for route in sub_resource:
                if route.method == "HEAD":
                    continue
                access = getattr(route.handler, _ACCESS, None)
                routes.append(Route(route.method, str(template), access))
    return routes


@pytest.fixture
async def staff_app(make_app: AppFactory) -> App:
    app = await make_app()
    users = UserStore(app.services.engine)
    for role, email in ACCOUNTS.items():
        await users.create(email, PASSWORD, role)
    return app


async def call(who: StaffBrowser, route: Route) -> tuple[int, str, str]:
    headers = {"X-CSRF-Token": who.csrf} if who.csrf else {}
    async with who.http.request(
        route.method, route.path, allow_redirects=False, headers=headers, data={"title": "x"}
    ) as resp:
        return resp.status, resp.headers.get("Location", ""), await resp.text()


async def test_every_staff_route_checks_the_session_and_the_role(staff_app: App) -> None:
    routes = staff_routes(staff_app.server.app)
    templates = {(r.method, r.template) for r in routes}
    # The walk found both areas (a broken walk must not pass by checking nothing).
    assert {("GET", "/agent"), ("GET", "/agent/ws"), ("POST", "/admin/articles/{slug}")} <= (
        templates
    )
    assert len(routes) >= 25
    unmarked = [r for r in routes if r.access is None]
    assert unmarked == [], "every staff handler needs @public or @require_role"
    public = {(r.method, r.template) for r in routes if not r.access}
    assert public == PUBLIC
    everyone = {(r.method, r.template) for r in routes if r.access == frozenset(Role)}
    assert everyone == EVERY_STAFF_ROLE, "a route open to every staff role must be listed"

    anonymous = StaffBrowser(staff_app.base)
    signed_in = {}
    try:
        for role, email in ACCOUNTS.items():
            signed_in[role] = StaffBrowser(staff_app.base)
            assert await signed_in[role].login(email, PASSWORD) == 303
        checked = 0
        for route in routes:
            if not route.access:
                continue
            status, location, _ = await call(anonymous, route)
            if route.api:
                assert status == 401, route
            else:
                assert status == 303, route
                assert location.startswith("/admin/login?next="), route
            for role in set(Role) - route.access:
                status, _, text = await call(signed_in[role], route)
                assert status == 403, (route, role)
                assert "Accès refusé" in text or '"forbidden"' in text, (route, role)
                checked += 1
        assert checked >= 10  # editors on /agent, agents on the editing routes
    finally:
        await anonymous.close()
        for b in signed_in.values():
            await b.close()


async def test_a_deactivated_account_loses_every_route_at_once(staff_app: App) -> None:
    admin = StaffBrowser(staff_app.base)
    try:
        assert await admin.login(ACCOUNTS[Role.ADMIN], PASSWORD) == 303
        await UserStore(staff_app.services.engine).set_active(ACCOUNTS[Role.ADMIN], False)
        for route in staff_routes(staff_app.server.app):
            if route.access and route.method == "GET":
                status, location, _ = await call(admin, route)
                assert status == 303 and location.startswith("/admin/login"), route
    finally:
        await admin.close()


# --- agent console: the session is checked for the socket's whole life ---
async def open_console(app: App, who: StaffBrowser) -> aiohttp.ClientWebSocketResponse:
    ws = await who.http.ws_connect("/agent/ws", origin=app.base)
    kinds = [(await ws.receive_json(timeout=10))["type"] for _ in range(3)]
    assert kinds == ["hello", "queue", "tickets"]
    return ws


async def closed_with(ws: aiohttp.ClientWebSocketResponse) -> int | None:
    """Read until the server closes the socket; its close code."""
    while True:
        msg = await ws.receive(timeout=60)
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            return ws.close_code


async def test_signing_out_closes_the_open_console_at_once(staff_app: App) -> None:
    agent = StaffBrowser(staff_app.base)
    try:
        assert await agent.login(ACCOUNTS[Role.AGENT], PASSWORD) == 303
        ws = await open_console(staff_app, agent)
        async with agent.http.post(
            "/admin/logout", data={"csrf_token": agent.csrf}, allow_redirects=False
        ) as resp:
            assert resp.status == 303
        assert await closed_with(ws) == SESSION_ENDED
    finally:
        await agent.close()


async def test_a_deactivated_agents_console_closes_and_acts_no_more(staff_app: App) -> None:
    services = staff_app.services
    handoff = await services.handoff._store.create(str(uuid.uuid4()), "webchat", "asked")
    users = UserStore(services.engine)
    for role in (Role.AGENT, Role.ADMIN):
        who = StaffBrowser(staff_app.base)
        try:
            assert await who.login(ACCOUNTS[role], PASSWORD) == 303
            ws = await open_console(staff_app, who)
            # Deactivated from elsewhere (the CLI, another instance): no sign-out event here.
            await users.set_active(ACCOUNTS[role], False)
            if role is Role.AGENT:
                # The next frame is checked first: the claim is not made.
                await ws.send_json({"type": "claim", "handoff_id": handoff.id})
            # An idle console is closed by the periodic re-check.
            assert await closed_with(ws) == SESSION_ENDED
        finally:
            await who.close()
    stored = await services.handoff.get(handoff.id)
    assert stored is not None and stored.status == "waiting" and stored.claimed_by is None


# --- password policy ---
@pytest.mark.parametrize(
    ("password", "email", "reason"),
    [
        ("court123", "", "at least 12 characters"),
        ("motdepasse123", "", "too common"),
        ("Mot-de-Passe 1234", "", "too common"),
        ("AZERTYUIOP123", "", "too common"),
        ("aaaaaaaaaaaaaaaa", "", "too repetitive"),
        ("abababababababab", "", "too repetitive"),
        ("chef@villebrune.example", "chef@villebrune.example", "e-mail"),
        ("Chef.Cuisine-2026!", "chef.cuisine@villebrune.example", "e-mail"),
        ("x" * 1025, "", "at most 1024"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(password: str, email: str, reason: str) -> None:
    with pytest.raises(UserError) as refused:
        check_password_policy(password, email)
    assert reason in str(refused.value)


def test_good_passwords_pass() -> None:
    for password in ("une phrase de passe assez longue", "Vélo-Rouge-Brune-1987"):
        check_password_policy(password, "chef@villebrune.example")


async def test_the_store_applies_the_policy(staff_app: App) -> None:
    users = UserStore(staff_app.services.engine)
    with pytest.raises(UserError, match="e-mail"):
        await users.create("marie.durand@villebrune.example", "marie.durand-2026", Role.EDITOR)
    with pytest.raises(UserError, match="too common"):
        await users.set_password(ACCOUNTS[Role.EDITOR], "motdepasse1234")


def test_the_cli_applies_the_policy(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot.admin", "create-user", "x@villebrune.example"],
        env={"GUICHET_DATA_DIR": str(tmp_path / "cli"), "GUICHET_NEW_PASSWORD": "azertyuiop123"},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert done.returncode == 1 and "too common" in done.stderr
