"""Staff move a report on in the agent console; the citizen is told by e-mail."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from bot.admin.users import Role, UserStore
from bot.app import Services, create_public_app
from bot.storage.reports import NewReport
from tests.conftest import make_settings
from tests.notifications.conftest import notification_env
from tests.notifications.servers import MailServer, wait_until
from tests.support.rasa_double import RasaDouble
from tests.unit.test_admin_auth import PASSWORD, Browser
from tests.unit.test_agent_console import next_frame

AGENT = "accueil@villebrune.example"
CITIZEN = "paul.durand@exemple.fr"


@pytest.fixture
async def app(data_dir: Path, mail: MailServer) -> AsyncIterator[tuple[Services, TestServer]]:
    rasa = TestServer(RasaDouble().app(), host="127.0.0.1")
    await rasa.start_server()
    settings = make_settings(
        data_dir, str(rasa.make_url("")).rstrip("/"), **notification_env(mail, None)
    )
    services = await Services.start(settings)
    server = TestServer(create_public_app(services), host="127.0.0.1")
    await server.start_server()
    await UserStore(services.engine).create(AGENT, PASSWORD, Role.AGENT)
    try:
        yield services, server
    finally:
        await server.close()
        await services.close()
        await rasa.close()


async def test_marking_a_report_tells_the_citizen_and_every_console(
    app: tuple[Services, TestServer], mail: MailServer
) -> None:
    services, server = app
    report = await services.reports.submit(
        NewReport("eclairage", "place du Marché", "le lampadaire ne s'allume plus", CITIZEN, "c9")
    )
    base = str(server.make_url("")).rstrip("/")
    browser = Browser(base)
    assert (await browser.login(AGENT)).status == 303
    try:
        ws = await browser.http.ws_connect("/agent/ws", origin=base)
        listed = await next_frame(ws, "reports")
        (shown,) = [r for r in listed["reports"] if r["reference"] == report.reference]
        assert shown["status"] == "open" and shown["category_label"] == "Éclairage public"
        assert shown["created_at"]  # the console shows how long it has waited

        await ws.send_json({"type": "report", "reference": report.reference, "status": "received"})
        pushed = await next_frame(ws, "report")
        assert pushed["report"]["status"] == "received"
        await ws.send_json({"type": "report", "reference": report.reference, "status": "bogus"})
        assert "inconnu" in (await next_frame(ws, "error"))["message"]
        await ws.send_json({"type": "report", "reference": "SIG-NOPE22", "status": "done"})
        assert (await next_frame(ws, "error"))["message"] == "Signalement inconnu."
        await ws.close()
    finally:
        await browser.close()
    assert (await services.reports.get(report.reference)).status == "received"  # type: ignore[union-attr]
    status = await wait_until(
        lambda: [r for r in mail.to(CITIZEN) if "pris en compte" in r.message["Subject"]],
        "the status e-mail",
    )
    assert "a été pris en compte par le service le" in status[0].body("plain")
