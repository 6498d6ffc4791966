"""The Rasa component that applies the app's reading, run in Rasa's own venv on
Rasa's own Message type (the app's venv has no Rasa)."""

from __future__ import annotations

import json
import subprocess

from bot.conversation.intent_policy import KB_ANSWER, Reading
from tests.support.rasa_tracker import RASA_PYTHON
from tools import ROOT

_SCRIPT = """
import json, sys
from rasa.shared.nlu.training_data.message import Message
from bot.rasa_plugins.reading_override import ReadingOverride

out = []
for case in json.loads(sys.argv[1]):
    message = Message(data={"text": case["text"], "metadata": case["metadata"]})
    message.set("intent", {"name": case["intent"], "confidence": 0.99}, add_to_output=True)
    message.set("intent_ranking", [
        {"name": case["intent"], "confidence": 0.99},
        {"name": "ask_question", "confidence": 0.01},
    ], add_to_output=True)
    message.set("entities", [{"entity": "report_category", "value": "voirie"}], add_to_output=True)
    ReadingOverride().process([message])
    out.append({
        "intent": message.get("intent"),
        "ranking": [r["name"] for r in message.get("intent_ranking")],
        "entities": message.get("entities"),
    })
print(json.dumps(out))
"""


def run(cases: list[dict[str, object]]) -> list[dict[str, object]]:
    assert RASA_PYTHON.exists(), f"{RASA_PYTHON} missing: run `make setup`"
    done = subprocess.run(
        [str(RASA_PYTHON), "-c", _SCRIPT, json.dumps(cases)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def test_the_reading_corrects_diets_intent_inside_rasa() -> None:
    question = Reading(kb=KB_ANSWER, question=True).as_metadata()
    corrected, kept, bare = run(
        [
            {"text": "Peut-on changer le nom d'un enfant ?", "intent": "out_of_scope",
             "metadata": question},
            {"text": "bonjour", "intent": "greet", "metadata": Reading().as_metadata()},
            {"text": "Peut-on changer le nom d'un enfant ?", "intent": "out_of_scope",
             "metadata": {}},
        ]
    )  # fmt: skip
    assert corrected["intent"] == {"name": "ask_question", "confidence": 1.0}
    assert corrected["ranking"] == ["ask_question", "out_of_scope"]  # no duplicate
    assert corrected["entities"] == [{"entity": "report_category", "value": "voirie"}]
    assert kept["intent"] == {"name": "greet", "confidence": 0.99}
    assert bare["intent"] == {"name": "out_of_scope", "confidence": 0.99}  # rasa shell


def test_config_runs_the_component_last() -> None:
    import yaml

    pipeline = yaml.safe_load((ROOT / "config.yml").read_text())["pipeline"]
    assert pipeline[-1]["name"] == "bot.rasa_plugins.reading_override.ReadingOverride"
