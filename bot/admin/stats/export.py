"""/admin/stats.csv: the figures in tidy, long format (metric, key, value)."""

from __future__ import annotations

import csv
import io

from bot.admin.stats.queries import Stats


# --- CSV export (tidy, long format) ---
def _number(value: float | None, digits: int = 4) -> str:
    if value is None:
        return ""
    text = f"{value:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def csv_rows(stats: Stats) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = [
        ("period", "since", stats.since.isoformat()),
        ("period", "until", stats.until.isoformat()),
        ("period", "days", str(len(stats.days))),
    ]
    for day in stats.days:
        for channel in stats.channels:
            count = stats.per_day[day].get(channel, 0)
            rows.append(("conversations_per_day", f"{day.isoformat()}/{channel}", str(count)))
    rows += [
        ("conversations", "total", str(stats.conversations)),
        ("conversations", "with_handoff", str(stats.with_handoff)),
        ("containment_rate", "", _number(stats.containment_rate)),
        ("handoff_rate", "", _number(stats.handoff_rate)),
        ("handoffs", "requested", str(stats.handoffs)),
        ("handoffs", "claimed", str(stats.claimed)),
        ("handoff_wait_s", "median", _number(stats.wait_median_s, 1)),
        ("handoff_wait_s", "p90", _number(stats.wait_p90_s, 1)),
    ]
    rows += [("handoff_outcome", k, str(v)) for k, v in stats.outcomes.items()]
    rows += [
        ("tickets", "opened", str(stats.tickets_opened)),
        ("tickets", "closed", str(stats.tickets_closed)),
    ]
    if stats.top_intents is None:
        rows.append(("top_intents", "unavailable", ""))
    rows += [("top_intent", name, str(n)) for name, n in stats.top_intents or []]
    rows += [("top_article", slug, str(n)) for slug, _, n in stats.top_articles]
    rows += [("kb_questions", k, str(v)) for k, v in stats.kb_questions.items()]
    for tag, n, phone in stats.life_events:
        rows += [("life_event", tag, str(n)), ("life_event_phone", tag, str(phone))]
    rows += [
        ("kb_unanswered", "", str(stats.unanswered)),
        ("feedback", "useful", str(stats.feedback_useful)),
        ("feedback", "total", str(stats.feedback_total)),
        ("feedback_ratio", "", _number(stats.feedback_ratio)),
    ]
    return rows


def _cell(value: str) -> str:
    # A spreadsheet must not take a key for a formula.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def to_csv(stats: Stats) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(("metric", "key", "value"))
    for metric, key, value in csv_rows(stats):
        writer.writerow((metric, _cell(key), value))
    return out.getvalue()
