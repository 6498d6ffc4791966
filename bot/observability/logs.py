"""Log set-up: text or JSON lines, request ids, no personal data, errors counted.

`configure_logging(format, level)` replaces the root handlers with one stderr
handler. Every record goes through `RedactionFilter` first (e-mails, phone
numbers, NIR, IBAN and card numbers are masked with `bot.domain.privacy`,
whatever the call site logged) and gets the current request id.

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


def new_request_id() -> str:
    return uuid.uuid4().hex


def request_id_from(header: str | None) -> str:
    """The caller's id when it is well formed, else a fresh one."""
    if header and REQUEST_ID_FORMAT.match(header):
        return header
    return new_request_id()


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_clean(v) for v in value]
    return redact(str(value))


class RedactionFilter(logging.Filter):
    """Masks personal data in the message, its arguments and extras; adds request_id."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what can be kept
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = redact(message), None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD:
                setattr(record, key, _clean(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
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
