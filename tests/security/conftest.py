"""Fixtures of the security tests.

In-process apps are built exactly as in production (`Services.start` +
`create_public_app`) on an empty data directory; only Rasa, another process,
is replaced by the double of tests/support when a test is about the app's own
behaviour. The browser fixtures of tests/e2e are shared here too.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from yarl import URL

from bot.app import Services, create_public_app
from tests.conftest import make_settings
from tests.e2e.conftest import browser, context  # noqa: F401  (shared fixtures)
from tests.support.rasa_double import RasaDouble


@dataclass
class App:
    services: Services
    server: TestServer

    @property
    def base(self) -> str:
        return str(self.server.make_url("")).rstrip("/")


AppFactory = Callable[..., Awaitable[App]]


@pytest.fixture
async def make_app(tmp_path: Path) -> AsyncIterator[AppFactory]:
    """Start apps with settings overrides (GUICHET__... values); all stopped after the test."""
    started: list[tuple[Services, TestServer]] = []
    rasa = TestServer(RasaDouble().app(), host="127.0.0.1")
    await rasa.start_server()

    async def start(**env: str) -> App:
        data_dir = tmp_path / f"data-{len(started)}"
        data_dir.mkdir()
        settings = make_settings(
            data_dir,
            str(rasa.make_url("")).rstrip("/"),
            GUICHET__RASA__TIMEOUT_S="1",
            GUICHET__VOICE__ENABLED="false",
            **env,
        )
        services = await Services.start(settings)
        server = TestServer(create_public_app(services), host="127.0.0.1")
        await server.start_server()
        started.append((services, server))
        return App(services, server)

    yield start
    for services, server in reversed(started):
        await server.close()
        await services.close()
    await rasa.close()


class StaffBrowser:
    """A cookie-keeping HTTP client signed in (or not) to the staff areas."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = aiohttp.ClientSession(base_url=base, cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def get(self, path: str, **kw: Any) -> tuple[aiohttp.ClientResponse, str]:
        async with self.http.get(path, allow_redirects=False, **kw) as resp:
            text = await resp.text()
        token = re.search(r'name="csrf-token" content="([^"]*)"', text)
        if token and token.group(1):
            self.csrf = token.group(1)
        return resp, text

    async def login(self, email: str, password: str) -> int:
        await self.get("/admin/login")
        cookies = self.http.cookie_jar.filter_cookies(URL(self.base + "/admin/login"))
        form = {
            "email": email,
            "password": password,
            "csrf_token": cookies["guichet_admin_login"].value,
        }
        async with self.http.post("/admin/login", data=form, allow_redirects=False) as resp:
            status = resp.status
        if status == 303:
            await self.get("/admin/articles")  # picks the session's CSRF token
        return status

    async def close(self) -> None:
        await self.http.close()
