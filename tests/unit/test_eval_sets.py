"""The hand-written evaluation sets stay well-formed, consistent with the bases they
refer to, and out of the training data (they are only for measuring)."""

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
DEMO = ROOT / "knowledge_base" / "demo"
COMMUNE_B = DATA / "commune_b"
# The field order of the import format documented in the README.
FRONT_MATTER = (
    "slug title category tags synonyms life_events service contact url updated status".split()
)
EMERGENCY_NUMBERS = {"15", "17", "18", "112", "114", "119", "3114", "3919"}


def rows(name: str) -> list[dict[str, Any]]:
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def articles(base: Path) -> dict[str, dict[str, Any]]:
    out = {}
    for path in sorted(base.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        match = re.match(r"---\n(.*?)\n---\n\n(.+)", text, re.S)
        assert match, f"{path.name}: no front matter followed by a body"
        meta = yaml.safe_load(match.group(1))
        meta["body"] = match.group(2)
        out[path.stem] = meta
    return out


def published(base: Path) -> dict[str, dict[str, Any]]:
    return {slug: a for slug, a in articles(base).items() if a["status"] == "published"}


def event_counts(base: Path) -> Counter[str]:
    return Counter(e for a in published(base).values() for e in a["life_events"])


def norm(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


def training_texts() -> set[str]:
    data = yaml.safe_load((ROOT / "training_data" / "nlu.yml").read_text(encoding="utf-8"))
    out = set()
    for block in data["nlu"]:
        for line in str(block.get("examples", "")).splitlines():
            if line.strip():
                out.add(norm(line.strip()[2:]))
    return out


def test_emergency_set_counts_labels_and_numbers() -> None:
    data = rows("emergency_test.jsonl")
    positives = [r for r in data if r["emergency"]]
    negatives = [r for r in data if not r["emergency"]]
    assert len(positives) >= 120 and len(negatives) >= 400
    assert all(set(r) >= {"text", "emergency", "numbers", "kind"} for r in data)
    assert all(r["numbers"] and set(r["numbers"]) <= EMERGENCY_NUMBERS for r in positives)
    assert all(r["numbers"] == [] for r in negatives)
    assert len({norm(r["text"]) for r in data}) == len(data)


def test_noisy_dev_set_rewrites_every_dev_question_line_by_line() -> None:
    clean = rows("kb_dev.jsonl")
    noisy = rows("kb_dev_noisy.jsonl")
    assert len(noisy) == len(clean)
    for i, (c, n) in enumerate(zip(clean, noisy, strict=True)):
        assert n["expected"] == c["expected"], f"line {i + 1}"
        assert n["split"] == ("dev" if i % 2 == 0 else "test"), f"line {i + 1}"
        assert n["query"] != c["query"], f"line {i + 1} is not rewritten"
    styles = {"sms", "phonetic", "no_accents", "caps", "typos", "mixed"}
    assert {n["style"] for n in noisy} <= styles


def test_life_event_set_uses_the_demo_tags_and_covers_the_shared_ones() -> None:
    data = rows("life_events.jsonl")
    tags = event_counts(DEMO)
    slugs = set(published(DEMO))
    events = [r for r in data if r["event"] is not None]
    ordinary = [r for r in data if r["event"] is None]
    assert len(events) >= 200 and len(ordinary) >= 30
    assert {r["event"] for r in events} >= {t for t, n in tags.items() if n >= 2}
    assert {r["event"] for r in events} <= set(tags)
    assert all(r["expected"] and set(r["expected"]) <= slugs for r in ordinary)
    test_share = sum(r["split"] == "test" for r in data) / len(data)
    assert 0.25 <= test_share <= 0.4


def test_blind_life_event_set_is_measure_only_and_refers_to_the_demo_base() -> None:
    data = rows("life_events_blind4.jsonl")
    tags = event_counts(DEMO)
    slugs = set(published(DEMO))
    events = [r for r in data if r["event"] is not None]
    ordinary = [r for r in data if r["event"] is None]
    assert all(set(r) == {"text", "event", "split"} for r in events)
    assert all(set(r) == {"text", "event", "expected", "split"} for r in ordinary)
    assert all(r["split"] == "blind4" and r["text"].strip() for r in data)
    assert len(events) >= 200 and len(ordinary) >= 60
    per_tag = Counter(r["event"] for r in events)
    assert set(per_tag) <= set(tags)
    assert all(per_tag[t] >= 6 for t, n in tags.items() if n >= 2)
    assert all(set(r["expected"]) <= slugs for r in ordinary)
    assert sum(1 for r in ordinary if r["expected"]) >= 50
    assert len({norm(r["text"]) for r in data}) == len(data)


def test_commune_b_articles_are_in_the_import_format() -> None:
    base = articles(COMMUNE_B)
    assert 60 <= len(base) <= 80
    for slug, meta in base.items():
        assert list(meta)[: len(FRONT_MATTER)] == FRONT_MATTER, slug
        assert meta["slug"] == slug and re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", slug)
        assert meta["status"] in {"draft", "published", "archived"}, slug
        assert all(isinstance(meta[k], list) for k in ("tags", "synonyms", "life_events")), slug
    assert all("\n## " in a["body"] for a in published(COMMUNE_B).values())
    assert not set(event_counts(COMMUNE_B)) & set(event_counts(DEMO))


def test_commune_b_questions_refer_to_its_published_articles() -> None:
    data = rows("commune_b_queries.jsonl")
    slugs = set(published(COMMUNE_B))
    assert len(data) == 250
    assert all(set(r["expected"]) <= slugs for r in data)
    assert {s for r in data for s in r["expected"]} == slugs
    assert sum(1 for r in data if not r["expected"]) >= 20
    assert sum(1 for r in data if r["style"] == "noisy") >= 35
    assert len({norm(r["query"]) for r in data}) == len(data)


def test_measure_only_texts_are_not_in_the_training_data() -> None:
    train = training_texts()
    measured = [r["text"] for r in rows("emergency_test.jsonl")]
    measured += [r["text"] for r in rows("life_events.jsonl") if r["split"] == "test"]
    measured += [r["query"] for r in rows("kb_dev_noisy.jsonl") if r["split"] == "test"]
    measured += [r["query"] for r in rows("commune_b_queries.jsonl")]
    measured += [r["text"] for r in rows("life_events_blind4.jsonl")]
    leaked = [t for t in measured if norm(t) in train]
    assert not leaked, f"evaluation lines copied into training_data/nlu.yml: {leaked[:5]}"
