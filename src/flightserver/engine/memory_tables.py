"""Small tables the server builds itself (system tables), served from memory.

A table registered as a pyarrow dataset without fragments has no partitions,
and some plans over it (an aggregate without GROUP BY, a sort) then fail
DataFusion's sanity check. A memory table always has one partition, empty or not.
"""

from __future__ import annotations

import pyarrow as pa
from datafusion import SessionContext
from datafusion.catalog import Table

_NAME = "memory_table"


def memory_table(table: pa.Table) -> Table:
    """`table` as a DataFusion memory table of one partition."""
    batches = table.combine_chunks().to_batches() or [
        pa.RecordBatch.from_pylist([], schema=table.schema)
    ]
    scratch = SessionContext()
    scratch.register_record_batches(_NAME, [batches])
    return scratch.catalog().schema().table(_NAME)
