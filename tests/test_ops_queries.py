"""The query tracker's bookkeeping, in process (its server-side use is tested
through real servers in test_ops_metrics.py and test_ops_status_page.py)."""

from __future__ import annotations

import threading

import pyarrow as pa
import pytest

from flightserver.ops.queries import QueryStatus, QueryTracker


def test_unread_query_ends_when_its_ticket_expires() -> None:
    tracker = QueryTracker(history_size=10, ticket_ttl_seconds=0)
    unread = tracker.start("SELECT 1")
    assert tracker.active() == []
    assert tracker.history() == [unread]
    assert unread.status is QueryStatus.CANCELLED
    assert unread.error == "never read: its ticket expired"


def test_streaming_query_stays_active_and_counts_rows() -> None:
    tracker = QueryTracker(history_size=10, ticket_ttl_seconds=0)
    record = tracker.start("SELECT x")
    batch = pa.record_batch({"x": pa.array([1, 2, 3])})
    reader = pa.RecordBatchReader.from_batches(batch.schema, iter([batch, batch]))
    tracked = tracker.track_stream(record, reader, threading.Event())
    first = tracked.read_next_batch()
    assert first.num_rows == 3
    assert tracker.active() == [record]  # being read: never expired
    assert tracked.read_all().num_rows == 3
    assert tracker.active() == []
    assert (record.status, record.rows) == (QueryStatus.OK, 6)


def test_history_is_bounded_and_newest_first() -> None:
    tracker = QueryTracker(history_size=2, ticket_ttl_seconds=600)
    records = [tracker.start(f"SELECT {n}") for n in range(3)]
    for record in records:
        tracker.finish(record, QueryStatus.OK)
    assert [r.sql for r in tracker.history()] == ["SELECT 2", "SELECT 1"]


def test_failed_stream_is_an_error() -> None:
    tracker = QueryTracker(history_size=10, ticket_ttl_seconds=600)
    record = tracker.start("SELECT boom")

    def batches():
        yield pa.record_batch({"x": pa.array([1])})
        raise ValueError("boom")

    schema = pa.schema([("x", pa.int64())])
    tracked = tracker.track_stream(
        record, pa.RecordBatchReader.from_batches(schema, batches()), threading.Event()
    )
    with pytest.raises(ValueError, match="boom"):
        tracked.read_all()
    assert record.status is QueryStatus.ERROR
    assert "boom" in (record.error or "")
