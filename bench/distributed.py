"""Section: scale-out through datafusion-distributed workers on this machine.

TPC-H through the coordinator (`serve --workers`) with 1, 2 and 3 loopback
`flightserver worker` processes, next to the same server without workers; the
answers compared with the local server's. On one 2-core machine distribution
cannot be faster: the ratios are the overhead of shipping stages, and how it
grows with the workers. Also: `SELECT * FROM lineitem` through parallel
endpoints (the coordinator with max_endpoints) against one stream, and the cost
the routing check adds to a small query that stays local.
"""

from __future__ import annotations

import re
import secrets
import sys
import threading
import time
from collections.abc import Callable, Generator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa

from bench.clients import AdbcClient
from bench.processes import RESULT_CACHE_OFF, ServerProcess, flightserver
from bench.results import SectionResult, ratio_figure
from bench.settings import Settings
from bench.stats import geometric_mean, summarize
from bench.timing import interleaved
from bench.tpch.answers import difference
from bench.tpch.texts import tpch_queries

SECTION = "distributed"
WORKER_COUNTS = (1, 2, 3)
STREAM = "SELECT * FROM lineitem"
SMALL = "SELECT n_name, n_regionkey FROM nation WHERE n_nationkey = 7"
_WORKER_LISTENING = re.compile(r"worker listening on (\S+)")


@contextmanager
def _workers(count: int, secret_file: Path) -> Generator[list[ServerProcess]]:
    with ExitStack() as stack:
        workers = [
            stack.enter_context(
                ServerProcess.start(
                    ["--secret-file", str(secret_file)],
                    command=(sys.executable, "-m", "flightserver", "worker", "--port", "0"),
                    listening=_WORKER_LISTENING,
                )
            )
            for _ in range(count)
        ]
        yield workers


def _coordinator(
    catalog: Path, workers: list[ServerProcess], secret_file: Path, *args: str
) -> ServerProcess:
    addresses = ",".join(worker.uri.removeprefix("grpc://") for worker in workers)
    return flightserver(
        catalog,
        *RESULT_CACHE_OFF,
        "--workers",
        addresses,
        "--distributed-secret-file",
        str(secret_file),
        *args,
    )


def _distribution(client: AdbcClient, sql: str) -> str:
    plan = client.query(f"EXPLAIN {sql}").to_pylist()
    return next((str(row["plan"]) for row in plan if row["plan_type"] == "distribution"), "")


def _parallel_read(uri: str, sql: str) -> pa.Table:
    """Every endpoint of `sql`, each read on its own thread and connection."""
    with flightsql.connect(uri, autocommit=True) as conn, conn.cursor() as cursor:
        partitions, _ = cursor.adbc_execute_partitions(sql)
    pieces: list[pa.Table | None] = [None] * len(partitions)

    def read(index: int, partition: bytes) -> None:
        with flightsql.connect(uri, autocommit=True) as conn, conn.cursor() as cursor:
            cursor.adbc_read_partition(partition)
            pieces[index] = cursor.fetch_arrow_table()

    threads = [
        threading.Thread(target=read, args=(index, partition))
        for index, partition in enumerate(partitions)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return pa.concat_tables([piece for piece in pieces if piece is not None])


def run(settings: Settings) -> SectionResult:
    started = time.perf_counter()
    catalog = settings.catalog_dir
    secret_file = settings.work_dir / "worker-secret"
    secret_file.parent.mkdir(parents=True, exist_ok=True)
    secret_file.write_text(secrets.token_hex(32))
    queries: dict[str, dict[str, Any]] = {}
    failures: dict[str, str] = {}
    names = [f"workers_{count}" for count in WORKER_COUNTS]
    with ExitStack() as stack:
        workers = stack.enter_context(_workers(max(WORKER_COUNTS), secret_file))
        local = stack.enter_context(flightserver(catalog, *RESULT_CACHE_OFF))
        coordinators = {
            f"workers_{count}": stack.enter_context(
                _coordinator(catalog, workers[:count], secret_file)
            )
            for count in WORKER_COUNTS
        }
        clients = {"local": AdbcClient(local.uri)} | {
            name: AdbcClient(server.uri) for name, server in coordinators.items()
        }
        for name, sql in tpch_queries(settings.scale_factor).items():
            print(f"  distributed {name}", flush=True)
            answers: dict[str, pa.Table] = {}

            def runner(
                server: str, sql: str = sql, answers: dict[str, pa.Table] = answers
            ) -> Callable[[], None]:
                def run_query() -> None:
                    answers[server] = clients[server].query(sql)

                return run_query

            try:
                routes = {server: _distribution(clients[server], sql) for server in names}
                samples = interleaved(
                    {server: runner(server) for server in clients}, settings.repeats
                )
            except Exception as exc:  # a query a configuration cannot run is reported
                failures[name] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
                continue
            medians = {server: summarize(samples[server]).median for server in clients}
            queries[name] = {
                "seconds": samples,
                "median_seconds": medians,
                "distributed": {
                    server: route.startswith("distributed") for server, route in routes.items()
                },
                "routes": routes,
                "answers_differ": {
                    server: problem
                    for server in names
                    if (problem := difference(answers["local"], answers[server])) is not None
                },
                **{f"{server}_vs_local": medians[server] / medians["local"] for server in names},
            }

        # Streaming: parallel endpoints against one stream, through 3 workers.
        parallel = stack.enter_context(
            _coordinator(catalog, workers, secret_file, "--max-endpoints", str(settings.cpus * 2))
        )
        stream_rows: dict[str, int] = {}

        def keep(name: str, table: pa.Table) -> None:
            stream_rows[name] = table.num_rows

        stream_samples = interleaved(
            {
                "parallel_endpoints": lambda: keep(
                    "parallel_endpoints", _parallel_read(parallel.uri, STREAM)
                ),
                "one_stream": lambda: keep("one_stream", clients["workers_3"].query(STREAM)),
                "local": lambda: keep("local", clients["local"].query(STREAM)),
            },
            settings.repeats,
        )
        # The routing check's cost to a query that stays local.
        small_samples = interleaved(
            {
                "local": lambda: clients["local"].query(SMALL),
                "workers_3": lambda: clients["workers_3"].query(SMALL),
            },
            settings.latency_samples // 5,
        )
        for client in clients.values():
            client.close()

    measured = list(queries.values())
    if not measured:
        return SectionResult(SECTION, time.perf_counter() - started, error=str(failures))
    totals = {
        server: summarize(
            [sum(q["seconds"][server][run] for q in measured) for run in range(settings.repeats)]
        )
        for server in ("local", *names)
    }
    figures = [
        ratio_figure(
            SECTION,
            f"TPC-H via the coordinator with {count} worker(s), geometric mean of "
            f"{len(measured)} queries",
            totals[f"workers_{count}"],
            "the same server without workers",
            totals["local"],
            ratio=geometric_mean([q[f"workers_{count}_vs_local"] for q in measured]),
            note="overhead of shipping stages on one machine (min/median/max: one pass)",
        )
        for count in WORKER_COUNTS
    ]
    s = {name: summarize(values) for name, values in stream_samples.items()}
    figures += [
        ratio_figure(
            SECTION,
            "SELECT * FROM lineitem through 3 workers, parallel endpoints",
            s["parallel_endpoints"],
            "the same through one stream",
            s["one_stream"],
        ),
        ratio_figure(
            SECTION,
            "SELECT * FROM lineitem through 3 workers, one stream",
            s["one_stream"],
            "the same server without workers",
            s["local"],
        ),
    ]
    small = {name: summarize(values, with_p99=True) for name, values in small_samples.items()}
    figures.append(
        ratio_figure(
            SECTION,
            "small query (stays local) on a server with 3 workers, p50",
            small["workers_3"],
            "the same server without workers",
            small["local"],
            target=1.05,
            note="the routing check's cost to local queries",
        )
    )
    if len(set(stream_rows.values())) != 1:
        raise RuntimeError(f"the streams returned different row counts: {stream_rows}")
    details = {
        "queries": queries,
        "failed_queries": failures,
        "answers_differ": {
            name: q["answers_differ"] for name, q in queries.items() if q["answers_differ"]
        },
        "distributed_queries": {
            server: sorted(name for name, q in queries.items() if q["distributed"][server])
            for server in names
        },
        "stream_seconds": stream_samples,
        "stream_rows": next(iter(stream_rows.values())),
        "small_query_seconds": small_samples,
    }
    return SectionResult(SECTION, time.perf_counter() - started, figures, details)
