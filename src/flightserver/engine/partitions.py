"""Batches of an executing physical plan, as one stream, without planning it again.

A plan of one output partition is that partition's stream. A plan of several is
executed partition by partition, each driven by its own thread (DataFusion's
streams do their work in whoever polls them, with the GIL released), and their
batches are merged as they arrive. DataFusion would merge them itself only from
a DataFrame, planning the query a second time; a Python merge of the plan made
once keeps its manifest, its pins and the session's memory pool.

Only a plan without a global order has several output partitions (DataFusion
ends an ordered plan in one merged partition), so arrival order is a valid order.
"""

from __future__ import annotations

import queue
import threading
from typing import Protocol

import pyarrow as pa
from datafusion import RecordBatchStream, SessionContext
from datafusion.plan import ExecutionPlan

from flightserver.engine.native import DistributedPlan, EndpointStream

# Batches each partition may have waiting before its thread waits for the reader:
# memory stays bounded when the client reads slower than the plan produces.
_WAITING_PER_PARTITION = 2
# How often a thread blocked on a full queue checks whether the reader is gone.
_POLL_SECONDS = 0.1


class BatchStream(Protocol):
    """A running plan's batches; `close` stops it and frees what it holds."""

    def __next__(self) -> pa.RecordBatch: ...

    def close(self) -> None: ...


class PartitionStream:
    """One output partition's batches."""

    def __init__(self, stream: RecordBatchStream) -> None:
        self._stream: RecordBatchStream | None = stream

    def __next__(self) -> pa.RecordBatch:
        if self._stream is None:
            raise StopIteration
        return next(self._stream).to_pyarrow()

    def close(self) -> None:
        # Dropping DataFusion's stream stops its tasks now.
        self._stream = None


class NativeStream:
    """A stream of the Rust extension (an Arrow C stream), read batch by batch
    with the GIL released; closing it drops the plan's stream, which stops it."""

    def __init__(
        self, source: DistributedPlan | EndpointStream, schema: pa.Schema | None = None
    ) -> None:
        self._reader: pa.RecordBatchReader | None = pa.RecordBatchReader.from_stream(source)
        # The client's types, when they differ from the engine's (`client_types`).
        self._cast_to = None if schema is None or schema == self._reader.schema else schema

    def __next__(self) -> pa.RecordBatch:
        if self._reader is None:
            raise StopIteration
        batch = self._reader.read_next_batch()
        return batch if self._cast_to is None else batch.cast(self._cast_to)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None


class _Ended:
    """A partition's last word: the error it stopped with, if any."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error


class MergedPartitions:
    """Every output partition of `plan` running at once, batches in arrival order."""

    def __init__(self, ctx: SessionContext, plan: ExecutionPlan) -> None:
        partitions = plan.partition_count
        self._queue: queue.Queue[pa.RecordBatch | _Ended] = queue.Queue(
            partitions * _WAITING_PER_PARTITION
        )
        self._running = partitions
        self._closed = threading.Event()
        # Opened here, so that planning errors (a rule refusing at execution) raise now.
        streams = [ctx.execute(plan, partition) for partition in range(partitions)]
        for partition, stream in enumerate(streams):
            threading.Thread(
                target=self._drain, args=(stream,), name=f"partition-{partition}", daemon=True
            ).start()

    def _drain(self, stream: RecordBatchStream) -> None:
        error: Exception | None = None
        try:
            for batch in stream:
                if self._closed.is_set():
                    return
                self._put(batch.to_pyarrow())
        except Exception as exc:
            error = exc
        finally:
            # Always a last word, so the reader never waits for a partition that is gone.
            self._put(_Ended(error))

    def _put(self, item: pa.RecordBatch | _Ended) -> None:
        while not self._closed.is_set():
            try:
                self._queue.put(item, timeout=_POLL_SECONDS)
                return
            except queue.Full:
                continue

    def __next__(self) -> pa.RecordBatch:
        while self._running:
            item = self._queue.get()
            if not isinstance(item, _Ended):
                return item
            self._running -= 1
            if item.error is not None:
                self.close()
                raise item.error
        raise StopIteration

    def close(self) -> None:
        """Stops every partition at its next batch; their threads then drop their streams."""
        self._closed.set()
        self._running = 0
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return
