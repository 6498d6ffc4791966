"""Web chat channel + conversation service against a Rasa double."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
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


@pytest.fixture
async def client(
    rasa: tuple[RasaDouble, str], data_dir: Path
) -> AsyncIterator[TestClient[aiohttp.web.Request, aiohttp.web.Application]]:
    settings = make_settings(data_dir, rasa[1], GUICHET__RASA__TIMEOUT_S="1")
    services = await Services.start(settings)
    client = TestClient(TestServer(create_public_app(services), host="127.0.0.1"))
    await client.start_server()
    yield client
    await client.close()
    await services.close()


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


async def test_chat_api_allows_embedding_on_another_origin(client: TestClient) -> None:
    preflight = await client.options(
        f"/api/chat/{sid()}/messages",
        headers={
            "Origin": "https://www.villebrune.example",
            "Access-Control-Request-Method": "POST",
        },
    )
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    resp = await client.post(f"/api/chat/{sid()}/messages", json={"text": "x"})
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Origin" not in (await client.get("/api/town")).headers


async def test_feedback_is_validated_and_recorded(client: TestClient, data_dir: Path) -> None:
    session = sid()
    url = f"/api/chat/{session}/feedback"
    ok = await client.post(url, json={"query_id": None, "slug": "cantine-scolaire", "useful": True})
    assert ok.status == 200
    for bad in (
        {"slug": "cantine-scolaire", "useful": "oui"},
        {"slug": "<script>", "useful": True},
        {"query_id": True, "slug": "a", "useful": False},
        [1],
    ):
        resp = await client.post(url, json=bad)
        assert resp.status == 400 and (await resp.json())["error"]["code"] == "bad_feedback"
    with sqlite3.connect(data_dir / "guichet.db") as db:
        rows = db.execute("SELECT slug, useful FROM kb_feedback").fetchall()
    assert rows == [("cantine-scolaire", 1)]
