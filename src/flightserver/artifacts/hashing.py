"""Content hashes for plan identity, catalog state and results."""

from __future__ import annotations

import hashlib

import pyarrow as pa
from datafusion import DataFrame, SessionContext, col


def sha256_hex(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def plan_sha256(df: DataFrame) -> str:
    """The plan identity: its logical plan with schemas, before optimization."""
    return sha256_hex(df.logical_plan().display_indent_schema())


def information_schema_sha256(ctx: SessionContext) -> str:
    """Hash of information_schema.columns, ordered, so any table or column change shows.

    The server's own `system` tables are left out: the server re-registers them as
    it writes them (artifacts, maintenance state), which is no change of the catalog.
    """
    columns = ctx.sql(
        "SELECT table_catalog, table_schema, table_name, column_name, ordinal_position,"
        " data_type, is_nullable FROM information_schema.columns"
        " WHERE table_schema <> 'system' ORDER BY 1, 2, 3, 5"
    )
    return _stream_sha256(columns)[0]


def result_sha256(df: DataFrame) -> tuple[str, int, int]:
    """Hash, row count and Arrow size of `df`'s result, sorted on all its columns.

    Sorting inside the engine makes the hash independent of partitioning while
    the result still streams through here batch by batch.
    """
    ordered = df.sort(*[col(field.name).sort() for field in df.schema()])
    return _stream_sha256(ordered)


def _stream_sha256(df: DataFrame) -> tuple[str, int, int]:
    digest = hashlib.sha256()
    rows = 0
    size = 0
    for batch in df.execute_stream():
        record_batch: pa.RecordBatch = batch.to_pyarrow()
        rows += record_batch.num_rows
        size += record_batch.nbytes
        # Row by row, so that batch boundaries and metadata do not change the hash.
        for row in zip(*(column.to_pylist() for column in record_batch.columns), strict=True):
            digest.update(repr(row).encode())
    return digest.hexdigest(), rows, size
