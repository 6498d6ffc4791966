"""Emergency detector: recall, false positives, per-kind recall and latency.

Usage:
  python benchmarks/emergency_eval.py [FILES...] [--split dev|holdout|all] [--json]
  python benchmarks/emergency_eval.py --normaliser [FILES...]

FILES (default: the committed sets) are read by their shape:
- JSON lines with "text" and "emergency" (tests/data/emergency_*.jsonl): labelled;
  "numbers" are the numbers that must be among those given first;
- JSON lines with "query" (knowledge-base question sets): every line is ordinary;
- a Rasa NLU file (training_data/nlu.yml): examples of the `emergency` intent are
  positives, every other intent's examples are ordinary.

Latency is measured per message on every text read (wall clock and CPU time), then on
adversarial inputs of 2,000 characters (repeated cue fragments, no spaces, punctuation
runs), then on one of them cut at 250 to 2,000 characters (linear growth).
`--normaliser` prints how many clean texts `normalise_noisy` changes beyond `fold`.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.core.text import fold, normalise_noisy  # noqa: E402
from bot.domain.emergency import detect_emergency  # noqa: E402

DEFAULT_FILES = (
    ROOT / "tests" / "data" / "emergency_dev.jsonl",
    ROOT / "tests" / "data" / "kb_dev.jsonl",
    ROOT / "training_data" / "nlu.yml",
)


@dataclass(frozen=True)
class Example:
    text: str
    emergency: bool
    numbers: tuple[str, ...] = ()
    kind: str = ""
    style: str = "plain"
    split: str = "dev"


def load_examples(path: Path) -> list[Example]:
    """Examples of one file, whatever its shape (see the module docstring)."""
    if path.suffix in (".yml", ".yaml"):
        return _load_nlu(path)
    examples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if "text" in row and "emergency" in row:
            examples.append(
                Example(
                    row["text"],
                    bool(row["emergency"]),
                    tuple(row.get("numbers", ())),
                    row.get("kind", ""),
                    row.get("style", "plain"),
                    row.get("split", "dev"),
                )
            )
        elif "query" in row:
            examples.append(Example(row["query"], False, kind="kb question"))
        else:
            raise ValueError(f"{path}:{number}: neither text+emergency nor query")
    return examples


def _load_nlu(path: Path) -> list[Example]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    examples = []
    for item in data.get("nlu", []):
        intent = item.get("intent")
        if not intent:
            continue
        for line in str(item.get("examples", "")).splitlines():
            text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", line.strip().removeprefix("- "))
            if text:
                examples.append(Example(text, intent == "emergency", kind=f"intent {intent}"))
    return examples


def evaluate(examples: list[Example]) -> dict[str, object]:
    """Recall, false positives, per-kind and per-style recall, numbers right."""
    positives = [e for e in examples if e.emergency]
    negatives = [e for e in examples if not e.emergency]
    missed: list[str] = []
    wrong_numbers: list[dict[str, object]] = []
    false_positives: list[dict[str, object]] = []
    by_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_style: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for example in positives:
        found = detect_emergency(example.text)
        by_kind[example.kind or "?"][1] += 1
        by_style[example.style][1] += 1
        if found is None:
            missed.append(example.text)
            continue
        by_kind[example.kind or "?"][0] += 1
        by_style[example.style][0] += 1
        if not set(example.numbers) <= set(found.numbers):
            wrong_numbers.append(
                {"text": example.text, "expected": example.numbers, "got": found.numbers}
            )
    for example in negatives:
        found = detect_emergency(example.text)
        if found is not None:
            false_positives.append(
                {"text": example.text, "kind": found.kind, "cues": list(found.cues)}
            )
    return {
        "positives": len(positives),
        "recall": (len(positives) - len(missed)) / len(positives) if positives else None,
        "missed": missed,
        "numbers_wrong": wrong_numbers,
        "ordinary": len(negatives),
        "false_positives": false_positives,
        "recall_by_kind": {k: f"{v[0]}/{v[1]}" for k, v in sorted(by_kind.items())},
        "recall_by_style": {k: f"{v[0]}/{v[1]}" for k, v in sorted(by_style.items())},
    }


def adversarial_inputs() -> dict[str, str]:
    """2,000-character inputs meant to make a backtracking pattern slow."""
    return {
        "cue fragments": ("au feu rouge il y a un accident " * 80)[:2000],
        "one long word": "a" * 2000,
        "letters and spaces": ("a " * 1000)[:2000],
        "punctuation": ("!?., " * 400)[:2000],
        "near misses": ("menace de porter plainte ne respire " * 60)[:2000],
        "accident without injury": ("accident " + "x " * 995 + "blesse")[:2000],
        "no space": ("inconscientsaignefrappe" * 90)[:2000],
    }


def latency(texts: list[str], repeat: int = 3) -> dict[str, float]:
    """Wall-clock and CPU time per message (CPU time is what a busy machine does not
    inflate with waiting for a core)."""
    wall, cpu = [], []
    for _ in range(repeat):
        for text in texts:
            started, started_cpu = time.perf_counter(), time.thread_time()
            detect_emergency(text)
            cpu.append((time.thread_time() - started_cpu) * 1000)
            wall.append((time.perf_counter() - started) * 1000)
    wall.sort()
    cpu.sort()
    return {
        "messages": len(texts),
        "p50_ms": round(statistics.median(wall), 3),
        "p99_ms": round(wall[max(0, int(len(wall) * 0.99) - 1)], 3),
        "max_ms": round(wall[-1], 3),
        "cpu_p50_ms": round(statistics.median(cpu), 3),
        "cpu_p99_ms": round(cpu[max(0, int(len(cpu) * 0.99) - 1)], 3),
    }


def scaling() -> dict[str, float]:
    """Median time of the same adversarial text cut at growing lengths: linear time
    doubles with the length, a backtracking pattern would explode."""
    text = adversarial_inputs()["cue fragments"]
    return {
        f"{length} chars": latency([text[:length]], repeat=15)["cpu_p50_ms"]
        for length in (250, 500, 1000, 2000)
    }


def normaliser_changes(examples: list[Example]) -> dict[str, object]:
    changed = []
    for example in examples:
        plain = " ".join(fold(example.text).split())
        noisy = normalise_noisy(example.text)
        if plain != noisy:
            changed.append({"text": example.text, "normalised": noisy})
    return {"texts": len(examples), "changed": len(changed), "changes": changed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--split", default="all", help="dev, holdout or all (labelled sets)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--normaliser", action="store_true", help="clean-text changes only")
    args = parser.parse_args()
    files = args.files or list(DEFAULT_FILES)
    report: dict[str, object] = {}
    everything: list[str] = []
    for path in files:
        examples = [e for e in load_examples(path) if args.split in ("all", e.split)]
        everything += [e.text for e in examples]
        if args.normaliser:
            clean = [e for e in examples if e.style == "plain"]
            report[path.name] = normaliser_changes(clean)
        else:
            report[path.name] = evaluate(examples)
    if not args.normaliser:
        report["latency"] = latency(everything)
        report["latency_adversarial"] = {
            name: latency([text], repeat=20) for name, text in adversarial_inputs().items()
        }
        report["scaling_cpu_p50_ms"] = scaling()
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=1))
    else:
        _print(report)
    return 0


def _print(report: dict[str, object]) -> None:
    for name, figures in report.items():
        print(f"== {name}")
        if not isinstance(figures, dict):
            continue
        for key, value in figures.items():
            if isinstance(value, list):
                print(f"  {key}: {len(value)}")
                for item in value:
                    print(f"    - {item}")
            elif isinstance(value, float):
                print(f"  {key}: {value:.4f}")
            else:
                print(f"  {key}: {value}")


if __name__ == "__main__":
    raise SystemExit(main())
