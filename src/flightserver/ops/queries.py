"""The statements the server runs: those running now, and a bounded history.

A statement gets its query id when planning starts. Its log lines carry the id
(`logs.QUERY_ID`), its latency observation carries it as a metric exemplar,
and the status page lists it, so the three can be joined.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
import weakref
from collections import deque
from collections.abc import Generator
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING

import msgspec

from flightserver.ops import metrics
from flightserver.ops.logs import QUERY_ID
from flightserver.ops.tracing import tag_query

if TYPE_CHECKING:
    from flightserver.engine.streaming import ResultStream, StreamEnd

log = logging.getLogger(__name__)

# How much of a statement's text the history keeps.
_SQL_CHARS = 2000


class QueryStatus(StrEnum):
    RUNNING = "running"
    OK = "ok"
    ERROR = "error"
    CANCELLED = "cancelled"


class QueryRecord(msgspec.Struct, kw_only=True):
    """One statement; mutated (under the tracker's lock) until it finishes."""

    query_id: str
    sql: str
    started_at: float  # Unix time
    status: QueryStatus = QueryStatus.RUNNING
    duration_seconds: float | None = None
    rows: int = 0
    bytes: int = 0
    error: str | None = None
    # Monotonic start, for durations; not shown.
    started_monotonic: float = 0.0
    # Whether DoGet has begun reading it; not shown.
    streaming: bool = False


class QueryTracker:
    """Thread-safe registry of running statements and the last `history_size` finished.

    A query planned but never read ends when its ticket expires (`ticket_ttl_seconds`).
    """

    def __init__(self, history_size: int, ticket_ttl_seconds: float) -> None:
        self._ticket_ttl = ticket_ttl_seconds
        self._lock = threading.Lock()
        self._active: dict[str, QueryRecord] = {}
        self._history: deque[QueryRecord] = deque(maxlen=history_size)
        # Results being streamed, by query id: where live row and byte counts come from.
        # Weak: a stream its client dropped must be freed (and so end), not kept here.
        self._streams: weakref.WeakValueDictionary[str, ResultStream] = (
            weakref.WeakValueDictionary()
        )

    def start(self, sql: str) -> QueryRecord:
        record = QueryRecord(
            query_id=secrets.token_hex(8),
            sql=sql[:_SQL_CHARS],
            started_at=time.time(),
            started_monotonic=time.monotonic(),
        )
        with self._lock:
            self._active[record.query_id] = record
        tag_query(record.query_id)
        metrics.ACTIVE_QUERIES.inc()
        log.info("query started: %s", record.sql, extra={"query_id": record.query_id})
        return record

    def rejected(self, sql: str, error: str) -> None:
        """A statement that failed to prepare: it never ran, but it failed for its client."""
        self.finish(self.start(sql), QueryStatus.ERROR, error)

    @contextmanager
    def planning(self, record: QueryRecord) -> Generator[None]:
        """Log lines inside carry the query id; an exception finishes the query as failed."""
        token = QUERY_ID.set(record.query_id)
        tag_query(record.query_id)  # DoGet's span: the query it streams
        try:
            yield
        except Exception as exc:
            self.finish(record, QueryStatus.ERROR, str(exc))
            raise
        finally:
            QUERY_ID.reset(token)

    def finish(
        self,
        record: QueryRecord,
        status: QueryStatus,
        error: str | None = None,
        rows: int | None = None,
    ) -> None:
        """Moves `record` to the history; later calls for the same record do nothing."""
        with self._lock:
            if self._active.pop(record.query_id, None) is None:
                return
            record.status = status
            record.error = error
            if rows is not None:
                record.rows = rows
            record.duration_seconds = time.monotonic() - record.started_monotonic
            self._history.append(record)
        metrics.ACTIVE_QUERIES.dec()
        metrics.labelled(metrics.QUERIES, status.value).inc()
        metrics.labelled(metrics.QUERY_DURATION, status.value).observe(
            record.duration_seconds, exemplar={"query_id": record.query_id}
        )
        log.log(
            logging.WARNING if status is QueryStatus.ERROR else logging.INFO,
            "query %s after %.3fs: %d rows, %d bytes%s",
            status.value,
            record.duration_seconds,
            record.rows,
            record.bytes,
            f": {error}" if error else "",
            extra={"query_id": record.query_id},
        )

    def track_stream(
        self, record: QueryRecord, stream: ResultStream, cancelled: threading.Event
    ) -> None:
        """Follows `stream`: live counts while it runs, `record` finished when it ends."""
        record.streaming = True
        with self._lock:
            self._streams[record.query_id] = stream

        def ended(end: StreamEnd) -> None:
            with self._lock:
                self._streams.pop(record.query_id, None)
            record.rows, record.bytes = end.rows, end.bytes
            metrics.ROWS_STREAMED.inc(end.rows)
            metrics.BYTES_STREAMED.inc(end.bytes)
            if end.completed:
                self.finish(record, QueryStatus.OK)
            elif end.error is None:
                self.finish(record, QueryStatus.CANCELLED, "the client stopped reading")
            else:
                status = QueryStatus.CANCELLED if cancelled.is_set() else QueryStatus.ERROR
                self.finish(record, status, str(end.error))

        stream.observe(ended)

    def active(self) -> list[QueryRecord]:
        self.expire_unread()
        with self._lock:
            for query_id, stream in list(self._streams.items()):
                record = self._active.get(query_id)
                if record is not None:
                    record.rows, record.bytes = stream.rows, stream.bytes
            return sorted(self._active.values(), key=lambda r: r.started_at)

    def expire_unread(self) -> None:
        """Ends the queries whose ticket expired before any DoGet read them."""
        deadline = time.monotonic() - self._ticket_ttl
        with self._lock:
            expired = [
                record
                for record in self._active.values()
                if not record.streaming and record.started_monotonic < deadline
            ]
        for record in expired:
            self.finish(record, QueryStatus.CANCELLED, "never read: its ticket expired")

    def history(self) -> list[QueryRecord]:
        """Finished statements, newest first."""
        with self._lock:
            return list(reversed(self._history))
