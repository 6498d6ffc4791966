"""Fit and compare the knowledge base's answer rule (answer, or suggest three articles).

    .venv/bin/python benchmarks/answer_rule.py [--data-dir DIR] [--measure SET[:SPLIT] ...]

Ranks the dev questions (tests/data/kb_dev.jsonl, the dev half of kb_dev_noisy.jsonl
and the single-procedure dev lines of life_events.jsonl) on the demo base, fits the
logistic regression `knowledge_base.answering.ANSWER_MODEL` on them (is the first
article the expected one?), prints its weights as `answering.py` takes them, then a
5-fold cross-validation on the same questions for a few probability thresholds,
beside the margin rule it replaced (a lead over the second article). Both keep the
minimum fused score below which nothing is offered. `--measure` prints the figures of
the rule in place (the model in `answering.py`) and of the margin rule on other sets
ranked on the base of `--data-dir` (one base per run: e.g. the service-public
benchmark imported with `python -m knowledge_base import`); measure-only sets are
only measured here, never fitted on.

Without `--data-dir` the demo base is imported into a temporary directory (about
10 s). Figures: "direct" = answered with the first article, right or wrong, in % of
covered questions; "offered" = right answer or right article among three
suggestions; "uncovered answered" = questions the base does not cover that got an
answer (they should get "not found" or suggestions).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from knowledge_base.answering import (  # noqa: E402
    ANSWER_FEATURES,
    AnswerModel,
    Thresholds,
    answer_features,
    decide,
)
from knowledge_base.interface import Confidence  # noqa: E402

DATA = ROOT / "tests" / "data"
DEV_SETS = (
    (DATA / "kb_dev.jsonl", None),
    (DATA / "kb_dev_noisy.jsonl", "dev"),
    (DATA / "life_events.jsonl", "dev"),
)
FOLDS = 5
L2 = 1.0
Ranked = dict[str, Any]  # question, expected, ranking evidence


def read_set(path: Path, split: str | None) -> list[dict[str, Any]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        text = row.get("query") or row.get("text")
        # Life-event lines name an event, not one answer: only their ordinary questions.
        if text is None or "expected" not in row or (split and row.get("split") != split):
            continue
        rows.append({"query": text, "expected": list(row["expected"])})
    return rows


async def rank_all(rows: list[dict[str, Any]]) -> list[Ranked]:
    from knowledge_base.__main__ import open_base
    from knowledge_base.service import evidence_of

    kb = await open_base()
    if len(kb.index) == 0:
        raise SystemExit(f"answer_rule: the base in {os.environ['GUICHET_DATA_DIR']} is empty")
    out = []
    for row in rows:
        ranked = await kb.rank(row["query"])
        out.append({**row, "ranked": evidence_of(ranked), "slugs": [r.slug for r in ranked]})
    await kb.engine.dispose()
    return out


async def import_demo() -> None:
    from knowledge_base.__main__ import open_base

    kb = await open_base()
    report = await kb.import_dir(ROOT / "knowledge_base" / "demo", "answer-rule", None)
    if report.errors:
        raise SystemExit(f"answer_rule: demo base import failed: {report.errors[:3]}")
    await kb.engine.dispose()


def first_is_right(r: Ranked) -> bool:
    return bool(r["slugs"]) and r["slugs"][0] in r["expected"]


def fit(x: np.ndarray, y: np.ndarray, steps: int = 3000, rate: float = 0.2) -> AnswerModel:
    """L2 logistic regression by gradient descent on standardised features, returned
    with its weights on the raw scale (what `AnswerModel` multiplies)."""
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = (x - mean) / std
    w, b = np.zeros(z.shape[1]), 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(z @ w + b)))
        w -= rate * (z.T @ (p - y) / len(y) + L2 * w / len(y))
        b -= rate * float((p - y).mean())
    raw = w / std
    return AnswerModel(
        weights=tuple(round(float(v), 4) for v in raw),
        bias=round(b - float((raw * mean).sum()), 4),
    )


def figures(records: list[Ranked], verdict: Callable[[Ranked], Confidence]) -> str:
    covered = [r for r in records if r["expected"]]
    uncovered = [r for r in records if not r["expected"]]
    right = wrong = offered = 0
    for r in covered:
        v = verdict(r)
        if v is Confidence.ANSWER:
            right += first_is_right(r)
            wrong += not first_is_right(r)
        offered += (v is Confidence.ANSWER and first_is_right(r)) or (
            v is Confidence.AMBIGUOUS and bool(set(r["expected"]) & set(r["slugs"][:3]))
        )
    answered = sum(verdict(r) is Confidence.ANSWER for r in uncovered)
    declined = sum(verdict(r) is Confidence.NOT_FOUND for r in uncovered)
    n, u = max(1, len(covered)), max(1, len(uncovered))
    return (
        f"direct right {100 * right / n:5.1f} %  wrong {100 * wrong / n:4.1f} %  "
        f"offered {100 * offered / n:5.1f} %  | uncovered ({len(uncovered)}) answered "
        f"{100 * answered / u:4.1f} %  declined {100 * declined / u:5.1f} %"
    )


# The rule replaced: a minimum fused score, then a lead over the second article (a
# smaller one when both retrievers put the article first).
MIN_SCORE, MARGIN, AGREED_MARGIN = 0.88, 0.04, 0.03


def margin_rule(r: Ranked) -> Confidence:
    ranked = r["ranked"]
    if not ranked or float(ranked[0].get("score", 0.0)) < MIN_SCORE:
        return Confidence.NOT_FOUND
    lead = float(ranked[0]["score"]) - (float(ranked[1]["score"]) if len(ranked) > 1 else 0.0)
    agreed = ranked[0].get("lexical_rank") == 1 and ranked[0].get("dense_rank") == 1
    return (
        Confidence.ANSWER
        if lead >= MARGIN or (agreed and lead >= AGREED_MARGIN)
        else Confidence.AMBIGUOUS
    )


def model_rule(t: Thresholds) -> Callable[[Ranked], Confidence]:
    return lambda r: decide(r["ranked"], t, r["query"])


def print_model(name: str, model: AnswerModel) -> None:
    print(f"{name} = AnswerModel(")
    print(f"    weights=({', '.join(str(w) for w in model.weights)}),")
    print(f"    bias={model.bias},")
    print(")")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, help="a data directory holding a base")
    parser.add_argument("--measure", action="append", default=[], help="SET[:SPLIT]")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="guichet-answer-rule-") as tmp:
        os.environ["GUICHET_DATA_DIR"] = str(args.data_dir or tmp)
        if args.data_dir is None:
            asyncio.run(import_demo())
        if args.measure:
            for spec in args.measure:
                path, _, split = spec.partition(":")
                records = asyncio.run(rank_all(read_set(Path(path), split or None)))
                print(f"{spec} ({len(records)} questions)")
                print(f"  margin rule       {figures(records, margin_rule)}")
                print(f"  rule in place     {figures(records, model_rule(Thresholds()))}")
            return 0
        rows = [row for path, split in DEV_SETS for row in read_set(path, split)]
        records = asyncio.run(rank_all(rows))
    x = np.array([answer_features(r["query"], r["ranked"]) for r in records])
    first = np.array([1.0 if first_is_right(r) else 0.0 for r in records])
    model = fit(x, first)
    print(
        f"fitted on {len(records)} dev questions ({int(first.sum())} with the right first article)"
    )
    print_model("ANSWER_MODEL", model)
    for name, w in zip(ANSWER_FEATURES, model.weights, strict=True):
        print(f"  {name:<20} {w:+.4f}")
    # Cross-validation: each fold decided by a model fitted on the other four.
    order = np.random.default_rng(0).permutation(len(records))
    folds = np.array_split(order, FOLDS)
    fold_model: dict[int, AnswerModel] = {}
    for k, held in enumerate(folds):
        train = np.concatenate([f for j, f in enumerate(folds) if j != k])
        m = fit(x[train], first[train])
        for i in held:
            fold_model[int(i)] = m
    index = {id(r): i for i, r in enumerate(records)}
    print(f"{FOLDS}-fold cross-validation on the dev questions:")
    print(f"  margin rule       {figures(records, margin_rule)}")
    for threshold in (0.7, 0.75, 0.8, 0.85, 0.9):

        def held_out(r: Ranked, threshold: float = threshold) -> Confidence:
            t = Thresholds(answer_probability=threshold, answer_model=fold_model[index[id(r)]])
            return model_rule(t)(r)

        print(f"  model >= {threshold:<8} {figures(records, held_out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
