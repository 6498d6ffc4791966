"""Rasa's own SQL tracker store, written by Rasa itself (the Rasa venv), so tests of
the RGPD purge and erasure run on the real schema rather than a table made by hand."""

from __future__ import annotations

import json
import subprocess

from tools import ROOT

RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"

_SCRIPT = """
import asyncio, json, sys
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

store_args, conversations = json.loads(sys.argv[1])

async def main():
    store = SQLTrackerStore(**store_args)
    for sender, turns in conversations.items():
        events = []
        for text, timestamp in turns:
            events.append(UserUttered(text, timestamp=timestamp))
            events.append(BotUttered("réponse", timestamp=timestamp))
        await store.save(DialogueStateTracker.from_events(sender, events))
    print(json.dumps({"tables": sorted(store.engine.table_names())}))

asyncio.run(main())
"""


def write_rasa_conversations(
    store_args: dict[str, object], conversations: dict[str, list[tuple[str, float]]]
) -> list[str]:
    """Save, through Rasa's SQLTrackerStore, a user and a bot event per (text, timestamp).

    `store_args`: SQLTrackerStore's arguments (dialect, db, host, port, username).
    Returns the store's tables."""
    assert RASA_PYTHON.exists(), f"{RASA_PYTHON} missing: run `make setup`"
    done = subprocess.run(
        [str(RASA_PYTHON), "-c", _SCRIPT, json.dumps([store_args, conversations])],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return list(json.loads(done.stdout.strip().splitlines()[-1])["tables"])
