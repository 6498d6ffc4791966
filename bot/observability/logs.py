"""Log set-up: text or JSON lines, request ids, no personal data, errors counted.

`configure_logging(format, level)` replaces the root handlers with one stderr
handler. Every record goes through `RedactionFilter` first (e-mails, phone
numbers, NIR, IBAN and card numbers are masked with `bot.core.privacy`,
whatever the call site logged) and gets the current request id.

Records are masked, formatted and written by a logging thread, never on the
event loop: the loop only formats the message's arguments and puts the record
on a bounded queue (`LoopSafeQueueHandler`), so neither a hostile input being
masked nor a slow stderr holds up the chat, the agent console or a call. What
one record may cost is bounded too: the message and each extra are cut to
MAX_MESSAGE_CHARS / MAX_EXTRA_CHARS, and an exception's text keeps its last
MAX_EXCEPTION_CHARS (where the error is). When the queue is full (the writer
stuck), records are dropped and the next line written says how many.

JSON lines carry: time (ISO 8601, UTC), level, logger, message, request_id
(null outside a request), `exception` when there is one, and any `extra=`
fields given to the logging call.
"""

from __future__ import annotations

import atexit
import contextvars
import json
import logging
import logging.handlers
import queue
import re
import sys
import uuid
from datetime import UTC, datetime
from typing import Any, TextIO

from bot.core.privacy import redact
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
        # Taken where the record was made when it went through the queue.
        record.request_id = getattr(record, "request_id", None) or REQUEST_ID.get() or "-"
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


QUEUE_SIZE = 10_000


class LoopSafeQueueHandler(logging.handlers.QueueHandler):
    """Takes what must be read where the record was made (its request id, its
    message, its traceback) and queues it for the logging thread."""

    def __init__(self, records: queue.Queue[logging.LogRecord]) -> None:
        super().__init__(records)
        self.dropped = 0

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what can be kept
            message = f"{record.msg!r} {record.args!r}"
        exc_text = record.exc_text
        if record.exc_info and not exc_text:
            exc_text = logging.Formatter().formatException(record.exc_info)
        prepared = logging.makeLogRecord(record.__dict__)
        prepared.msg, prepared.args = message, None
        prepared.exc_info, prepared.exc_text = None, exc_text
        prepared.request_id = REQUEST_ID.get() or "-"
        return prepared

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1


class _Writer(logging.StreamHandler):  # type: ignore[type-arg,unused-ignore]
    """The stream handler of the logging thread; reports records dropped meanwhile."""

    def __init__(self, stream: TextIO, source: LoopSafeQueueHandler) -> None:
        super().__init__(stream)
        self._source = source

    def emit(self, record: logging.LogRecord) -> None:
        dropped, self._source.dropped = self._source.dropped, 0
        if dropped:
            notice = logging.makeLogRecord(
                {"name": __name__, "levelno": logging.WARNING, "levelname": "WARNING",
                 "msg": f"{dropped} log records dropped: the log writer could not keep up",
                 "request_id": "-"}
            )  # fmt: skip
            super().emit(notice)
        super().emit(record)


_listener: logging.handlers.QueueListener | None = None


def stop_logging_thread() -> None:
    """Write what is still queued and stop the logging thread (at exit)."""
    global _listener
    if _listener is not None:
        _listener.stop()
        _listener = None


def configure_logging(fmt: str = "text", level: str = "INFO", stream: TextIO | None = None) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {FORMATS}, not {fmt!r}")
    global _listener
    stop_logging_thread()
    records: queue.Queue[logging.LogRecord] = queue.Queue(QUEUE_SIZE)
    queued = LoopSafeQueueHandler(records)
    writer = _Writer(stream or sys.stderr, queued)
    writer.addFilter(RedactionFilter())
    writer.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(queued)
    root.addHandler(ErrorCounter())
    root.setLevel(level.upper())
    _listener = logging.handlers.QueueListener(records, writer, respect_handler_level=True)
    _listener.start()


atexit.register(stop_logging_thread)
