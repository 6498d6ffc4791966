"""Structured logs, request ids and metrics of the real app process.

`python -m bot` runs as in production with `GUICHET__LOGGING__FORMAT=json`; its
Rasa address is a closed port, so a chat turn exercises the error path (apology,
warning, error metric) without a dialogue engine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port
from tools import ROOT


@dataclass
class Process:
    url: str
    log: Path

    def lines(self) -> list[dict[str, Any]]:
        entries = []
        for raw in self.log.read_text(encoding="utf-8").splitlines():
            entries.append(json.loads(raw))  # every line is one JSON object
        return entries


def request(
    url: str, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], str]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


@pytest.fixture(scope="module")
def json_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    data_dir = tmp_path_factory.mktemp("json-logs")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUICHET")}
    env.update(
        {
            "GUICHET_DATA_DIR": str(data_dir),
            "GUICHET__SERVER__PORT": str(port),
            "GUICHET__ACTIONS__PORT": str(free_port()),
            "GUICHET__RASA__URL": f"http://127.0.0.1:{free_port()}",  # nobody listens
            "GUICHET__RASA__TIMEOUT_S": "1",
            "GUICHET__VOICE__ENABLED": "false",
            "GUICHET__LOGGING__FORMAT": "json",
        }
    )
    log = data_dir / "app.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            try:
                if request(url + "/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail(f"the app did not start: {log.read_text()}")
        yield Process(url, log)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_json_lines_carry_the_request_id_and_no_personal_data(json_app: Process) -> None:
    session = str(uuid.uuid4())
    # A button payload is logged when refused: the e-mail and phone in it must not be.
    status, headers, _ = request(
        f"{json_app.url}/api/chat/{session}/messages",
        {
            "text": "x",
            "payload": '/Contact{"email": "jean.dupont@example.fr", "tel": "06 12 34 56 78"}',
        },
        {"X-Request-Id": "test-refused-1"},
    )
    assert status == 400 and headers["X-Request-Id"] == "test-refused-1"
    # Rasa is unreachable: the citizen gets the apology, the operator a warning.
    status, headers, body = request(
        f"{json_app.url}/api/chat/{session}/messages", {"text": "bonjour"}
    )
    assert status == 200 and json.loads(body)["messages"][0]["degraded"] is True
    generated = headers["X-Request-Id"]
    assert len(generated) == 32
    # A request id that could forge log content is replaced.
    _, headers, _ = request(f"{json_app.url}/api/town", headers={"X-Request-Id": "a b\tc"})
    assert headers["X-Request-Id"] != "a b\tc"

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        entries = json_app.lines()
        if any(e.get("request_id") == generated and e["level"] == "WARNING" for e in entries):
            break
        time.sleep(0.2)
    for entry in entries:
        assert {"time", "level", "logger", "message", "request_id"} <= entry.keys()
    refused = [e for e in entries if e["request_id"] == "test-refused-1"]
    assert any("input refused" in e["message"] for e in refused), refused
    text = json.dumps(entries, ensure_ascii=False)
    assert "jean.dupont@example.fr" not in text and "06 12 34 56 78" not in text
    assert "[courriel]" in text and "[téléphone]" in text
    warning = next(e for e in entries if e["request_id"] == generated and e["level"] == "WARNING")
    assert warning["logger"] == "bot.conversation.service"
    assert warning["message"].startswith("rasa unavailable for a webchat turn")
    access = next(
        e
        for e in entries
        if e["request_id"] == generated and e["logger"] == "bot.observability.http"
    )
    assert access["message"] == "POST /api/chat/{session}/messages 200"
    assert access["status"] == 200 and access["duration_ms"] > 0
    assert session not in text  # routes are logged as templates
    assert [e for e in entries if e["level"] == "ERROR"] == []
    # Start-up lines have no request id.
    assert any(e["request_id"] is None and "listening" in e["message"] for e in entries)


def metric_values(url: str) -> tuple[dict[str, float], str]:
    status, headers, text = request(f"{url}/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    values = {}
    for line in text.splitlines():
        if line.startswith("guichet_") and " " in line:
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values, text


def test_metrics_count_turns_errors_and_requests(json_app: Process) -> None:
    # The module's app served other tests before: compare with what it said then.
    before, _ = metric_values(json_app.url)
    session = str(uuid.uuid4())
    for _ in range(2):
        request(f"{json_app.url}/api/chat/{session}/messages", {"text": "bonjour"})
    request(f"{json_app.url}/healthz")
    after, text = metric_values(json_app.url)

    def added(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    assert added('guichet_chat_turns_total{channel="webchat"}') == 2
    assert added('guichet_rasa_errors_total{kind="error"}') == 2
    assert added('guichet_turn_duration_seconds_count{channel="webchat"}') == 2
    assert added('guichet_http_requests_total{method="GET",route="/healthz",status="200"}') == 1
    assert (
        added(
            'guichet_http_requests_total{method="POST",route="/api/chat/{session}/messages",'
            'status="200"}'
        )
        == 2
    )
    assert "process_resident_memory_bytes" in text
