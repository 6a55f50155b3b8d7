"""Section 6: start-up and catalog (re)loading with 1,000 registered tables.

Start-up is timed from process start to the "listening" line, against a server
with an empty catalog. The server has no refresh operation yet, so loading is
measured in process: flightserver's load_catalog (what start-up and a refresh run),
against registering the same files with DataFusion's register_parquet.
"""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from datafusion import SessionContext

from bench.clients import AdbcClient
from bench.data import write_definitions
from bench.processes import flightserver
from bench.results import SectionResult, ratio_figure
from bench.settings import Settings
from bench.stats import seconds, summarize
from bench.timing import interleaved
from flightserver.catalog.loader import load_catalog
from flightserver.config import ServerConfig
from flightserver.engine.session import session_config

SECTION = "catalog"
TABLES = 1000
COUNT_TABLES = "SELECT count(*) AS tables FROM information_schema.tables"


def many_tables_catalog(work_dir: Path) -> Path:
    """A catalog of TABLES small Parquet tables (10 rows each), generated once."""
    catalog_dir = work_dir / f"catalog-{TABLES}-tables"
    done = catalog_dir / ".complete"
    if done.exists():
        return catalog_dir
    files = catalog_dir / "files"
    files.mkdir(parents=True, exist_ok=True)
    for index in range(TABLES):
        table = pa.table({"id": pa.array(range(10), pa.int64()), "value": [f"t{index}"] * 10})
        pq.write_table(table, files / f"t{index:04d}.parquet")
    write_definitions(catalog_dir, {f"t{i:04d}": f"files/t{i:04d}.parquet" for i in range(TABLES)})
    done.touch()
    return catalog_dir


def empty_catalog(work_dir: Path) -> Path:
    catalog_dir = work_dir / "catalog-empty"
    (catalog_dir / "tables").mkdir(parents=True, exist_ok=True)
    return catalog_dir


def _start_up(catalog_dir: Path, samples: list[float], tables: list[int]) -> None:
    with flightserver(catalog_dir) as server:
        samples.append(server.ready_after)
        client = AdbcClient(server.uri)
        tables.append(client.query(COUNT_TABLES).column(0)[0].as_py())
        client.close()


def _load_with_flightserver(catalog_dir: Path) -> None:
    ctx = SessionContext(session_config(ServerConfig(catalog_dir=str(catalog_dir))))
    statuses = load_catalog(ctx, catalog_dir)
    assert all(status.loaded for status in statuses)


def _load_with_register_parquet(catalog_dir: Path) -> None:
    ctx = SessionContext(session_config(ServerConfig(catalog_dir=str(catalog_dir))))
    for path in sorted((catalog_dir / "files").glob("*.parquet")):
        ctx.register_parquet(path.stem, str(path))


def run(settings: Settings) -> SectionResult:
    started = time.perf_counter()
    many = many_tables_catalog(settings.work_dir)
    empty = empty_catalog(settings.work_dir)
    start_many: list[float] = []
    start_empty: list[float] = []
    counts_many: list[int] = []
    counts_empty: list[int] = []
    for _ in range(settings.repeats):
        _start_up(empty, start_empty, counts_empty)
        _start_up(many, start_many, counts_many)
    loading = interleaved(
        {
            "load_catalog": lambda: _load_with_flightserver(many),
            "register_parquet": lambda: _load_with_register_parquet(many),
        },
        settings.repeats,
    )
    empty_load = [seconds(lambda: _load_with_flightserver(empty)) for _ in range(3)]
    many_start, empty_start = summarize(start_many), summarize(start_empty)
    figures = [
        ratio_figure(
            SECTION,
            f"server start-up with {TABLES} tables",
            many_start,
            "start-up with an empty catalog",
            empty_start,
            note=f"{(many_start.median - empty_start.median) / TABLES * 1e3:.2f} ms per table",
        ),
        ratio_figure(
            SECTION,
            f"loading {TABLES} table definitions (start-up, refresh)",
            summarize(loading["load_catalog"]),
            "DataFusion register_parquet of the same files",
            summarize(loading["register_parquet"]),
            note="in process; the server has no refresh operation yet",
        ),
    ]
    details = {
        "tables": TABLES,
        "information_schema_tables": {"many": counts_many[-1], "empty": counts_empty[-1]},
        "start_up_seconds": {"many": start_many, "empty": start_empty},
        "load_seconds": loading,
        "load_empty_catalog_seconds": empty_load,
    }
    return SectionResult(SECTION, time.perf_counter() - started, figures, details)
