"""Turns a planned DataFrame into an Arrow stream the Flight layer can send.

`DataFrame.__arrow_c_stream__` drains a plan's output partitions one after
another, which serializes a parallel scan. A one-stream result of several
partitions instead runs them all at once (`engine.partitions`); a result served
as several endpoints streams one partition per endpoint. Each batch crosses
into pyarrow through the Arrow C data interface and goes straight to the Flight
layer; observers hear once, at the end, what was sent.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa

from flightserver.engine.admission import Admission, Deadline
from flightserver.engine.native import ResultRows
from flightserver.engine.partitions import BatchStream
from flightserver.engine.physical import PhysicalQuery

ErrorMapper = Callable[[Exception], Exception]


class ResultCollector(Protocol):
    """Sees every batch sent (the result cache filling an entry), then how it ended."""

    def add(self, batch: pa.RecordBatch) -> None: ...

    def finish(self, completed: bool) -> None: ...


class QueryCancelledError(Exception):
    """Raised into a stream whose query was cancelled."""


class QueryTimedOutError(Exception):
    """Raised into a stream whose query ran past its deadline."""


@dataclass(frozen=True)
class StreamControls:
    """What may stop a stream early, and the admission slot it runs in."""

    cancelled: threading.Event
    deadline: Deadline
    admission: Admission
    on_end: Callable[[], None] = lambda: None  # called once, when the stream ends or is dropped
    # The policy's result row limit (Rust), shared by every stream of one result.
    result_rows: ResultRows | None = None
    collector: ResultCollector | None = None


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """`batch` labelled with `schema`, without copying.

    A physical plan's batches may differ from the plan's logical schema in field
    metadata and nullability only; clients require every batch to match the
    schema announced in the FlightInfo.
    """
    if batch.schema.equals(schema, check_metadata=True):
        return batch
    return pa.RecordBatch.from_arrays(batch.columns, schema=schema)


@dataclass(frozen=True)
class StreamEnd:
    """How one result stream ended, with what it sent."""

    rows: int
    bytes: int
    completed: bool  # read to its end
    error: Exception | None  # what stopped it, as raised to the client; neither: abandoned


StreamObserver = Callable[[StreamEnd], None]


def stream_query(
    query: PhysicalQuery,
    partition: int | None,
    schema: pa.Schema,
    map_error: ErrorMapper,
    controls: StreamControls,
) -> ResultStream:
    """Starts executing `query` (one endpoint's `partition`, or all of it) in an
    admission slot; batches come as the stream is iterated.

    Planning errors (physical rules refusing the plan, among them) raise here.
    Errors while streaming go through `map_error`. Cancellation or the deadline
    end the stream at the next batch, dropping (and so stopping) the execution.
    The slot is held until the stream ends or is dropped.
    """
    controls.admission.acquire()
    try:
        stream = query.execute(partition)
    except BaseException:
        controls.admission.release()
        raise
    return ResultStream(stream, schema, map_error, controls)


class ResultStream:
    """One result stream: the engine's batches, conformed to `schema`, counted once.

    Whatever observes a result (the artifact trace, the query tracker) subscribes
    with `observe` and hears once how it ended, so each batch passes through no
    other Python layer on its way to the client.
    """

    def __init__(
        self,
        stream: BatchStream,
        schema: pa.Schema,
        map_error: ErrorMapper,
        controls: StreamControls,
    ) -> None:
        self.schema = schema
        self.rows = 0
        self.bytes = 0
        self._stream: BatchStream | None = stream
        self._map_error = map_error
        self._controls = controls
        self._observers: list[StreamObserver] = []
        self._released = False
        self._lock = threading.Lock()

    def observe(self, observer: StreamObserver) -> None:
        """Calls `observer` once, when the stream ends or is dropped."""
        self._observers.append(observer)

    def __iter__(self) -> ResultStream:
        return self

    def __next__(self) -> pa.RecordBatch:
        try:
            if self._controls.cancelled.is_set():
                raise QueryCancelledError("the query was cancelled")
            if self._controls.deadline.expired():
                limit = self._controls.deadline.seconds
                raise QueryTimedOutError(f"the query ran longer than {limit:g} s; stopped")
            if self._stream is None:  # released: cancelled, timed out, failed or dropped
                raise StopIteration
            batch = next(self._stream)
            if self._controls.result_rows is not None:
                self._controls.result_rows.count(batch.num_rows)
            self.rows += batch.num_rows
            self.bytes += batch.nbytes
            batch = conform(batch, self.schema)
            if self._controls.collector is not None:
                self._controls.collector.add(batch)
            return batch
        except StopIteration:
            self._release(completed=True, error=None)
            raise
        except Exception as exc:
            error = self._map_error(exc)
            self._release(completed=False, error=error)
            raise error from None

    def _release(self, completed: bool, error: Exception | None) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
            # Stopping DataFusion's stream stops the plan's tasks and frees their
            # memory now, even while pyarrow still holds this iterator.
            stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()
        self._controls.admission.release()
        if self._controls.collector is not None:
            self._controls.collector.finish(completed)
        self._controls.on_end()
        end = StreamEnd(self.rows, self.bytes, completed, error)
        for observer in self._observers:
            observer(end)

    def __del__(self) -> None:
        self._release(completed=False, error=None)
