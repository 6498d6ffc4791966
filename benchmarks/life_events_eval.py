"""Life-event recognition on tests/data/life_events.jsonl, per split.

    .venv/bin/python benchmarks/life_events_eval.py [--set FILE] [--split NAME] [--show]

Prints, per split: the event identified right, a wrong event, missed (no event), on
the lines naming an event; and false matches on the ordinary questions
(`event: null`). Tune on `dev` only; `test` and the sets marked measure-only in
tests/data/README.md (`life_events_blind3.jsonl`) are never tuned on.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from knowledge_base.life_events import LifeEvents  # noqa: E402
from knowledge_base.markdown_io import read_article_file  # noqa: E402

DATA = ROOT / "tests" / "data" / "life_events.jsonl"
DEMO = ROOT / "knowledge_base" / "demo"


def demo_events() -> LifeEvents:
    articles = [read_article_file(p) for p in sorted(DEMO.glob("*.md"))]
    return LifeEvents.from_directory(articles, DEMO)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--set", type=Path, default=DATA, help="a JSONL set (text, event, split)")
    parser.add_argument("--split", action="append", help="default: every split of the set")
    parser.add_argument("--show", action="store_true", help="print the errors")
    args = parser.parse_args()
    events = demo_events()
    lines = [json.loads(line) for line in args.set.read_text(encoding="utf-8").splitlines()]
    splits = args.split or list(dict.fromkeys(str(r.get("split", "all")) for r in lines))
    for split in splits:
        rows = [r for r in lines if str(r.get("split", "all")) == split]
        right = wrong = missed = false = 0
        started = time.perf_counter()
        for row in rows:
            found = events.match(row["text"])
            tag = found.tag if found else None
            if row["event"] is None:
                if tag is not None:
                    false += 1
                    if args.show:
                        print(f"  FALSE  {row['text']!r} -> {tag}")
            elif tag == row["event"]:
                right += 1
            elif tag is None:
                missed += 1
                if args.show:
                    print(f"  MISSED {row['text']!r} ({row['event']})")
            else:
                wrong += 1
                if args.show:
                    print(f"  WRONG  {row['text']!r} -> {tag} ({row['event']})")
        ms = (time.perf_counter() - started) * 1000 / max(1, len(rows))
        named = right + wrong + missed
        ordinary = len(rows) - named
        print(
            f"{split}: {named} event lines: right {100 * right / named:.1f} %, "
            f"wrong event {100 * wrong / named:.1f} %, missed {100 * missed / named:.1f} %; "
            f"{ordinary} ordinary questions: false matches {false} "
            f"({100 * false / max(1, ordinary):.1f} %); {ms:.2f} ms per match"
        )


if __name__ == "__main__":
    main()
