"""The public app as production builds it (`Services.start` + `create_public_app`),
in the test process, in front of the Rasa double; and staff signed in to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from aiohttp.test_utils import TestServer

from bot.app import Services, create_public_app
from tests.conftest import make_settings
from tests.support.rasa_double import RasaDouble
from tests.unit.test_admin_auth import Browser


@dataclass
class PublicApp:
    services: Services
    server: TestServer

    @property
    def base(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    async def signed_in(self, email: str) -> Browser:
        """A browser with a staff session (the account must exist)."""
        browser = Browser(self.base)
        response = await browser.login(email)
        assert response.status == 303, response.status
        return browser


@asynccontextmanager
async def public_app(data_dir: Path, **env: str) -> AsyncIterator[PublicApp]:
    rasa = TestServer(RasaDouble().app(), host="127.0.0.1")
    await rasa.start_server()
    services = await Services.start(
        make_settings(data_dir, str(rasa.make_url("")).rstrip("/"), **env)
    )
    server = TestServer(create_public_app(services), host="127.0.0.1")
    await server.start_server()
    try:
        yield PublicApp(services, server)
    finally:
        await server.close()
        await services.close()
        await rasa.close()
