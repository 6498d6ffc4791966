"""The project's tracker store: Rasa's SQLTrackerStore without its per-turn waste.

endpoints.yml names this class (`type: bot.rasa_plugins.tracker_store.TrackerStore`),
so `rasa run` loads it at start-up; it stores exactly what SQLTrackerStore stores, in
the same table, on SQLite or PostgreSQL. Measured under 20 closed-loop conversations
(docs/benchmarks-capacity.md), what it removes:

* the check of Rasa's constant action-response schema on every custom action call
  (bot/rasa_plugins/action_results.py), installed when this store is created;
* on SQLite: a new connection for every read and write (SQLAlchemy's NullPool for a
  file) and a synchronous journal flush on every commit, which blocks Rasa's only
  event-loop thread (Rasa's SQL store is synchronous). Connections are kept (one per
  thread), the journal is WAL with `synchronous=NORMAL`: a commit survives a crash of
  Rasa or of the machine's processes; a power cut may lose the last turns' tracker
  events (never the transcripts, which the app stores), and the file stays
  consistent. Readers (the app's purge, exports, statistics) no longer block Rasa;
* reading a conversation loads only the events' `data` column (Rasa built an ORM
  object of every row) and counting the stored events before a write is a plain
  COUNT (Rasa counted a subquery of whole rows): the same rows, filters and order.
"""

from __future__ import annotations

import itertools
import json
import logging
from typing import Any, Iterator, Optional, Text

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.trackers import DialogueStateTracker

from bot.rasa_plugins import action_results

log = logging.getLogger(__name__)

# Milliseconds a writer waits for another one (a second Rasa process on the same file).
SQLITE_BUSY_TIMEOUT_MS = 10_000


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


class TrackerStore(SQLTrackerStore):
    engine: Any  # SQLTrackerStore's SQLAlchemy engine (Rasa has no type stubs here)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """SQLTrackerStore's arguments (Rasa passes endpoints.yml's keys)."""
        action_results.install()
        super().__init__(*args, **kwargs)
        engine: Any = self.engine
        if engine.dialect.name == "sqlite" and engine.url.database:
            url = engine.url
            engine.dispose()
            self.engine = sa.create_engine(url, poolclass=sa.pool.SingletonThreadPool)
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
            log.debug("SQLite tracker store %s: WAL, connections kept", url.database)

    async def _retrieve(
        self, sender_id: Text, fetch_events_from_all_sessions: bool
    ) -> Optional[DialogueStateTracker]:
        """SQLTrackerStore._retrieve, reading only the column it uses."""
        with self.session_scope() as session:
            query = self._event_query(
                session, sender_id, fetch_events_from_all_sessions=fetch_events_from_all_sessions
            )
            events = [json.loads(data) for (data,) in query.with_entities(self.SQLEvent.data)]
            if self.domain and len(events) > 0:
                return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
            return None

    def _additional_events(self, session: Any, tracker: DialogueStateTracker) -> Iterator:
        """SQLTrackerStore._additional_events with a COUNT of the same rows."""
        query = self._event_query(session, tracker.sender_id, fetch_events_from_all_sessions=False)
        stored = query.with_entities(sa.func.count(self.SQLEvent.id)).order_by(None).scalar()
        return itertools.islice(tracker.events, stored, len(tracker.events))
