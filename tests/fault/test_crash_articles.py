"""An article save killed by SIGKILL is all there or not there at all, never half.

A worker process (`tests/fault/kb_writer.py`: the app's knowledge-base start-up, then
saves without pause, through the editor's path and through the store alone) is
killed at a random instant, several times over the same data directory. Since the
worker never stops writing, each kill lands during a save: inside the store's
transaction, between it and the index update, or inside Chroma's write. After every
kill the article store must be consistent, every acknowledged save must be there, and
the next start-up must reconcile the Chroma index with the store. At the end the real
app starts on that data directory and its index is read back.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import chromadb
from chromadb.config import Settings as ChromaSettings

from tests.conftest import free_port, make_settings
from tests.fault.checks import articles_with_history, assert_sqlite_sound
from tests.fault.kb_writer import marker
from tools import ROOT
from tools.launcher import Stack

ROUNDS = 5
START_TIMEOUT_S = 60
MIN_ACKS_BEFORE_KILL = 3


def read_events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_for(
    proc: subprocess.Popen[bytes], events: Path, skip: int, ready: Any, what: str
) -> list[dict[str, Any]]:
    """Events written by this worker (after the first `skip`) once `ready(events)`."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        new = read_events(events)[skip:]
        if ready(new):
            return new
        assert proc.poll() is None, f"the worker exited with {proc.returncode} before {what}"
        time.sleep(0.05)
    raise AssertionError(f"the worker did not reach {what} within {START_TIMEOUT_S} s")


def check_store(db: Path, acked: dict[str, int]) -> dict[str, dict[str, Any]]:
    """Every article row matches its latest snapshot, its history is complete, and
    every save the worker acknowledged is there."""
    assert_sqlite_sound(db)
    articles = articles_with_history(db)
    for slug, item in articles.items():
        row, versions = item["row"], item["versions"]
        v = row["version"]
        assert set(versions) == set(range(1, v + 1)), f"{slug}: versions {sorted(versions)} at v{v}"
        assert marker(slug, v) in row["title"] and marker(slug, v) in row["body"], slug
        for number, snapshot in versions.items():
            assert marker(slug, number) in snapshot["body"], f"{slug} v{number}: wrong snapshot"
        latest = versions[v]
        assert (latest["title"], latest["body"].strip(), latest["status"]) == (
            row["title"],
            row["body"].strip(),
            row["status"],
        ), f"{slug}: the row differs from its latest snapshot"
    for slug, version in acked.items():
        assert slug in articles, f"acknowledged article {slug} is missing"
        assert articles[slug]["row"]["version"] >= version, f"{slug}: acknowledged v{version} lost"
    return articles


def published_versions(articles: dict[str, dict[str, Any]]) -> dict[str, int]:
    return {
        s: a["row"]["version"] for s, a in articles.items() if a["row"]["status"] == "published"
    }


def check_index(started: dict[str, Any], published: dict[str, int]) -> None:
    """After start-up: one vector per published article, at its stored version, and the
    in-memory index holds the same articles; nothing else."""
    assert started["published"] == published
    assert started["chroma"] == {s: [v] for s, v in published.items()}
    assert started["memory"] == published
    assert started["indexed"] == len(published)


def test_article_saves_killed_midway_are_whole_or_absent(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    events = tmp_path / "events.jsonl"
    db = data_dir / "guichet.db"
    rng = random.Random(os.getpid())
    acked: dict[str, int] = {}
    after_kill: dict[str, int] = {}  # published slug -> version, as the last kill left them
    saves = 0
    for round_number in range(ROUNDS):
        skip = len(read_events(events))
        log = (tmp_path / f"worker-{round_number}.log").open("wb")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.fault.kb_writer",
                str(data_dir),
                str(events),
                str(round_number),
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            new = wait_for(proc, events, skip, lambda e: bool(e), "its start-up")
            # The start-up reconciled the index with what the previous kill left.
            check_index(new[0]["started"], after_kill)
            wait_for(
                proc,
                events,
                skip,
                lambda e: sum("ack" in x for x in e) >= MIN_ACKS_BEFORE_KILL,
                "its first saves",
            )
            time.sleep(rng.uniform(0.0, 1.5))
        finally:
            proc.kill()  # SIGKILL: no clean-up of any kind
            proc.wait()
            log.close()
        assert proc.returncode == -signal.SIGKILL
        for item in read_events(events)[skip:]:
            if "ack" in item:
                acked[item["ack"]] = max(acked.get(item["ack"], 0), item["version"])
                saves += 1
        after_kill = published_versions(check_store(db, acked))
    assert saves >= ROUNDS * MIN_ACKS_BEFORE_KILL

    # The real app starts on what the last kill left, and reconciles its index.
    settings = make_settings(
        data_dir, f"http://127.0.0.1:{free_port()}", GUICHET__VOICE__ENABLED="false"
    )
    app = Stack(settings, ROOT / "unused-model")
    app.start_app()
    try:
        app.wait_ready("app", f"{app.app_url}/healthz", time.monotonic(), 120)
    finally:
        app.stop()
    articles = check_store(db, acked)
    client = chromadb.PersistentClient(
        path=str(data_dir / "chroma"), settings=ChromaSettings(anonymized_telemetry=False)
    )
    stored = client.get_collection("articles").get(include=["metadatas"])
    chroma: dict[str, list[int]] = {}
    for meta in stored["metadatas"] or []:
        chroma.setdefault(str(meta["slug"]), []).append(int(str(meta["version"])))
    assert chroma == {s: [v] for s, v in published_versions(articles).items()}
