"""Every Prometheus metric of the app, defined once, with one-line helpers.

Labels are small closed sets (channel, outcome, route template, status), never
session ids, paths with ids or user text: each label value is a time series.
The metrics live in prometheus-client's default registry, which also exports
the process collector (CPU, memory, open files) and Python's GC figures.
"""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

__all__ = ["CONTENT_TYPE_LATEST", "exposition"]

# Chat turns take 50 ms to a few seconds (Rasa's timeout is 2.5 s).
TURN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 5.0, 10.0)
# A knowledge-base search is a few milliseconds to a few hundred.
SEARCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

CHAT_TURNS = Counter("guichet_chat_turns", "Citizen turns handled, by channel.", ["channel"])
TURN_SECONDS = Histogram(
    "guichet_turn_duration_seconds",
    "Time to answer one citizen turn (validation done, reply ready), by channel.",
    ["channel"],
    buckets=TURN_BUCKETS,
)
RASA_ERRORS = Counter(
    "guichet_rasa_errors",
    "Turns Rasa did not answer: timeout, error (HTTP or connection) or empty.",
    ["kind"],
)
HANDOFFS = Counter(
    "guichet_handoffs",
    "Handoff events: requested, queued, unavailable, claimed, handed_back, closed, abandoned.",
    ["event"],
)
CALLS_STARTED = Counter("guichet_calls_started", "Phone calls answered by the callbot.")
CALLS_ENDED = Counter(
    "guichet_calls_ended",
    "Phone calls ended, by outcome (answered_by_bot, transferred, callback, hung_up, error).",
    ["outcome"],
)
CALL_UTTERANCES = Counter(
    "guichet_call_utterances",
    "Callers' utterances recognised, by when their decode started (early: at the "
    "caller's pause, before the end-point; after_end: once the end-point was reached).",
    ["decode"],
)
CALL_TURN_ENDS = Counter(
    "guichet_call_turn_ends",
    "Callers' utterances by what ended them: complete (words that end a sentence, "
    "sooner than the 500 ms end-point), silence (the 500 ms end-point), unfinished "
    "(later: the words stopped mid-sentence), decoding (later: the end-point waited for "
    "the decode), max_length.",
    ["end"],
)
KB_SEARCHES = Counter(
    "guichet_kb_searches",
    "Knowledge-base searches for citizens, by outcome (answer, suggest, not_found).",
    ["outcome"],
)
KB_SEARCH_SECONDS = Histogram(
    "guichet_kb_search_duration_seconds",
    "Knowledge-base search time (ranking and passage choice).",
    buckets=SEARCH_BUCKETS,
)
HTTP_REQUESTS = Counter(
    "guichet_http_requests",
    "HTTP requests (WebSockets counted when they close), by route template, method and status.",
    ["route", "method", "status"],
)
HTTP_SECONDS = Histogram(
    "guichet_http_request_duration_seconds",
    "HTTP request duration by route template (WebSockets excluded).",
    ["route"],
    buckets=HTTP_BUCKETS,
)
ERRORS = Counter(
    "guichet_errors",
    "Errors: log records at ERROR or above (by top-level package) and unhandled HTTP errors.",
    ["component"],
)
RATE_LIMITED = Counter(
    "guichet_rate_limited",
    "Public requests refused by a rate limit, by scope (ip, session) and endpoint kind.",
    ["scope", "endpoint"],
)
NOTIFICATIONS = Counter(
    "guichet_notifications",
    "Outbox deliveries (acknowledgements, routing, status, links), by channel and outcome "
    "(sent, retry, failed).",
    ["channel", "outcome"],
)

# Confidence values of the knowledge base, as operators read them.
_KB_OUTCOMES = {"answer": "answer", "ambiguous": "suggest", "not_found": "not_found"}


def chat_turn(channel: str, seconds: float) -> None:
    CHAT_TURNS.labels(channel).inc()
    TURN_SECONDS.labels(channel).observe(seconds)


def rasa_error(kind: str) -> None:
    """kind: timeout, error or empty."""
    RASA_ERRORS.labels(kind).inc()


def handoff(event: str) -> None:
    HANDOFFS.labels(event).inc()


def call_started() -> None:
    CALLS_STARTED.inc()


def call_ended(outcome: str) -> None:
    CALLS_ENDED.labels(outcome or "unknown").inc()


def call_utterance(decode: str) -> None:
    CALL_UTTERANCES.labels(decode).inc()


def call_turn_end(end: str) -> None:
    CALL_TURN_ENDS.labels(end).inc()


def kb_search(confidence: str, seconds: float) -> None:
    KB_SEARCHES.labels(_KB_OUTCOMES.get(confidence, confidence)).inc()
    KB_SEARCH_SECONDS.observe(seconds)


def http_request(route: str, method: str, status: int, seconds: float | None) -> None:
    HTTP_REQUESTS.labels(route, method, str(status)).inc()
    if seconds is not None:
        HTTP_SECONDS.labels(route).observe(seconds)


def error(component: str) -> None:
    ERRORS.labels(component).inc()


def rate_limited(scope: str, endpoint: str) -> None:
    RATE_LIMITED.labels(scope, endpoint).inc()


def notification(channel: str, outcome: str) -> None:
    NOTIFICATIONS.labels(channel, outcome).inc()


def since(started: float) -> float:
    """Seconds elapsed since a `time.perf_counter()` reading."""
    return time.perf_counter() - started


def exposition() -> bytes:
    """The text exposition format of every registered metric."""
    return generate_latest()
