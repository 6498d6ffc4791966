"""What the citizen gets: each question of a set asked through the real chat API.

A figure measured on a component (retrieval, NLU, the emergency detector) is not a
figure of the product (issue #12). This asks every question of a JSONL set with
`POST /api/chat/{session}/messages`, one new UUID session per question, and sorts
the bot's reply into one class (first match wins, in this order):

* `error`: no reply (HTTP error, timeout, 429) or the degraded apology sent when
  Rasa did not answer;
* `emergency`: a message with `emergency: true`;
* `event_right` (life-event lines only, see below);
* `direct_right` / `direct_wrong`: an answer citing articles (`articles`, else the
  last path segment of each `sources` URL) whose first article is / is not expected;
* `suggest_right` / `suggest_wrong`: "Vouliez-vous dire" buttons with payload
  `/ask_question{"kb_article":"SLUG"}` naming / not naming an expected slug;
* `not_found`: a message with `not_found`;
* `handoff`: a handoff to a person (a message with `handoff`, i.e. queued for an
  agent, or the offer to be called back when no agent is online: a
  `/request_callback` button);
* `form`: the report or callback form started (a message whose text is the first
  question of one of their slots, read from domain.yml's `utter_ask_report_*` and
  `utter_ask_callback_*`, or the callback consent question of actions/handoff.py);
* `other`: anything else (out of scope, capabilities, greeting, small talk...).

Sets (one JSON object a line; the `split` filter applies to lines that have one):
* `query` + `expected` (+ `split`, `style`): ../shared/benchmarks/service-public,
  tests/data/kb_dev.jsonl, kb_dev_noisy.jsonl, commune_b_queries.jsonl. Lines with
  `expected: []` are not covered by the base: `not_found` (or a handoff) is right there.
* `text` + `emergency` + `numbers` (tests/data/emergency_*.jsonl): also reports
  recall (emergency lines that got an emergency message), whether the first / all
  expected numbers appear in the reply's text, and false positives (ordinary lines
  that got one).
* `text` + `event` (tests/data/life_events.jsonl): for a line whose `event` is a
  life-event tag, the expected articles are the published articles of `--kb` that
  carry the tag; the reply is `event_right` when its suggestion buttons name at
  least two of them (the bot lists at most three articles, fewer than most events
  have, so "all of them" cannot be asked); a direct answer or suggestions naming
  a single tagged article are `direct_right` / `suggest_right` as for other lines.
  Lines with `event: null` are ordinary questions with their own `expected`.

Against `--url` nothing is started. Otherwise a single-node stack (Rasa + app) runs
on free ports, with the per-IP rate limit lifted (all sessions come from
127.0.0.1) and the phone channel off, on a scratch data directory into which `--kb`
(default: the demo base) is imported with the project's importer, or on
`--data-cache DIR` (imported on first use, reused afterwards: the 3,693-article
service-public base takes about 20 minutes to import). The model is the clone's
trained one (`data/models/guichet.tar.gz`, trained first if missing or stale).

Usage: python benchmarks/chat_eval.py --set FILE [--split dev|test|all]
           [--url URL | --kb DIR [--data-cache DIR]] [--limit N] [--concurrency 1|2]
           [--json OUT]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import sys
import time
import uuid
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chatbench import NO_PER_IP_LIMIT_ENV, own_stack_or_url, percentile

from bot.conversation.handoff import CONSENT_TEXT
from tools import ROOT
from tools.launcher import DEMO_BASE

KB_CLASSES = (
    "direct_right",
    "direct_wrong",
    "suggest_right",
    "suggest_wrong",
    "event_right",
)
OTHER_CLASSES = ("not_found", "handoff", "emergency", "form", "other", "error")
CLASSES = KB_CLASSES + OTHER_CLASSES
# A suggested article; "slug#3" buttons pick a case of the article already given
# (its answer depends on the situation), so they are not suggestions.
ARTICLE_PAYLOAD = re.compile(r'^/ask_question\{"kb_article":"([^"#]+)"\}$')
# The callback form's first question (actions/handoff.py, ActionAskCallbackConsent).
CALLBACK_CONSENT_QUESTION = f"Avant de continuer : {CONSENT_TEXT}"
OWN_STACK_ENV = {**NO_PER_IP_LIMIT_ENV, "GUICHET__VOICE__ENABLED": "false"}
EXAMPLES_PER_CLASS = 3


@dataclass(frozen=True)
class Outcome:
    cls: str
    # The articles the reply named: the cited ones for an answer, else the suggested ones.
    articles: tuple[str, ...] = ()


def form_questions(domain_file: Path = ROOT / "domain.yml") -> tuple[str, ...]:
    """The texts that open the report and callback forms (every slot's question)."""
    domain = yaml.safe_load(domain_file.read_text(encoding="utf-8"))
    texts = [CALLBACK_CONSENT_QUESTION]
    for name, variants in (domain.get("responses") or {}).items():
        if name.startswith(("utter_ask_report_", "utter_ask_callback_")):
            for variant in variants:
                # Form questions are `custom` messages (with `expects`); plain text too.
                body = variant.get("custom", variant) if isinstance(variant, dict) else {}
                if isinstance(body, dict) and "text" in body:
                    texts.append(str(body["text"]))
    return tuple(t.strip() for t in texts)


def suggested_slugs(message: dict[str, Any]) -> list[str]:
    slugs = []
    for button in message.get("buttons") or []:
        match = ARTICLE_PAYLOAD.match(str(button.get("payload", "")))
        if match:
            slugs.append(match.group(1))
    return slugs


def cited_slugs(message: dict[str, Any]) -> list[str]:
    articles = [str(a) for a in message.get("articles") or []]
    if articles:
        return articles
    urls = [str(s.get("url", "")) for s in message.get("sources") or []]
    return [u.rstrip("/").rsplit("/", 1)[-1] for u in urls if u]


def classify(
    messages: list[dict[str, Any]] | None,
    expected: Collection[str],
    forms: Collection[str] = (),
    event: bool = False,
) -> Outcome:
    """The class of one reply (the bot messages answering one question).

    `messages` None means no reply at all; `forms` are the form questions
    (form_questions()); `event` marks a life-event line whose `expected` are the
    articles carrying its tag."""
    if messages is None or any(m.get("degraded") for m in messages):
        return Outcome("error")
    if any(m.get("emergency") for m in messages):
        return Outcome("emergency")
    wanted = set(expected)
    suggestions = [s for m in messages for s in suggested_slugs(m)]
    if event and len(wanted & set(suggestions)) >= 2:
        return Outcome("event_right", tuple(suggestions))
    for m in messages:
        if not suggested_slugs(m) and (m.get("articles") or m.get("sources")):
            cited = tuple(cited_slugs(m))
            right = bool(cited) and cited[0] in wanted
            return Outcome("direct_right" if right else "direct_wrong", cited)
    if suggestions:
        right = bool(wanted & set(suggestions))
        return Outcome("suggest_right" if right else "suggest_wrong", tuple(suggestions))
    if any(m.get("not_found") for m in messages):
        return Outcome("not_found")
    if any(
        m.get("handoff")
        or any(b.get("payload") == "/request_callback" for b in m.get("buttons") or [])
        for m in messages
    ):
        return Outcome("handoff")
    for m in messages:
        text = str(m.get("text") or "").strip()
        if m.get("expects") or (text and any(text == f or text.startswith(f) for f in forms)):
            return Outcome("form")
    return Outcome("other")


def numbers_in(text: str, numbers: Iterable[str]) -> list[str]:
    """The numbers of the list written in the text as whole numbers ("15", not "150")."""
    return [n for n in numbers if re.search(rf"(?<!\d){re.escape(n)}(?!\d)", text)]


@dataclass
class Question:
    query: str
    expected: list[str]
    split: str | None = None
    event: str | None = None
    emergency: bool | None = None
    numbers: list[str] = field(default_factory=list)


def event_articles(kb: Path) -> dict[str, list[str]]:
    """Published articles of a base directory by life-event tag."""
    from knowledge_base.markdown_io import read_article_file

    by_event: dict[str, list[str]] = {}
    for path in sorted(kb.glob("*.md")):
        article = read_article_file(path)
        if article.published:
            for tag in article.life_events:
                by_event.setdefault(tag, []).append(article.slug)
    return by_event


def load_questions(path: Path, split: str, kb: Path) -> list[Question]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    events = event_articles(kb) if any(r.get("event") for r in rows) else {}
    out = []
    for row in rows:
        if split != "all" and row.get("split", split) != split:
            continue
        tag = row.get("event")
        expected = events.get(tag, []) if tag else list(row.get("expected") or [])
        emergency = row.get("emergency")
        out.append(
            Question(
                query=str(row.get("query") or row.get("text")),
                expected=[str(s) for s in expected],
                split=row.get("split"),
                event=tag,
                emergency=bool(emergency) if emergency is not None else None,
                numbers=[str(n) for n in row.get("numbers") or []],
            )
        )
    return out


@dataclass
class Record:
    query: str
    expected: list[str]
    split: str | None
    event: str | None
    cls: str
    articles: list[str]
    reply: list[dict[str, Any]] | None
    latency_ms: float
    error: str = ""
    emergency_expected: bool | None = None
    numbers_expected: list[str] = field(default_factory=list)
    numbers_shown: list[str] = field(default_factory=list)


async def ask(
    http: aiohttp.ClientSession, url: str, question: Question, timeout_s: float
) -> tuple[list[dict[str, Any]] | None, float, str]:
    session = str(uuid.uuid4())
    started = time.perf_counter()
    try:
        async with http.post(
            f"{url}/api/chat/{session}/messages",
            json={"type": "message", "text": question.query},
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as resp:
            body = await resp.json(content_type=None)
            elapsed = (time.perf_counter() - started) * 1000
            if resp.status != 200:
                return None, elapsed, f"HTTP {resp.status}: {str(body)[:120]}"
            return list(body.get("messages") or []), elapsed, ""
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return None, (time.perf_counter() - started) * 1000, f"{type(exc).__name__}: {exc}"


async def run(
    url: str, questions: list[Question], concurrency: int, timeout_s: float
) -> list[Record]:
    forms = form_questions()
    limit = asyncio.Semaphore(concurrency)
    records: list[Record | None] = [None] * len(questions)
    done = 0

    async def one(i: int, q: Question, http: aiohttp.ClientSession) -> None:
        nonlocal done
        async with limit:
            reply, ms, error = await ask(http, url, q, timeout_s)
        outcome = classify(reply, q.expected, forms, event=bool(q.event))
        text = "\n".join(str(m.get("text") or "") for m in reply or [])
        records[i] = Record(
            q.query,
            q.expected,
            q.split,
            q.event,
            outcome.cls,
            list(outcome.articles),
            reply,
            round(ms, 1),
            error,
            q.emergency,
            q.numbers,
            numbers_in(text, q.numbers),
        )
        done += 1
        if done % 50 == 0:
            print(f"  {done}/{len(questions)}", file=sys.stderr, flush=True)

    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(one(i, q, http) for i, q in enumerate(questions)))
    return [r for r in records if r is not None]


def pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f}" if whole else "    -"


def summarise(records: list[Record]) -> dict[str, Any]:
    groups = {
        "all": records,
        "covered": [r for r in records if r.expected],
        "uncovered": [r for r in records if not r.expected],
    }
    counts = {name: Counter(r.cls for r in rs) for name, rs in groups.items()}
    summary: dict[str, Any] = {
        "n": {name: len(rs) for name, rs in groups.items()},
        "classes": {name: dict(c) for name, c in counts.items()},
        "latency_ms": {
            "p50": percentile([r.latency_ms for r in records], 0.5),
            "p95": percentile([r.latency_ms for r in records], 0.95),
        },
    }
    labelled = [r for r in records if r.emergency_expected is not None]
    if labelled:
        positives = [r for r in labelled if r.emergency_expected]
        ordinary = [r for r in labelled if not r.emergency_expected]
        flagged = [r for r in positives if r.cls == "emergency"]
        summary["emergency"] = {
            "positives": len(positives),
            "flagged": len(flagged),
            "first_number_shown": sum(
                bool(r.numbers_expected) and r.numbers_expected[0] in r.numbers_shown
                for r in positives
            ),
            "all_numbers_shown": sum(
                set(r.numbers_expected) <= set(r.numbers_shown) for r in positives
            ),
            "ordinary": len(ordinary),
            "false_positives": sum(r.cls == "emergency" for r in ordinary),
        }
    return summary


def reply_text(record: Record) -> str:
    if record.reply is None:
        return record.error
    return " | ".join(str(m.get("text") or "").replace("\n", " ") for m in record.reply)


def print_report(records: list[Record], summary: dict[str, Any], meta: dict[str, Any]) -> None:
    n = summary["n"]
    print(f"{meta['set']} (split {meta['split']}): {n['all']} questions through {meta['url']}")
    print(f"{'class':<14}{'all %':>8}{'covered %':>11}{'uncovered %':>13}")
    for cls in CLASSES:
        row = [summary["classes"][g].get(cls, 0) for g in ("all", "covered", "uncovered")]
        if not any(row) and cls in ("event_right", "error"):
            continue
        print(
            f"{cls:<14}{pct(row[0], n['all']):>8}{pct(row[1], n['covered']):>11}"
            f"{pct(row[2], n['uncovered']):>13}"
        )
    print(
        f"(covered: {n['covered']} questions with expected articles, uncovered: {n['uncovered']})"
    )
    e = summary.get("emergency")
    if e:
        print(
            f"emergency recall {e['flagged']}/{e['positives']}"
            f" ({pct(e['flagged'], e['positives'])} %),"
            f" first number shown {e['first_number_shown']}/{e['positives']},"
            f" all numbers shown {e['all_numbers_shown']}/{e['positives']};"
            f" false positives {e['false_positives']}/{e['ordinary']}"
            f" ({pct(e['false_positives'], e['ordinary'])} %)"
        )
    for cls in OTHER_CLASSES:
        examples = [r for r in records if r.cls == cls][:EXAMPLES_PER_CLASS]
        for r in examples:
            print(f"  {cls}: {r.query[:80]!r} -> {reply_text(r)[:110]!r}")
    lat = summary["latency_ms"]
    print(
        f"latency ms p50 {lat['p50']:.0f} p95 {lat['p95']:.0f}, concurrency {meta['concurrency']}"
    )
    print(
        f"{meta['date']}  load average before {meta['loadavg_before']}"
        f" after {meta['loadavg_after']} on {os.cpu_count()} CPUs"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", required=True, type=Path, help="JSONL question set")
    parser.add_argument("--split", choices=["dev", "test", "all"], default="all")
    parser.add_argument("--url", help="an already running app; else an own stack is started")
    parser.add_argument("--kb", type=Path, default=DEMO_BASE, help="base to import (own stack)")
    parser.add_argument("--data-cache", type=Path, help="data directory to import into / reuse")
    parser.add_argument("--limit", type=int, help="first N questions only")
    parser.add_argument("--concurrency", type=int, choices=[1, 2], default=1)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per reply")
    parser.add_argument("--json", type=Path, help="write the per-question records here")
    args = parser.parse_args()
    questions = load_questions(args.set, args.split, args.kb)[: args.limit]
    if not questions:
        print(f"no question in {args.set} for split {args.split}", file=sys.stderr)
        return 2
    if args.data_cache is not None and not args.url:
        # Articles are imported only into an empty base: a cache holds one --kb for good.
        marker = args.data_cache / "chat_eval_kb"
        kb = str(args.kb.resolve())
        if marker.exists() and marker.read_text().strip() != kb:
            print(
                f"{args.data_cache} holds {marker.read_text().strip()}, not {kb}",
                file=sys.stderr,
            )
            return 2
        args.data_cache.mkdir(parents=True, exist_ok=True)
        marker.write_text(kb + "\n")
    loadavg_before = [round(x, 2) for x in os.getloadavg()]
    overrides = {} if args.url else dict(OWN_STACK_ENV)
    with own_stack_or_url(
        args.url,
        "guichet-chateval-",
        overrides,
        free_ports=True,
        data_dir=args.data_cache,
        kb=args.kb,
    ) as (url, _stack):
        records = asyncio.run(run(url, questions, args.concurrency, args.timeout))
    meta = {
        "set": str(args.set),
        "split": args.split,
        "url": url if args.url else "own stack",
        "kb": None if args.url else str(args.kb),
        "overrides": overrides,
        "concurrency": args.concurrency,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "loadavg_before": loadavg_before,
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }
    summary = summarise(records)
    print_report(records, summary, meta)
    if args.json:
        args.json.write_text(
            json.dumps(
                {"meta": meta, "summary": summary, "records": [asdict(r) for r in records]},
                ensure_ascii=False,
                indent=1,
            ),
            encoding="utf-8",
        )
    # Replies that never came are a fault of the run, not a class of the product.
    return 1 if summary["classes"]["all"].get("error") else 0


if __name__ == "__main__":
    sys.exit(main())
