"""One reliability run: load against a server, a SIGKILL mid-run, a restart, and
the checks. `python -m tests.reliability.run --help` for the long run's knobs."""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow.parquet as pq
from deltalake import DeltaTable

from tests.jdbc.probe import ProbeRunner
from tests.reliability.lake import (
    EVENTS,
    EXTERNAL,
    HALF,
    MADE,
    POINTS,
    QUALIFIED,
    Lake,
    State,
    state_of,
)
from tests.reliability.workers import (
    Tally,
    action,
    adbc_reader,
    control_loop,
    events_writer,
    external_writer,
    interrupted_ingest,
    jdbc_reader,
)
from tests.server_process import ServerProcess
from tests.test_limits import scrape

CONFIG = """
[policy]
allow_dml = true

[maintenance]
vacuum_retention_hours = 0.0
optimize_min_small_files = 2
checkpoint_interval = 4
after_commit = false
"""
JOIN_SECONDS = 120  # a guard against a hung worker, not a measurement


@dataclass(frozen=True)
class Load:
    """Bounds of one run: the load lasts `seconds`, or less when every reader is done."""

    seconds: float = 15.0
    adbc_readers: int = 3
    queries_per_reader: int = 100_000
    jdbc_rounds: int = 1
    writes: int = 10_000
    control_pace: float = 0.3
    control_rounds: int = 10_000


@dataclass
class Report:
    seconds: float
    adbc_queries: int
    jdbc_queries: int
    results_checked: int
    read_by: list[str]  # "table/client" pairs with at least one checked result
    inconsistent: list[str]
    failures: list[str]
    retried: int
    retry_reasons: list[str]
    commits: dict[str, int]
    control: dict[str, int]
    maintenance_conflicts: int
    longest_stall_ms: float
    restart_checks: dict[str, str] = field(default_factory=dict[str, str])
    # Each Delta table's newest version after the run (its log; maintenance commits too).
    versions: dict[str, int] = field(default_factory=dict[str, int])
    artifacts_lost: float = 0.0
    artifacts_in_table: int = 0

    @property
    def ok(self) -> bool:
        return (
            not self.inconsistent
            and not self.failures
            and all(value == "ok" for value in self.restart_checks.values())
        )


def server_args(lake: Lake, config: Path) -> list[str]:
    return [
        "--config",
        str(config),
        "--catalog-dir",
        str(lake.catalog_dir),
        "--state-dir",
        str(lake.state_dir),
        "--http-port",
        "0",
    ]


def run(root: Path, load: Load, jdbc: Callable[[int], ProbeRunner] | None) -> Report:
    lake = Lake.build(root)
    config = root / "server.toml"
    config.write_text(CONFIG)
    server = ServerProcess.start(server_args(lake, config))
    try:
        made = _create_made(server.uri)
        tally = Tally()
        started = time.perf_counter()
        _load(server, lake, tally, load, jdbc)
        seconds = time.perf_counter() - started
    finally:
        server.stop()
    report = Report(
        seconds=round(seconds, 1),
        adbc_queries=tally.queries,
        jdbc_queries=tally.jdbc_queries,
        results_checked=len(tally.results),
        read_by=sorted({f"{table}/{client}" for table, _, client in tally.results}),
        inconsistent=[
            f"{client} read {table} as {state}, which no committed version of it was"
            for table, state, client in tally.results
            if state not in lake.states[table]
        ],
        failures=tally.failures,
        retried=tally.retried,
        retry_reasons=tally.retry_reasons,
        commits=tally.commits,
        control=tally.control,
        maintenance_conflicts=tally.maintenance_conflicts,
        longest_stall_ms=round(tally.longest_stall * 1000, 1),
    )
    with ServerProcess.start(server_args(lake, config)) as restarted:
        _check_restart(restarted, lake, made, report)
    return report


def _create_made(uri: str) -> State:
    with flightsql.connect(uri, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {MADE} AS SELECT v FROM {POINTS}")
        cursor.execute(f"SELECT v FROM {MADE}")
        return state_of(cursor.fetch_arrow_table())


def _load(
    server: ServerProcess,
    lake: Lake,
    tally: Tally,
    load: Load,
    jdbc: Callable[[int], ProbeRunner] | None,
) -> None:
    stop = threading.Event()
    # Readers stop just before the kill: the ADBC driver cannot close a cursor holding a
    # prepared statement once its server is gone (it counts the failed close as done and
    # fails again in the cursor's finalizer).
    stop_readers = threading.Event()
    uri = server.uri
    workers = [
        threading.Thread(
            target=adbc_reader, args=(uri, tally, stop_readers, load.queries_per_reader)
        )
        for _ in range(load.adbc_readers)
    ]
    if jdbc is not None:
        runner = jdbc(server.port)
        workers.append(
            threading.Thread(
                target=jdbc_reader, args=(runner, tally, stop_readers, load.jdbc_rounds)
            )
        )
    readers = list(workers)
    jdbc_thread = workers[-1] if jdbc is not None else None
    workers += [
        threading.Thread(target=events_writer, args=(uri, lake, tally, stop, load.writes)),
        threading.Thread(target=external_writer, args=(lake, tally, stop, load.writes)),
        *[
            threading.Thread(
                target=control_loop,
                args=(uri, lake, tally, stop),
                kwargs={"kind": kind, "pace": load.control_pace, "rounds": load.control_rounds},
            )
            for kind in ("repin", "refresh", "maintenance")
        ],
    ]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + load.seconds
    for reader in readers:  # the load's length: its bound in time, or the readers' count
        reader.join(max(0.0, deadline - time.monotonic()))
    if jdbc_thread is not None:  # every JDBC round reads before the kill (JVMs start slowly)
        jdbc_thread.join(JOIN_SECONDS)
    stop_readers.set()
    for reader in readers:
        reader.join(JOIN_SECONDS)
    # Mid-run (writers, re-pins, refreshes and maintenance still going):
    # SIGKILL while the server is receiving an ingest that creates a table.
    interrupted_ingest(
        uri, tally, lambda: os.kill(server.pid, signal.SIGKILL), batches=40, kill_after=20
    )
    server.process.wait()
    stop.set()
    for worker in workers:
        worker.join(JOIN_SECONDS)
        if worker.is_alive():
            tally.failures.append(f"worker {worker.name} did not stop")


def _server_state(cursor: flightsql.Cursor, table: str) -> State:
    cursor.execute(f"SELECT count(*) AS n, sum(v) AS s FROM {table}")
    row = cursor.fetch_arrow_table().to_pylist()[0]
    return int(row["n"]), int(row["s"] or 0)


def _check_restart(server: ServerProcess, lake: Lake, made: State, report: Report) -> None:
    checks = report.restart_checks
    health = action(server.uri, "CatalogHealth")
    pins = {pin["table"]: pin for pin in health["delta_tables"]}
    with flightsql.connect(server.uri, autocommit=True) as conn, conn.cursor() as cursor:
        for table in (EVENTS, EXTERNAL):
            version, committed = lake.committed(table)
            report.versions[table] = version
            served = _server_state(cursor, table)
            pin = pins.get(QUALIFIED + table, {}).get("table_version")
            checks[table] = (
                "ok"
                if served == committed and committed in lake.states[table] and pin == version
                else f"served {served} pinned {pin}; log: version {version} state {committed}"
            )
        side = (
            "b" if "points_b" in (lake.catalog_dir / "tables" / "points.toml").read_text() else "a"
        )
        folder = lake.catalog_dir / "data" / f"points_{side}" / "part-0.parquet"
        expected = state_of(pq.read_table(folder))
        served = _server_state(cursor, POINTS)
        checks[POINTS] = "ok" if served == expected else f"served {served}, definition {expected}"
        served = _server_state(cursor, MADE)
        made_version = DeltaTable(str(lake.managed_location(MADE))).version()
        made_pin = pins.get(QUALIFIED + MADE, {}).get("table_version")
        checks[MADE] = (
            "ok"
            if served == made and made_pin == made_version
            else f"served {served} pinned {made_pin}; created {made}, log version {made_version}"
        )
        cursor.execute("SELECT table_name FROM information_schema.tables")
        names = set(cursor.fetch_arrow_table().column("table_name").to_pylist())
        checks[HALF] = "ok" if HALF not in names else "the interrupted ingest's table is visible"
        cursor.execute("SELECT count(*) AS n, count(DISTINCT artifact_id) AS d FROM system.queries")
        row = cursor.fetch_arrow_table().to_pylist()[0]
        report.artifacts_in_table = int(row["n"])
        checks["system.queries"] = (
            "ok" if row["n"] == row["d"] and row["n"] > 0 else f"{row['n']} rows, {row['d']} ids"
        )
    report.artifacts_lost = sum(
        scrape(server, "flightserver_artifacts_lost_total", reason=reason)
        for reason in ("overflow", "write_failed", "unclean_shutdown")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root", type=Path, help="an empty folder for the run's lake and state")
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--adbc-readers", type=int, default=3)
    parser.add_argument("--jdbc-rounds", type=int, default=10)
    parser.add_argument("--jdbc-driver", default="18.3.0")
    arguments = parser.parse_args()
    jdbc: Callable[[int], ProbeRunner] | None = None
    if arguments.jdbc_rounds > 0:
        from tests.jdbc.toolchain import compile_probe, fetch_driver

        driver, classes = fetch_driver(arguments.jdbc_driver), compile_probe()
        jdbc = lambda port: ProbeRunner(driver, classes, port)  # noqa: E731
    load = Load(
        seconds=arguments.seconds,
        adbc_readers=arguments.adbc_readers,
        jdbc_rounds=arguments.jdbc_rounds,
    )
    report = run(arguments.root, load, jdbc)
    summary: dict[str, Any] = asdict(report)
    summary["inconsistent"] = report.inconsistent[:20]
    summary["ok"] = report.ok
    print(json.dumps(summary, indent=2))
    raise SystemExit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
