"""The project's tracker store and action-answer check, run in Rasa's own venv against
Rasa's own classes: they accept and refuse exactly what Rasa does, store the same rows,
and skip only the repeated work (docs/benchmarks-capacity.md)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.support.rasa_tracker import RASA_PYTHON
from tools import ROOT

ANSWERS: list[Any] = [
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "x", "value": 1}], "responses": [{"text": "a"}]},
    {"events": [{"event": "followup", "name": "utter_greet"}]},
    {},
    {"events": "not a list"},
    {"events": [{"event": "no_such_event"}]},
    {"events": [{"event": "slot"}]},
    {"responses": "text"},
    [],
]

_VALIDATE = """
import json, sys
import jsonschema.validators as v
from rasa.core.actions.action import RemoteAction
from jsonschema import ValidationError

def outcomes(action):
    out = []
    for answer in json.loads(sys.argv[1]):
        try:
            out.append(["ok", action._validate_action_result(answer)])
        except ValidationError as e:
            out.append(["refused", e.message, list(e.path)])
    return out

action = RemoteAction("action_x", None)
rasa = outcomes(action)
from bot.rasa_plugins import action_results
action_results.install()
checks = []
cls = v.validator_for(RemoteAction.action_response_format_spec())
original = cls.check_schema
cls.check_schema = classmethod(lambda c, s, *a, **k: checks.append(1) or original.__func__(c, s))
ours = outcomes(action)
action_results.install()  # idempotent: the same function stays
print(json.dumps({"rasa": rasa, "ours": ours, "schema_checks": len(checks)}))
"""

_STORE = """
import asyncio, json, sqlite3, sys
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (ActionExecuted, BotUttered, SessionStarted, SlotSet,
    UserUttered)
from rasa.shared.core.trackers import DialogueStateTracker
from bot.rasa_plugins.tracker_store import TrackerStore

directory = sys.argv[1]
domain = Domain.from_yaml('slots:\\n  x:\\n    type: any\\n    mappings: []')

async def write(store):
    t = DialogueStateTracker.from_events("conv-1", [UserUttered("bonjour", timestamp=1.0)],
                                         slots=domain.slots)
    await store.save(t)
    t = await store.retrieve("conv-1")
    t.update(ActionExecuted("action_x", timestamp=2.0))
    t.update(SlotSet("x", {"k": [1, 2]}, timestamp=3.0))
    t.update(BotUttered("réponse", timestamp=4.0))
    await store.save(t)
    again = await store.retrieve("conv-1")
    first = [e.as_dict() for e in again.events], again.get_slot("x")
    # A new session: a read returns its events only, a write adds only what is new.
    again.update(ActionExecuted("action_session_start", timestamp=5.0))
    again.update(SessionStarted(timestamp=5.0))
    again.update(UserUttered("re", timestamp=6.0))
    await store.save(again)
    latest = await store.retrieve("conv-1")
    latest.update(BotUttered("encore", timestamp=7.0))
    await store.save(latest)
    latest = await store.retrieve("conv-1")
    full = await store.retrieve_full_tracker("conv-1")
    return (*first, [e.as_dict() for e in latest.events], [e.as_dict() for e in full.events],
            await store.retrieve("nobody"))

out = {}
for name, cls in (("rasa", SQLTrackerStore), ("ours", TrackerStore)):
    path = f"{directory}/{name}.db"
    store = cls(domain=domain, host="", dialect="sqlite", db=path)
    events, slot, latest, full, nobody = asyncio.run(write(store))
    rows = sqlite3.connect(path).execute(
        "select sender_id, type_name, timestamp, intent_name, action_name, data"
        " from events order by id").fetchall()
    mode = sqlite3.connect(path).execute("pragma journal_mode").fetchone()[0]
    out[name] = {"events": events, "slot": slot, "rows": rows, "journal": mode,
                 "latest": latest, "full": full, "nobody": nobody,
                 "pool": type(store.engine.pool).__name__}
print(json.dumps(out))
"""


def run_rasa(script: str, *args: str) -> Any:
    assert RASA_PYTHON.exists(), f"{RASA_PYTHON} missing: run `make setup`"
    done = subprocess.run(
        [str(RASA_PYTHON), "-c", script, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        env={"PYTHONWARNINGS": "ignore", "TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_action_answers_are_accepted_and_refused_as_rasa_does_with_one_schema_check() -> None:
    out = run_rasa(_VALIDATE, json.dumps(ANSWERS))
    assert out["ours"] == out["rasa"]
    assert [o[0] for o in out["rasa"]].count("refused") == 5
    assert out["schema_checks"] == 0  # checked once at install, never per answer


def test_the_store_writes_the_rows_rasa_writes_in_a_wal_file_with_kept_connections(
    tmp_path: Path,
) -> None:
    out = run_rasa(_STORE, str(tmp_path))
    rasa, ours = out["rasa"], out["ours"]
    assert ours["events"] == rasa["events"]
    assert ours["slot"] == rasa["slot"] == {"k": [1, 2]}
    assert ours["rows"] == rasa["rows"]
    assert len(ours["rows"]) == 8
    assert ours["latest"] == rasa["latest"]
    assert [e["event"] for e in ours["latest"]] == ["action", "session_started", "user", "bot"]
    assert ours["full"] == rasa["full"] and len(ours["full"]) == 8
    assert ours["nobody"] is rasa["nobody"] is None
    assert (rasa["journal"], ours["journal"]) == ("delete", "wal")
    assert (rasa["pool"], ours["pool"]) == ("NullPool", "SingletonThreadPool")
