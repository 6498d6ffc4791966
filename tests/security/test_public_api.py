"""The public API's defences, on an app built as in production (Rasa: the double).

Schema validation (400 with a French message and an English detail), size
limits, per-IP and per-session rate limits (HTTP and WebSocket), security
headers on every response, and who may read /metrics.
"""

from __future__ import annotations

import asyncio
import io
import logging
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

from bot.observability.logs import configure_logging, stop_logging_thread
from bot.security.limits import RateLimiter
from bot.settings import RateLimit
from bot.storage.transcripts import StoredMessage, TranscriptStore
from knowledge_base.logbook import kb_feedback
from tests.security.conftest import App, AppFactory


def sid() -> str:
    return str(uuid.uuid4())


async def post(app: App, path: str, body: Any = None, **kw: Any) -> tuple[int, dict[str, Any], Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(app.base + path, json=body, **kw) as resp,
    ):
        data = await resp.json(content_type=None)
        return resp.status, dict(resp.headers), data


async def get(app: App, path: str, **kw: Any) -> tuple[int, dict[str, str], str]:
    async with aiohttp.ClientSession() as http, http.get(app.base + path, **kw) as resp:
        return resp.status, dict(resp.headers), await resp.text()


# --- schema validation ---
BAD_MESSAGES: list[tuple[Any, str]] = [
    ({"text": "bonjour", "admin": True}, "unknown field"),
    ({"text": 42}, "must be strings"),
    ({"text": "x", "payload": ["/affirm"]}, "must be strings"),
    ({"type": "typing", "text": "x"}, "type 'message'"),
    (["bonjour"], "type 'message'"),
    ("bonjour", "type 'message'"),
    ({"type": None, "text": "x"}, "type 'message'"),
    ({"text": "x", "payload": "/affirm; DROP TABLE"}, "not an intent payload"),
    ({"text": "é" * 2001}, "exceeds 2000"),
]


@pytest.mark.parametrize(("body", "detail"), BAD_MESSAGES)
async def test_invalid_message_bodies_get_a_clear_400(
    make_app: AppFactory, body: Any, detail: str
) -> None:
    app = await make_app()
    status, _, data = await post(app, f"/api/chat/{sid()}/messages", body)
    assert status == 400
    assert detail in data["error"]["detail"]  # English, for the operator
    assert data["error"]["message"].startswith(("Votre", "Ce bouton"))  # French, for the citizen


async def test_non_json_oversized_and_bad_session_bodies(make_app: AppFactory) -> None:
    app = await make_app()
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{app.base}/api/chat/{sid()}/messages",
            data=b"{not json",
            headers={"Content-Type": "application/json"},
        ) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"]["code"] == "bad_json"
        async with http.post(
            f"{app.base}/api/chat/{sid()}/messages", json={"text": "x" * 70_000}
        ) as resp:
            assert resp.status == 413
            error = (await resp.json())["error"]
            assert error["code"] == "too_large" and "volumineux" in error["message"]
            assert "65536 bytes" in error["detail"]
    status, _, data = await post(app, "/api/chat/pas%20valide/messages", {"text": "x"})
    assert status == 400 and data["error"]["code"] == "bad_session"
    assert "Rechargez la page" in data["error"]["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"slug": "carte-identite", "useful": True, "extra": 1},
        {"slug": "Carte Identité", "useful": True},
        {"slug": "carte-identite", "useful": "oui"},
        {"slug": "carte-identite", "useful": True, "query_id": "12"},
        {"slug": "carte-identite", "useful": True, "query_id": True},
        [],
    ],
)
async def test_invalid_feedback_gets_a_clear_400(make_app: AppFactory, body: Any) -> None:
    app = await make_app()
    status, _, data = await post(app, f"/api/chat/{sid()}/feedback", body)
    assert status == 400
    assert data["error"] == {
        "code": "bad_feedback",
        "message": "Votre avis n'a pas pu être enregistré.",
        "detail": "feedback needs 'slug' (article slug), 'useful' (bool), 'query_id' (int or null)",
    }


async def test_websocket_frames_are_validated_too(make_app: AppFactory) -> None:
    app = await make_app()
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{app.base}/ws?session={sid()}") as ws,
    ):
        assert (await ws.receive_json(timeout=5))["type"] == "history"
        for frame in (
            {"type": "message", "text": "x", "extra": 1},
            {"type": "typing", "on": "yes"},
            {"type": "typing", "on": True, "text": "x"},
        ):
            await ws.send_json(frame)
            error = await ws.receive_json(timeout=5)
            assert error["type"] == "error" and error["code"] == "bad_frame"
            assert error["message"].startswith("Votre message n'a pas pu être lu")


# --- rate limits ---
RATE_LIMIT_FR = "Vous envoyez beaucoup de messages en peu de temps"


async def test_per_session_limit_answers_429_in_french_and_logs_in_english(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # Refilled at one token an hour: nothing comes back during the test.
    app = await make_app(
        GUICHET__SECURITY__RATE_LIMITS__PER_SESSION="{burst: 3, per_minute: 0.0167}",
        GUICHET__SECURITY__RATE_LIMITS__PER_IP="{burst: 100, per_minute: 60}",
    )
    session = sid()
    statuses = []
    with caplog.at_level(logging.WARNING, logger="bot.security.limits"):
        for _ in range(5):
            status, headers, data = await post(app, f"/api/chat/{session}/messages", {"text": "a"})
            statuses.append(status)
    assert statuses == [200, 200, 200, 429, 429]
    assert data["error"]["code"] == "rate_limited"
    assert data["error"]["message"].startswith(RATE_LIMIT_FR)
    assert "too many requests for this session" in data["error"]["detail"]
    assert int(headers["Retry-After"]) >= 1
    # One English line for the operator, without the full address.
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "rate limit: session bucket empty on messages for a client in 127.0.0.0/24; answering 429"
    ]
    # Another conversation from the same address is not affected.
    status, _, _ = await post(app, f"/api/chat/{sid()}/messages", {"text": "a"})
    assert status == 200


async def test_per_ip_limit_covers_every_session_and_endpoint(make_app: AppFactory) -> None:
    app = await make_app(
        GUICHET__SECURITY__RATE_LIMITS__PER_IP="{burst: 4, per_minute: 0.0167}",
    )
    results = [
        (await post(app, f"/api/chat/{sid()}/messages", {"text": "a"}))[0],
        (await post(app, f"/api/chat/{sid()}/feedback", {"slug": "a", "useful": True}))[0],
        (await get(app, f"/api/chat/{sid()}/history"))[0],
        (await post(app, f"/api/chat/{sid()}/messages", {"text": "a"}))[0],
        (await post(app, f"/api/chat/{sid()}/messages", {"text": "a"}))[0],
        (await get(app, f"/api/chat/{sid()}/history"))[0],
    ]
    # (the vote is refused, 404, as no answer was given; it still took a token)
    assert results == [200, 404, 200, 200, 429, 429]
    # The WebSocket handshake counts too, and is refused before the upgrade.
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(f"{app.base}/ws?session={sid()}")
    assert refused.value.status == 429
    # The rest of the site stays available.
    assert (await get(app, "/api/town"))[0] == 200


async def test_websocket_messages_are_limited_per_session_with_a_french_frame(
    make_app: AppFactory,
) -> None:
    app = await make_app(
        GUICHET__SECURITY__RATE_LIMITS__PER_SESSION="{burst: 2, per_minute: 0.0167}",
    )
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{app.base}/ws?session={sid()}") as ws,
    ):
        assert (await ws.receive_json(timeout=5))["type"] == "history"
        kinds = []
        for n in range(3):
            await ws.send_json({"type": "message", "text": f"message {n}"})
            while True:
                frame = await ws.receive_json(timeout=5)
                if frame["type"] in ("bot", "error"):
                    kinds.append(frame["type"])
                    break
    assert kinds == ["bot", "bot", "error"]
    assert frame["code"] == "rate_limited" and frame["message"].startswith(RATE_LIMIT_FR)


async def test_behind_a_trusted_proxy_the_forwarded_address_is_limited(
    make_app: AppFactory,
) -> None:
    app = await make_app(
        GUICHET__SECURITY__TRUSTED_PROXIES='["127.0.0.1"]',
        GUICHET__SECURITY__RATE_LIMITS__PER_IP="{burst: 2, per_minute: 0.0167}",
    )

    async def as_client(address: str) -> int:
        # What the client wrote first is ignored: nginx appends the real address.
        headers = {"X-Forwarded-For": f"6.6.6.6, {address}"}
        return (await get(app, f"/api/chat/{sid()}/history", headers=headers))[0]

    assert [await as_client("203.0.113.7") for _ in range(3)] == [200, 200, 429]
    assert await as_client("198.51.100.9") == 200  # another citizen behind the same proxy


async def test_limits_set_to_zero_are_off(make_app: AppFactory) -> None:
    app = await make_app(
        GUICHET__SECURITY__RATE_LIMITS__PER_IP="{burst: 0, per_minute: 0}",
        GUICHET__SECURITY__RATE_LIMITS__PER_SESSION="{burst: 0, per_minute: 0}",
    )
    session = sid()
    statuses = await asyncio.gather(*(get(app, f"/api/chat/{session}/history") for _ in range(100)))
    assert {s[0] for s in statuses} == {200}


def test_token_bucket_refills_at_the_configured_rate() -> None:
    now = [0.0]
    bucket = RateLimiter(RateLimit(burst=3, per_minute=30), clock=lambda: now[0])
    assert [bucket.allow("a") for _ in range(4)] == [True, True, True, False]
    assert bucket.retry_after("a") == 2  # one token every 2 s
    now[0] += 1.9
    assert not bucket.allow("a")
    now[0] += 0.2
    assert bucket.allow("a") and not bucket.allow("a")
    now[0] += 60
    assert [bucket.allow("a") for _ in range(4)] == [True, True, True, False]  # capped at burst
    assert bucket.allow("b")  # keys are independent


# --- headers ---
async def test_security_headers_on_every_kind_of_response(make_app: AppFactory) -> None:
    app = await make_app()
    checks = {
        "/": (200, "script-src 'self'"),
        "/static/widget.js": (200, "script-src 'self'"),
        "/static/demo.js": (200, "script-src 'self'"),
        "/static/favicon.svg": (200, "script-src 'self'"),
        "/api/town": (200, "default-src 'none'"),
        "/api/openapi.yaml": (200, "default-src 'none'"),
        "/api/nope": (404, "default-src 'none'"),
        "/nope": (404, "script-src 'self'"),
        "/admin/login": (200, "form-action 'self'"),
        "/agent": (303, "frame-ancestors 'none'"),
    }
    for path, (status, csp) in checks.items():
        async with (
            aiohttp.ClientSession() as http,
            http.get(app.base + path, allow_redirects=False) as resp,
        ):
            assert resp.status == status, path
            headers = resp.headers
        assert csp in headers["Content-Security-Policy"], path
        assert "unsafe-inline" not in headers["Content-Security-Policy"], path
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert headers["X-Frame-Options"] == "DENY", path
        assert headers["Referrer-Policy"] == "same-origin", path
        assert "microphone=()" in headers["Permissions-Policy"], path
        assert len(headers["X-Request-Id"]) == 32, path
        assert "Strict-Transport-Security" not in headers, path  # plain http here
    # A method the route does not take, and a body over the limit: headers too.
    async with aiohttp.ClientSession() as http, http.post(app.base + "/api/town") as resp:
        assert resp.status == 405 and resp.headers["X-Content-Type-Options"] == "nosniff"
        assert "X-Request-Id" in resp.headers
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{app.base}/api/chat/{sid()}/messages", json={"text": "x" * 70_000}) as resp,
    ):
        assert resp.status == 413
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Content-Security-Policy"].startswith("default-src 'none'")
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert len(resp.headers["X-Request-Id"]) == 32
    # Every page links the icon, so browsers do not ask for a missing /favicon.ico.
    status, headers, body = await get(app, "/static/favicon.svg")
    assert status == 200 and headers["Content-Type"].startswith("image/svg+xml")
    assert body.startswith("<svg")
    assert 'href="/static/favicon.svg"' in (await get(app, "/"))[2]
    assert 'href="/static/favicon.svg"' in (await get(app, "/admin/login"))[2]
    # The widget's files may be loaded by the towns' sites; pages may not.
    assert (await get(app, "/static/widget.js"))[1]["Cross-Origin-Resource-Policy"] == (
        "cross-origin"
    )
    assert (await get(app, "/"))[1]["Cross-Origin-Resource-Policy"] == "same-origin"
    # A revalidated page keeps the page policy (browsers apply a 304's CSP to the cache).
    _, headers, _ = await get(app, "/")
    status, revalidated, _ = await get(
        app, "/", headers={"If-Modified-Since": headers["Last-Modified"]}
    )
    assert (
        status == 304
        and revalidated["Content-Security-Policy"] == (headers["Content-Security-Policy"])
    )
    _, headers, _ = await get(app, "/", headers={"X-Forwarded-Proto": "https"})
    assert headers["Strict-Transport-Security"] == "max-age=31536000"


async def test_the_demo_page_has_no_inline_script_or_style(make_app: AppFactory) -> None:
    app = await make_app()
    _, _, page = await get(app, "/")
    assert "<script>" not in page and "<style" not in page and "style=" not in page
    for attribute in ("onclick=", "onload=", "onerror=", "javascript:"):
        assert attribute not in page.lower()


# --- /metrics ---
async def test_metrics_are_served_to_loopback_only_by_default(make_app: AppFactory) -> None:
    app = await make_app()
    await post(app, f"/api/chat/{sid()}/messages", {"text": "bonjour"})
    status, headers, text = await get(app, "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=")
    assert 'guichet_chat_turns_total{channel="webchat"}' in text
    assert (
        'guichet_http_requests_total{method="POST",route="/api/chat/{session}/messages",'
        'status="200"}' in text
    )
    # Relayed by a proxy the app does not trust: the real client is unknown.
    status, _, _ = await get(app, "/metrics", headers={"X-Forwarded-For": "203.0.113.7"})
    assert status == 404


async def test_metrics_behind_a_proxy_and_with_another_allow_list(make_app: AppFactory) -> None:
    proxied = await make_app(GUICHET__SECURITY__TRUSTED_PROXIES='["127.0.0.1"]')
    outside = {"X-Forwarded-For": "203.0.113.7"}
    assert (await get(proxied, "/metrics", headers=outside))[0] == 404
    inside = {"X-Forwarded-For": "127.0.0.1"}  # a scraper on the proxy's host
    assert (await get(proxied, "/metrics", headers=inside))[0] == 200
    closed = await make_app(GUICHET__METRICS__ALLOW_FROM='["10.0.0.0/8"]')
    assert (await get(closed, "/metrics"))[0] == 404


async def test_feedback_on_an_answer_whose_question_is_gone_is_still_recorded(
    make_app: AppFactory,
) -> None:
    """A vote on an answer the session received, whose logged question was purged
    (or never logged): kept, unlinked. Ids out of range and long slugs: a clear 400."""
    app = await make_app()
    engine = app.services.engine
    query_id = await app.services.knowledge.queries.record(
        "horaires ?", "webchat", "answer", "carte-identite"
    )
    session = sid()
    answers = [query_id, 999_999, 2**31 - 1, None]
    await TranscriptStore(engine).append(
        session,
        "webchat",
        [
            StoredMessage("bot", "réponse", {"feedback": {"query_id": q, "slug": "carte-identite"}})
            for q in answers
        ],
    )
    for q in answers:
        body = {"query_id": q, "slug": "carte-identite", "useful": False}
        status, _, data = await post(app, f"/api/chat/{session}/feedback", body)
        assert (status, data) == (200, {"status": "recorded"}), q
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(
                    kb_feedback.c.query_id, kb_feedback.c.slug, kb_feedback.c.useful
                ).order_by(kb_feedback.c.id)
            )
        ).all()
    assert [tuple(r) for r in rows] == [(query_id, "carte-identite", False)] + [
        (None, "carte-identite", False)
    ] * 3
    for body in (
        {"query_id": 0, "slug": "a", "useful": True},
        {"query_id": -1, "slug": "a", "useful": True},
        {"query_id": 2**31, "slug": "a", "useful": True},
        {"query_id": 2**63, "slug": "a", "useful": True},
        {"query_id": None, "slug": "a" * 121, "useful": True},
    ):
        status, _, data = await post(app, f"/api/chat/{session}/feedback", body)
        assert status == 400 and data["error"]["code"] == "bad_feedback", body


# --- hostile input and the event loop ---
class StuckStream(io.StringIO):
    """A log destination whose writes wait until released (a stuck stderr pipe)."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()
        self.lines: list[str] = []
        self.wrote = threading.Condition()

    def write(self, text: str) -> int:
        self.entered.set()
        self.release.wait(timeout=120)
        with self.wrote:
            self.lines.append(text)
            self.wrote.notify_all()
        return len(text)

    def wait_for(self, needle: str) -> str:
        with self.wrote:
            found = self.wrote.wait_for(
                lambda: any(needle in line for line in self.lines), timeout=60
            )
        assert found, f"no log line with {needle!r}"
        return next(line for line in self.lines if needle in line)


@pytest.fixture
def stuck_logs() -> Iterator[StuckStream]:
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    stream = StuckStream()
    configure_logging("json", "INFO", stream)
    try:
        yield stream
    finally:
        stream.release.set()
        stop_logging_thread()
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved:
            root.addHandler(handler)
        root.setLevel(level)


async def test_a_hostile_body_is_answered_while_the_log_writer_is_stuck(
    make_app: AppFactory, stuck_logs: StuckStream
) -> None:
    """The issue's request: a body as large as accepted whose unknown key is "a.a.a…"
    (it took 4.5 s and blocked every other request). Masking, formatting and writing
    the log line happen off the event loop: with the writer stuck, the loop still
    answers that request and /healthz; the line, once written, is short and masked."""
    app = await make_app()
    logging.getLogger("tests.stuck").warning("the log writer is now stuck")
    assert await asyncio.to_thread(stuck_logs.entered.wait, 60)
    key = ("a." * 40_000)[: 64 * 1024 - 200] + "jean.dupont@example.fr"
    status, _, data = await asyncio.wait_for(
        post(app, f"/api/chat/{sid()}/messages", {key: 1, "text": "x"}), 60
    )
    assert status == 400 and data["error"]["code"] == "bad_frame"
    detail = data["error"]["detail"]
    assert detail.startswith("unknown field(s) ['a.a.a.") and len(detail) < 200
    assert "jean.dupont" not in detail
    assert (await asyncio.wait_for(get(app, "/healthz"), 60))[0] == 200
    # A turn whose text is the scanner's worst case, at the largest length accepted.
    session = sid()
    status, _, _ = await asyncio.wait_for(
        post(app, f"/api/chat/{session}/messages", {"text": ("0 " * 1000)[:2000]}), 60
    )
    assert status == 200
    stuck_logs.release.set()
    line = await asyncio.to_thread(stuck_logs.wait_for, "input refused")
    assert len(line) < 1000 and "a.a.a." in line and "jean.dupont" not in line
