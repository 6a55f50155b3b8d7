"""Turns a planned DataFrame into an Arrow stream the Flight layer can send.

`DataFrame.__arrow_c_stream__` drains a plan's output partitions one after
another, which serializes a parallel scan. `execute_stream` instead merges the
partitions inside DataFusion (all of them running at once) into one stream,
and each batch crosses into pyarrow through the Arrow C data interface.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pyarrow as pa
from datafusion import DataFrame

ErrorMapper = Callable[[Exception], Exception]


class QueryCancelledError(Exception):
    """Raised into a stream whose query was cancelled."""


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """`batch` labelled with `schema`, without copying.

    A physical plan's batches may differ from the plan's logical schema in field
    metadata and nullability only; clients require every batch to match the
    schema announced in the FlightInfo.
    """
    if batch.schema.equals(schema, check_metadata=True):
        return batch
    return pa.RecordBatch.from_arrays(batch.columns, schema=schema)


def stream_dataframe(
    df: DataFrame, schema: pa.Schema, map_error: ErrorMapper, cancelled: threading.Event
) -> pa.RecordBatchReader:
    """Starts executing `df`; batches are produced as the reader is consumed.

    Errors raised while executing go through `map_error`, so a failure in the
    middle of a stream reaches the client with the same status as one at planning.
    Setting `cancelled` ends the stream at the next batch, dropping (and so
    stopping) DataFusion's execution.
    """
    try:
        stream = df.execute_stream()
    except Exception as exc:
        raise map_error(exc) from exc

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            for batch in stream:
                if cancelled.is_set():
                    raise QueryCancelledError("the query was cancelled")
                yield conform(batch.to_pyarrow(), schema)
        except Exception as exc:
            raise map_error(exc) from exc

    return pa.RecordBatchReader.from_batches(schema, batches())
