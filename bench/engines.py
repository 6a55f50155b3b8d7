"""In-process engines over the same catalog the server loads: the limits it is measured against."""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import pyarrow as pa
from datafusion import DataFrame, SessionContext

from flightserver.catalog.definitions import read_definition, resolve_location
from flightserver.catalog.loader import load_catalog
from flightserver.config import ServerConfig
from flightserver.engine.admission import Admission, Deadline
from flightserver.engine.client_types import with_client_types
from flightserver.engine.physical import plan_physical
from flightserver.engine.session import apply_runtime_settings, session_config
from flightserver.engine.streaming import StreamControls, stream_query


def datafusion_context(catalog_dir: Path, target_partitions: int | None = None) -> SessionContext:
    """A session configured as the server's (session_config), with the same catalog loaded."""
    config = ServerConfig(catalog_dir=str(catalog_dir), target_partitions=target_partitions)
    ctx = SessionContext(session_config(config))
    apply_runtime_settings(ctx)
    statuses = load_catalog(ctx, catalog_dir)
    failed = [status for status in statuses if not status.loaded]
    if failed:
        raise RuntimeError(f"catalog {catalog_dir} did not load: {failed}")
    return ctx


def client_dataframe(ctx: SessionContext, query: str) -> DataFrame:
    """`query` planned as the server plans it: with the result types every client reads."""
    df = ctx.sql(query)
    return with_client_types(df, df.schema())


def stream_reader(ctx: SessionContext, df: DataFrame) -> pa.RecordBatchReader:
    """The server's own streaming path (one physical plan, its partitions merged as they arrive)."""
    controls = StreamControls(threading.Event(), Deadline(None), Admission(1024, 0, 1.0))
    stream = stream_query(plan_physical(ctx, df), None, df.schema(), _unchanged, controls)
    # The server hands the same iterator to flight.GeneratorStream.
    return pa.RecordBatchReader.from_batches(stream.schema, stream)


def _unchanged(exc: Exception) -> Exception:
    return exc


def duckdb_connection(catalog_dir: Path, threads: int) -> duckdb.DuckDBPyConnection:
    """DuckDB in process, with one view per Parquet table of the catalog."""
    conn = duckdb.connect()
    conn.execute(f"SET threads = {threads}")
    for path in sorted(catalog_dir.glob("tables/*.toml")):
        definition = read_definition(path)
        location = resolve_location(definition, catalog_dir).replace("'", "''")
        conn.execute(
            f"CREATE VIEW \"{definition.name}\" AS SELECT * FROM read_parquet('{location}')"
        )
    return conn
