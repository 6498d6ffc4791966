"""The evaluation sets stay separate from what the system learns from."""

import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def examples(path: Path) -> dict[str, str]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    out = {}
    for block in data["nlu"]:
        if "intent" in block:
            for line in block["examples"].splitlines():
                if line.strip():
                    out[line.strip()[2:].strip().lower()] = block["intent"]
    return out


def test_held_out_nlu_set_is_large_and_disjoint_from_training() -> None:
    train = examples(ROOT / "training_data" / "nlu.yml")
    held = examples(ROOT / "tests" / "data" / "nlu_heldout.yml")
    assert len(held) >= 100
    assert not set(held) & set(train)
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    assert set(held.values()) <= set(domain["intents"])


def test_kb_dev_set_shape_and_references() -> None:
    rows = [json.loads(x) for x in (ROOT / "tests/data/kb_dev.jsonl").read_text().splitlines()]
    assert len(rows) >= 250
    assert sum(1 for r in rows if not r["expected"]) >= 40
    slugs = {p.stem for p in (ROOT / "knowledge_base" / "demo").glob("*.md")}
    assert all(set(r["expected"]) <= slugs for r in rows)
    assert len({r["query"] for r in rows}) == len(rows)
