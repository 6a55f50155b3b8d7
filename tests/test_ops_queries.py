"""The query tracker's bookkeeping over real DataFusion result streams, in process
(its server-side use is tested through real servers in test_ops_metrics.py and
test_ops_status_page.py)."""

from __future__ import annotations

import threading

import pytest
from datafusion import SessionContext

from flightserver.engine.admission import Admission, Deadline
from flightserver.engine.partitions import PartitionStream
from flightserver.engine.streaming import ResultStream, StreamControls
from flightserver.ops.queries import QueryStatus, QueryTracker


def test_unread_query_ends_when_its_ticket_expires() -> None:
    tracker = QueryTracker(history_size=10, ticket_ttl_seconds=0)
    unread = tracker.start("SELECT 1")
    assert tracker.active() == []
    assert tracker.history() == [unread]
    assert unread.status is QueryStatus.CANCELLED
    assert unread.error == "never read: its ticket expired"


def _result_stream(sql: str, admission: Admission) -> ResultStream:
    """A real DataFusion result stream, as the server streams one."""
    df = SessionContext().sql(sql)
    schema = df.schema()
    admission.acquire()
    controls = StreamControls(threading.Event(), Deadline(None), admission)
    stream = PartitionStream(df.execute_stream())
    return ResultStream(stream, schema, lambda exc: exc, controls)


def test_streaming_query_stays_active_and_counts_rows() -> None:
    tracker = QueryTracker(history_size=10, ticket_ttl_seconds=0)
    record = tracker.start("SELECT x")
    admission = Admission(max_active=1, max_queued=0, wait_seconds=0)
    stream = _result_stream("SELECT * FROM (VALUES (1), (2), (3)) AS t(x)", admission)
    tracker.track_stream(record, stream, threading.Event())
    first = next(stream)
    assert first.num_rows == 3
    assert tracker.active() == [record]  # being read: never expired
    assert record.rows == 3  # live count while streaming
    assert list(stream) == []
    assert tracker.active() == []
    assert (record.status, record.rows) == (QueryStatus.OK, 3)
    admission.acquire()  # the stream gave its slot back when it ended


def test_dropped_stream_is_cancelled() -> None:
    tracker = QueryTracker(history_size=10, ticket_ttl_seconds=600)
    record = tracker.start("SELECT x")
    admission = Admission(max_active=1, max_queued=0, wait_seconds=0)
    stream = _result_stream("SELECT * FROM (VALUES (1), (2)) AS t(x)", admission)
    tracker.track_stream(record, stream, threading.Event())
    del stream
    assert record.status is QueryStatus.CANCELLED
    assert record.error == "the client stopped reading"


def test_history_is_bounded_and_newest_first() -> None:
    tracker = QueryTracker(history_size=2, ticket_ttl_seconds=600)
    records = [tracker.start(f"SELECT {n}") for n in range(3)]
    for record in records:
        tracker.finish(record, QueryStatus.OK)
    assert [r.sql for r in tracker.history()] == ["SELECT 2", "SELECT 1"]


def test_failed_stream_is_an_error() -> None:
    tracker = QueryTracker(history_size=10, ticket_ttl_seconds=600)
    record = tracker.start("SELECT boom")
    admission = Admission(max_active=1, max_queued=0, wait_seconds=0)
    # Fails while executing, not while planning: the cast of 'x' runs per row.
    stream = _result_stream("SELECT CAST(v AS INT) FROM (VALUES ('1'), ('x')) AS t(v)", admission)
    tracker.track_stream(record, stream, threading.Event())
    with pytest.raises(Exception, match="Cannot cast"):
        list(stream)
    assert record.status is QueryStatus.ERROR
    assert "Cannot cast" in (record.error or "")
