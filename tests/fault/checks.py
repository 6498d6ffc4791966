"""Invariants checked on the databases after a process was killed."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any


def connect(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    return conn


def assert_sqlite_sound(db: Path) -> None:
    """`PRAGMA integrity_check` and the foreign keys of a SQLite database."""
    with connect(db) as conn:
        integrity = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        assert integrity == ["ok"], f"{db.name}: {integrity}"
        orphans = conn.execute("PRAGMA foreign_key_check").fetchall()
        assert not orphans, (
            f"{db.name}: rows pointing at missing rows: {[tuple(r) for r in orphans]}"
        )


def articles_with_history(db: Path) -> dict[str, dict[str, Any]]:
    """slug -> the article row and its version snapshots (version -> snapshot)."""
    out: dict[str, dict[str, Any]] = {}
    conn = connect(db)
    try:
        conn.execute("BEGIN")  # one snapshot for all the reads
        rows = conn.execute("SELECT id, slug, title, body, status, version FROM articles")
        for row in rows.fetchall():
            versions = conn.execute(
                "SELECT version, snapshot FROM article_versions WHERE article_id = ?",
                (row["id"],),
            ).fetchall()
            out[row["slug"]] = {
                "row": dict(row),
                "versions": {v["version"]: json.loads(v["snapshot"]) for v in versions},
            }
        conn.rollback()
    finally:
        conn.close()
    return out
