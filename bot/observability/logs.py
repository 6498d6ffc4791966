"""Log set-up: text or JSON lines, request ids, no personal data, errors counted.

`configure_logging(format, level)` replaces the root handlers with one stderr
handler. Every record goes through `RedactionFilter` first (e-mails, phone
numbers, NIR, IBAN and card numbers are masked with `bot.domain.privacy`,
whatever the call site logged) and gets the current request id.

Records are masked on the event loop, so what one record may cost is bounded:
the message and each extra are cut to MAX_MESSAGE_CHARS / MAX_EXTRA_CHARS, and
an exception's text keeps its last MAX_EXCEPTION_CHARS (where the error is).

JSON lines carry: time (ISO 8601, UTC), level, logger, message, request_id
(null outside a request), `exception` when there is one, and any `extra=`
fields given to the logging call.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

from bot.domain.privacy import redact
from bot.observability import metrics

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "guichet_request_id", default=None
)
# What an incoming X-Request-Id may look like (a proxy's id, a UUID...); anything
# else is replaced, so a client cannot write arbitrary text into the logs.
REQUEST_ID_FORMAT = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"

# Attributes every LogRecord has; anything else was passed with `extra=`.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "request_id",
    "taskName",
}


# What one record may carry; beyond, the text is cut and says how much was cut.
MAX_MESSAGE_CHARS = 4000
MAX_EXTRA_CHARS = 1000
MAX_EXCEPTION_CHARS = 8000
# Masked before cutting, with this margin, so an identifier across the cut is
# still recognised whole (a cut half of an address would not be).
_MARGIN = 256


def new_request_id() -> str:
    return uuid.uuid4().hex


def request_id_from(header: str | None) -> str:
    """The caller's id when it is well formed, else a fresh one."""
    if header and REQUEST_ID_FORMAT.match(header):
        return header
    return new_request_id()


def bounded_redact(text: str, limit: int, keep_end: bool = False) -> str:
    """`text` masked and cut to about `limit` characters (the start, or the end)."""
    if len(text) <= limit:
        return redact(text)
    cut = len(text) - limit
    if keep_end:
        return f"[{cut} characters cut] " + redact(text[-(limit + _MARGIN) :])[-limit:]
    return redact(text[: limit + _MARGIN])[:limit] + f" [{cut} characters cut]"


_MAX_ITEMS = 50


def _clean(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return bounded_redact(value, MAX_EXTRA_CHARS)
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    if depth < 3 and isinstance(value, dict):
        items = list(value.items())[:_MAX_ITEMS]
        return {bounded_redact(str(k), 100): _clean(v, depth + 1) for k, v in items}
    if depth < 3 and isinstance(value, (list, tuple, set, frozenset)):
        return [_clean(v, depth + 1) for v in list(value)[:_MAX_ITEMS]]
    return bounded_redact(str(value), MAX_EXTRA_CHARS)


class RedactionFilter(logging.Filter):
    """Masks personal data in the message, its arguments and extras; adds request_id."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what can be kept
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = bounded_redact(message, MAX_MESSAGE_CHARS), None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD:
                setattr(record, key, _clean(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = bounded_redact(record.exc_text, MAX_EXCEPTION_CHARS, keep_end=True)
        record.exc_info = None  # formatted (and redacted) above
        record.request_id = REQUEST_ID.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None)
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": None if request_id in (None, "-") else request_id,
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


class ErrorCounter(logging.Handler):
    """Counts records at ERROR and above in `guichet_errors_total`, by top-level package."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)

    def emit(self, record: logging.LogRecord) -> None:
        metrics.error(record.name.split(".", 1)[0] or "root")


def configure_logging(fmt: str = "text", level: str = "INFO") -> None:
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {FORMATS}, not {fmt!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactionFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.addHandler(ErrorCounter())
    root.setLevel(level.upper())
