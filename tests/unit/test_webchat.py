"""Web chat channel + conversation service against a Rasa double."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient, TestServer

from bot.app import Services, create_public_app
from tests.conftest import make_settings
from tests.support.rasa_double import RasaDouble


@pytest.fixture
async def rasa() -> AsyncIterator[tuple[RasaDouble, str]]:
    double = RasaDouble()
    server = TestServer(double.app(), host="127.0.0.1")
    await server.start_server()
    yield double, str(server.make_url("")).rstrip("/")
    await server.close()


@asynccontextmanager
async def app_client(
    rasa_url: str, data_dir: Path, **env: str
) -> AsyncIterator[TestClient[aiohttp.web.Request, aiohttp.web.Application]]:
    settings = make_settings(data_dir, rasa_url, GUICHET__RASA__TIMEOUT_S="1", **env)
    services = await Services.start(settings)
    client = TestClient(TestServer(create_public_app(services), host="127.0.0.1"))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()
        await services.close()


@pytest.fixture
async def client(
    rasa: tuple[RasaDouble, str], data_dir: Path
) -> AsyncIterator[TestClient[aiohttp.web.Request, aiohttp.web.Application]]:
    async with app_client(rasa[1], data_dir) as client:
        yield client


def sid() -> str:
    return str(uuid.uuid4())


async def receive(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict:
    while True:
        frame = await asyncio.wait_for(ws.receive_json(), 5)
        if frame["type"] == kind:
            return frame


async def test_websocket_turn_history_and_order(client: TestClient) -> None:
    session = sid()
    async with client.ws_connect(f"/ws?session={session}") as ws:
        assert (await receive(ws, "history"))["messages"] == []
        await ws.send_json({"type": "message", "text": "bonjour"})
        assert (await receive(ws, "typing"))["on"] is True
        bot = await receive(ws, "bot")
        assert [m["text"] for m in bot["messages"]] == ["écho : bonjour", "avec source"]
        assert bot["messages"][1]["sources"][0]["url"] == "https://x.example/a"
        assert bot["messages"][1]["buttons"] == [{"title": "Oui", "payload": "/affirm"}]
    # A reload (new connection, same session) shows the whole conversation.
    async with client.ws_connect(f"/ws?session={session}") as ws:
        history = (await receive(ws, "history"))["messages"]
    assert [(m["role"], m["text"]) for m in history] == [
        ("user", "bonjour"),
        ("bot", "écho : bonjour"),
        ("bot", "avec source"),
    ]
    assert history[2]["sources"][0]["title"] == "T"


async def test_button_payload_goes_to_rasa_and_typed_slash_does_not(
    client: TestClient, rasa: tuple[RasaDouble, str]
) -> None:
    session = sid()
    resp = await client.post(
        f"/api/chat/{session}/messages", json={"text": "Oui", "payload": "/affirm"}
    )
    assert resp.status == 200
    resp = await client.post(f"/api/chat/{session}/messages", json={"text": "/restart"})
    assert resp.status == 200
    assert [r["message"] for r in rasa[0].received] == ["/affirm", "restart"]
    history = await (await client.get(f"/api/chat/{session}/history")).json()
    assert history["messages"][0] == {"role": "user", "text": "Oui"}


async def test_empty_messages_are_ignored(client: TestClient, rasa: tuple[RasaDouble, str]) -> None:
    session = sid()
    resp = await client.post(f"/api/chat/{session}/messages", json={"text": "   "})
    assert resp.status == 200 and (await resp.json()) == {"messages": []}
    async with client.ws_connect(f"/ws?session={session}") as ws:
        await receive(ws, "history")
        await ws.send_json({"type": "message", "text": ""})
        await ws.send_json({"type": "message", "text": "suite"})
        bot = await receive(ws, "bot")
    assert bot["messages"][0]["text"] == "écho : suite"
    assert [r["message"] for r in rasa[0].received] == ["suite"]


async def test_too_long_message_is_refused_in_french(client: TestClient) -> None:
    session = sid()
    resp = await client.post(f"/api/chat/{session}/messages", json={"text": "a" * 2001})
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["code"] == "too_long" and "trop long" in error["message"]
    assert "exceeds 2000" in error["detail"]
    async with client.ws_connect(f"/ws?session={session}") as ws:
        await receive(ws, "history")
        await ws.send_json({"type": "message", "text": "é" * 2001})
        frame = await receive(ws, "error")
        assert frame["code"] == "too_long" and "2000" in frame["message"]
        # The connection stays usable.
        await ws.send_json({"type": "message", "text": "a" * 2000})
        assert (await receive(ws, "bot"))["messages"][0]["text"].startswith("écho")


async def test_malformed_input_gets_4xx_or_close_code_never_a_trace(client: TestClient) -> None:
    session = sid()
    for body in (b"{not json", b"[1,2]", b'{"text": 3}', b'{"text": "x", "payload": "<b>"}'):
        resp = await client.post(
            f"/api/chat/{session}/messages", data=body, headers={"Content-Type": "application/json"}
        )
        assert resp.status == 400, body
        payload = await resp.json()
        assert payload["error"]["message"] and "Traceback" not in await resp.text()
    resp = await client.post("/api/chat/x/messages", json={"text": "salut"})
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "bad_session"
    resp = await client.get("/ws?session=bad id")
    assert resp.status == 400
    async with client.ws_connect(f"/ws?session={session}") as ws:
        await receive(ws, "history")
        await ws.send_json({"type": "nope"})
        assert (await receive(ws, "error"))["code"] == "bad_frame"
        await ws.send_str("{not json")
        msg = await ws.receive()
        assert msg.type == WSMsgType.CLOSE and ws.close_code == 1007
    async with client.ws_connect(f"/ws?session={session}") as ws:
        await receive(ws, "history")
        await ws.send_bytes(b"\x00\x01")
        msg = await ws.receive()
        assert msg.type == WSMsgType.CLOSE and ws.close_code == 1003
    async with client.ws_connect(f"/ws?session={session}") as ws:
        await receive(ws, "history")
        await ws.send_str('{"type":"message","text":"' + "a" * 20000 + '"}')
        msg = await ws.receive()
        assert msg.type == WSMsgType.CLOSE and ws.close_code == 1009


async def test_html_is_stored_and_returned_as_text(client: TestClient) -> None:
    session = sid()
    payload = "<img src=x onerror=alert(1)>"
    resp = await client.post(f"/api/chat/{session}/messages", json={"text": payload})
    assert (await resp.json())["messages"][0]["text"] == f"écho : {payload}"
    history = await (await client.get(f"/api/chat/{session}/history")).json()
    assert history["messages"][0]["text"] == payload


async def test_slow_rasa_gets_a_french_apology_with_the_phone_in_time(
    client: TestClient, rasa: tuple[RasaDouble, str]
) -> None:
    rasa[0].delay_s = 5
    started = time.monotonic()
    resp = await client.post(f"/api/chat/{sid()}/messages", json={"text": "bonjour"})
    elapsed = time.monotonic() - started
    text = (await resp.json())["messages"][0]["text"]
    assert "problème technique" in text and "01 99 00 12 34" in text
    # Functional bound (the timeout is 1 s here), not a performance assertion.
    assert elapsed < 4.5
    rasa[0].delay_s = 0
    resp = await client.post(f"/api/chat/{sid()}/messages", json={"text": "re"})
    assert (await resp.json())["messages"][0]["text"] == "écho : re"


async def test_rasa_errors_and_emergency_guard(
    client: TestClient, rasa: tuple[RasaDouble, str]
) -> None:
    rasa[0].status = 500
    resp = await client.post(
        f"/api/chat/{sid()}/messages", json={"text": "au feu, l'immeuble brûle"}
    )
    messages = (await resp.json())["messages"]
    # Rasa failed, yet the numbers come first, then the apology.
    assert messages[0]["emergency"] is True and "• 18 :" in messages[0]["text"]
    assert "problème technique" in messages[1]["text"]


async def test_town_info_and_health(client: TestClient) -> None:
    info = await (await client.get("/api/town")).json()
    assert info["phone"] == "01 99 00 12 34" and info["opening_hours"]
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200 and (await ready.json())["checks"] == {
        "rasa": True,
        "database": True,
    }
    page = await client.get("/")
    assert page.status == 200 and "widget.js" in await page.text()


TOWN_SITE = "https://www.villebrune.example"


@pytest.fixture
async def embedded(
    rasa: tuple[RasaDouble, str], tmp_path: Path
) -> AsyncIterator[TestClient[aiohttp.web.Request, aiohttp.web.Application]]:
    """The app as a town deploys it: the widget embedded on the town's site."""
    data_dir = tmp_path / "embedded"
    data_dir.mkdir()
    allowed = f'["{TOWN_SITE}"]'
    async with app_client(rasa[1], data_dir, GUICHET__SECURITY__ALLOWED_ORIGINS=allowed) as client:
        yield client


async def test_chat_api_answers_the_town_site_and_refuses_other_sites(
    embedded: TestClient,
) -> None:
    session = sid()
    await embedded.post(f"/api/chat/{session}/messages", json={"text": "mon histoire"})
    preflight = await embedded.options(
        f"/api/chat/{session}/messages",
        headers={"Origin": TOWN_SITE, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == TOWN_SITE
    resp = await embedded.get(f"/api/chat/{session}/history", headers={"Origin": TOWN_SITE})
    assert resp.status == 200 and resp.headers["Access-Control-Allow-Origin"] == TOWN_SITE
    assert (await resp.json())["messages"][0]["text"] == "mon histoire"
    # Another site's page, in a visitor's browser: no conversation, no CORS grant.
    evil = {"Origin": "https://evil.example"}
    for method, path in (
        ("GET", f"/api/chat/{session}/history"),
        ("POST", f"/api/chat/{session}/messages"),
        ("POST", f"/api/chat/{session}/feedback"),
        ("OPTIONS", f"/api/chat/{session}/history"),
    ):
        async with embedded.request(method, path, headers=evil, json={"text": "x"}) as resp:
            assert resp.status == 403, (method, path)
            assert "Access-Control-Allow-Origin" not in resp.headers
            body = await resp.json()
        assert body["error"]["code"] == "origin_refused"
        assert "pas autorisé" in body["error"]["message"]
        assert "mon histoire" not in json.dumps(body)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await embedded.ws_connect(f"/ws?session={session}", headers=evil)
    assert refused.value.status == 403
    # The app's own pages (the demo site), and clients that are not pages, still work.
    own = {"Origin": str(embedded.make_url("")).rstrip("/")}
    assert (await embedded.get(f"/api/chat/{session}/history", headers=own)).status == 200
    async with embedded.ws_connect(f"/ws?session={session}", headers=own) as ws:
        assert (await receive(ws, "history"))["messages"][0]["text"] == "mon histoire"
    assert (await embedded.get(f"/api/chat/{session}/history")).status == 200
    assert "Access-Control-Allow-Origin" not in (await embedded.get("/api/town")).headers


async def test_by_default_only_the_apps_own_pages_may_call_the_chat(client: TestClient) -> None:
    resp = await client.get(f"/api/chat/{sid()}/history", headers={"Origin": TOWN_SITE})
    assert resp.status == 403


async def test_web_routes_take_widget_uuids_never_phone_ids(client: TestClient) -> None:
    phone = "phone-a84b4c76e66710@pbx.example"
    for method, path in (
        ("GET", f"/api/chat/{phone}/history"),
        ("POST", f"/api/chat/{phone}/messages"),
        ("POST", f"/api/chat/{phone}/feedback"),
        ("GET", f"/ws?session={phone}"),
    ):
        async with client.request(method, path, json={"text": "x"}) as resp:
            assert resp.status == 400, (method, path)
            error = (await resp.json())["error"]
        assert error["code"] == "bad_session" and "not a UUID" in error["detail"]
        assert "Rechargez la page" in error["message"]


async def test_feedback_is_validated_and_tied_to_an_answer_the_session_got(
    client: TestClient, rasa: tuple[RasaDouble, str], data_dir: Path
) -> None:
    with sqlite3.connect(data_dir / "guichet.db") as db:
        query_id = db.execute(
            "INSERT INTO kb_queries (question, channel, confidence, top_slug, created_at)"
            " VALUES ('cantine ?', 'webchat', 'answer', 'cantine-scolaire', ?)",
            (datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),),
        ).lastrowid
    session, other = sid(), sid()
    vote = {"query_id": query_id, "slug": "cantine-scolaire", "useful": True}
    # Before the answer was given, nobody may vote on it.
    resp = await client.post(f"/api/chat/{session}/feedback", json=vote)
    assert resp.status == 404
    assert "no answer this session received" in (await resp.json())["error"]["detail"]
    rasa[0].feedback = {"query_id": query_id, "slug": "cantine-scolaire"}
    await client.post(f"/api/chat/{session}/messages", json={"text": "la cantine"})
    rasa[0].feedback = None
    ok = await client.post(f"/api/chat/{session}/feedback", json=vote)
    assert ok.status == 200 and (await ok.json()) == {"status": "recorded"}
    unknown, malformed = (404, "unknown_answer"), (400, "bad_feedback")
    refused = [
        (session, vote, "already has a vote", (409, "already_voted")),  # one vote per answer
        (other, vote, "no answer this session received", unknown),  # another conversation's
        (session, {**vote, "slug": "piscine"}, "no answer this session received", unknown),
        (session, {**vote, "query_id": query_id + 1}, "no answer this session received", unknown),
        (session, {"slug": "cantine-scolaire", "useful": "oui"}, "feedback needs", malformed),
        (session, {"slug": "<script>", "useful": True}, "feedback needs", malformed),
        (session, {"query_id": True, "slug": "a", "useful": False}, "feedback needs", malformed),
        (session, [1], "feedback needs", malformed),
    ]
    for who, bad, detail, (status, code) in refused:
        resp = await client.post(f"/api/chat/{who}/feedback", json=bad)
        error = (await resp.json())["error"]
        assert (resp.status, error["code"]) == (status, code), bad
        assert detail in error["detail"], bad
    with sqlite3.connect(data_dir / "guichet.db") as db:
        rows = db.execute("SELECT query_id, slug, useful FROM kb_feedback").fetchall()
    assert rows == [(query_id, "cantine-scolaire", 1)]
