"""Section 6: start-up, catalog loading and refresh with 1,000 registered tables.

Start-up is timed from process start to the "listening" line, against a server
with an empty catalog. Loading is measured in process: flightserver's
load_catalog (what start-up runs), against registering the same files with
DataFusion's register_parquet. Refresh is measured through a running server's
RefreshCatalog action (client round trip): with nothing changed, and with one
definition added then removed, against the same action on an empty catalog.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from datafusion import SessionContext
from pyarrow import flight

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


def _refresh(client: flight.FlightClient) -> dict[str, object]:
    [result] = client.do_action(flight.Action("RefreshCatalog", b"{}"))
    return json.loads(result.body.to_pybytes())


def _refresh_times(catalog_dir: Path, repeats: int) -> dict[str, list[float]]:
    """RefreshCatalog round trips on a server of `catalog_dir`: unchanged, one added,
    one removed."""
    times: dict[str, list[float]] = {"unchanged": [], "one_added": [], "one_removed": []}
    extra = catalog_dir / "tables" / "zz_extra.toml"
    first = next(iter(sorted((catalog_dir / "files").glob("*.parquet"))), None)
    with flightserver(catalog_dir) as server, flight.connect(server.uri) as client:
        _refresh(client)  # warm-up
        for _ in range(repeats):
            times["unchanged"].append(seconds(lambda: _refresh(client)))
            if first is None:
                continue
            extra.write_text(
                f'name = "zz_extra"\nformat = "parquet"\nlocation = "files/{first.name}"\n'
            )
            times["one_added"].append(seconds(lambda: _refresh(client)))
            extra.unlink()
            times["one_removed"].append(seconds(lambda: _refresh(client)))
    return times


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
    refresh_many = _refresh_times(many, settings.repeats)
    refresh_empty = _refresh_times(empty, settings.repeats)
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
            note="in process",
        ),
        ratio_figure(
            SECTION,
            f"RefreshCatalog with {TABLES} tables, nothing changed",
            summarize(refresh_many["unchanged"]),
            "RefreshCatalog on an empty catalog",
            summarize(refresh_empty["unchanged"]),
            note="client round trip through the running server",
        ),
        ratio_figure(
            SECTION,
            f"RefreshCatalog with {TABLES} tables, one definition added",
            summarize(refresh_many["one_added"]),
            "RefreshCatalog on an empty catalog",
            summarize(refresh_empty["unchanged"]),
            note=f"removing it again: median {summarize(refresh_many['one_removed']).median:.3f} s",
        ),
    ]
    details = {
        "tables": TABLES,
        "information_schema_tables": {"many": counts_many[-1], "empty": counts_empty[-1]},
        "start_up_seconds": {"many": start_many, "empty": start_empty},
        "load_seconds": loading,
        "load_empty_catalog_seconds": empty_load,
        "refresh_seconds": {"many": refresh_many, "empty": refresh_empty["unchanged"]},
    }
    return SectionResult(SECTION, time.perf_counter() - started, figures, details)
