"""Intent accuracy and macro-F1 on the held-out French utterances.

Runs `rasa test nlu` with the trained model on tests/data/nlu_heldout.yml
(written separately from training_data/) and prints the figures.
Usage: python benchmarks/nlu_eval.py [--heldout FILE] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools import ROOT
from tools.rasa import RASA_BIN, ensure_model, rasa_env


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--heldout", default=str(ROOT / "tests" / "data" / "nlu_heldout.yml"))
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    data_dir = Path(os.environ.get("GUICHET_DATA_DIR", ROOT / "data")).resolve()
    model = ensure_model(data_dir)
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(
            [
                str(RASA_BIN),
                "test",
                "nlu",
                "--model",
                str(model),
                "--nlu",
                args.heldout,
                "--out",
                out,
            ],
            cwd=ROOT,
            env=rasa_env(data_dir, "http://127.0.0.1:1/webhook"),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        report = json.loads((Path(out) / "intent_report.json").read_text())
        errors = json.loads((Path(out) / "intent_errors.json").read_text())
    per_intent = {
        k: v
        for k, v in report.items()
        if isinstance(v, dict) and k not in ("macro avg", "weighted avg", "micro avg")
    }
    result = {
        "n": int(report["macro avg"]["support"]),
        "accuracy": round(report["accuracy"], 4),
        "macro_f1": round(report["macro avg"]["f1-score"], 4),
        "weighted_f1": round(report["weighted avg"]["f1-score"], 4),
        "per_intent_f1": {k: round(v["f1-score"], 3) for k, v in sorted(per_intent.items())},
        "errors": [
            {
                "text": e["text"],
                "expected": e["intent"],
                "predicted": e["intent_prediction"]["name"],
            }
            for e in errors
        ],
    }
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    print(f"held-out utterances: {result['n']}")
    print(f"intent accuracy:     {result['accuracy']:.3f}")
    print(f"macro-F1:            {result['macro_f1']:.3f}  (target ≥ 0.90)")
    print("per-intent F1:")
    for name, f1 in result["per_intent_f1"].items():
        print(f"  {name:<18} {f1:.3f}")
    print(f"misclassified ({len(result['errors'])}):")
    for e in result["errors"]:
        print(f"  {e['text']!r}: {e['expected']} → {e['predicted']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
