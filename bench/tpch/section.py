"""Section 2: the 22 TPC-H queries through the server, in-process DataFusion, and DuckDB.

In-process DataFusion has the server's session configuration and catalog (bench.engines),
so the ratio is what the server adds: Flight SQL, the ADBC client, our plan rules.
DuckDB reads the same Parquet files. The peer, ROAPI (bench.peers, both modes), runs each
query through the same ADBC client where it can. Every answer is compared with in-process
DataFusion's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import duckdb
import pyarrow as pa
from datafusion import SessionContext

from bench.clients import AdbcClient
from bench.engines import datafusion_context, duckdb_connection
from bench.peers import RoapiMode, peer_figure, roapi_servers
from bench.processes import RESULT_CACHE_OFF, flightserver
from bench.results import SectionResult, ratio_figure
from bench.settings import Settings
from bench.stats import geometric_mean, summarize
from bench.timing import interleaved
from bench.tpch.answers import difference
from bench.tpch.texts import tpch_queries

SECTION = "tpch"
ENGINES = ("server", "datafusion", "duckdb")
PEERS = tuple(f"roapi_{mode.value}" for mode in RoapiMode)


def _measure_query(
    sql: str,
    *,
    server: Callable[[str], pa.Table],
    ctx: SessionContext,
    duck: duckdb.DuckDBPyConnection,
    peers: dict[str, Callable[[str], pa.Table]],
    repeats: int,
) -> dict[str, Any]:
    answers: dict[str, pa.Table] = {}
    runners: dict[str, Callable[[str], pa.Table]] = {
        "server": server,
        "datafusion": lambda text: ctx.sql(text).to_arrow_table(),
        "duckdb": lambda text: duck.sql(text).to_arrow_table(),
    }
    peer_failures: dict[str, str] = {}
    for name, peer in peers.items():
        try:  # a query the peer cannot run leaves it out of this query's comparison
            peer(sql)
            runners[name] = peer
        except Exception as exc:  # the driver raises its own error classes
            peer_failures[name] = _first_line(exc)

    def runner(name: str) -> Callable[[], None]:
        def run() -> None:
            answers[name] = runners[name](sql)

        return run

    samples = interleaved({name: runner(name) for name in runners}, repeats)
    mismatches = {
        engine: problem
        for engine in runners
        if engine != "datafusion"
        and (problem := difference(answers["datafusion"], answers[engine])) is not None
    }
    medians = {engine: summarize(samples[engine]).median for engine in runners}
    return {
        "rows": answers["server"].num_rows,
        "seconds": samples,
        "median_seconds": medians,
        "server_vs_datafusion": medians["server"] / medians["datafusion"],
        "server_vs_duckdb": medians["server"] / medians["duckdb"],
        "datafusion_vs_duckdb": medians["datafusion"] / medians["duckdb"],
        **{
            f"server_vs_{peer}": medians["server"] / medians[peer]
            for peer in PEERS
            if peer in medians
        },
        "peer_failures": peer_failures,
        "answers_differ": mismatches,
    }


def _first_line(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:300]


def run(settings: Settings) -> SectionResult:
    started = time.perf_counter()
    catalog = settings.catalog_dir
    ctx = datafusion_context(catalog)
    duck = duckdb_connection(catalog, threads=settings.cpus)
    queries: dict[str, dict[str, Any]] = {}
    failures: dict[str, str] = {}
    prepare_failed: dict[str, str] = {}
    # The result cache off: every pass is a first pass (the cache's own section measures
    # repeated passes).
    with flightserver(catalog, *RESULT_CACHE_OFF) as server, roapi_servers(catalog) as roapi:
        client = AdbcClient(server.uri)
        peer_clients = {f"roapi_{mode.value}": AdbcClient(peer.uri) for mode, peer in roapi.items()}
        peers: dict[str, Callable[[str], pa.Table]] = {
            name: (lambda text, peer=peer: peer.query(text)) for name, peer in peer_clients.items()
        }
        for name, sql in tpch_queries(settings.scale_factor).items():
            print(f"  tpch {name}", flush=True)
            server_query = client.query
            try:
                client.query(sql)
            except Exception as exc:  # the driver raises its own error classes
                # The DB-API path prepares each query first; measure it without that step.
                prepare_failed[name] = _first_line(exc)
                server_query = client.query_unprepared
            try:
                queries[name] = _measure_query(
                    sql,
                    server=server_query,
                    ctx=ctx,
                    duck=duck,
                    peers=peers,
                    repeats=settings.repeats,
                )
            except Exception as exc:  # a query one engine cannot run is reported, not fatal
                failures[name] = _first_line(exc)
        client.close()
        for peer_client in peer_clients.values():
            peer_client.close()
    duck.close()

    measured = list(queries.values())
    if not measured:
        return SectionResult(SECTION, time.perf_counter() - started, error=str(failures))
    totals = {
        engine: summarize(
            [sum(q["seconds"][engine][run] for q in measured) for run in range(settings.repeats)]
        )
        for engine in ENGINES
    }
    geomeans = {
        key: geometric_mean([q[key] for q in measured])
        for key in ("server_vs_datafusion", "server_vs_duckdb", "datafusion_vs_duckdb")
    }
    count = f"{len(measured)} queries"
    figures = [
        ratio_figure(
            SECTION,
            f"TPC-H via ADBC, geometric mean of {count}",
            totals["server"],
            "in-process DataFusion, same session configuration",
            totals["datafusion"],
            target=1.10,
            ratio=geomeans["server_vs_datafusion"],
            note="min/median/max: total seconds of one pass",
        ),
        ratio_figure(
            SECTION,
            f"TPC-H via ADBC, geometric mean of {count}",
            totals["server"],
            "in-process DuckDB, same Parquet files",
            totals["duckdb"],
            ratio=geomeans["server_vs_duckdb"],
            note="the gap to close",
        ),
        ratio_figure(
            SECTION,
            f"TPC-H in-process DataFusion, geometric mean of {count}",
            totals["datafusion"],
            "in-process DuckDB, same Parquet files",
            totals["duckdb"],
            ratio=geomeans["datafusion_vs_duckdb"],
            note="the engine's share of that gap",
        ),
    ]
    for mode in RoapiMode:
        peer = f"roapi_{mode.value}"
        both = [q for q in measured if f"server_vs_{peer}" in q]
        if not both:
            continue
        figures.append(
            peer_figure(
                SECTION,
                f"TPC-H via ADBC, geometric mean of the {len(both)} queries both answer",
                summarize([sum(q["median_seconds"]["server"] for q in both)]),
                mode,
                summarize([sum(q["median_seconds"][peer] for q in both)]),
                note="min/median/max: sum of per-query medians",
                ratio=geometric_mean([q[f"server_vs_{peer}"] for q in both]),
            )
        )
    wrong = {name: q["answers_differ"] for name, q in queries.items() if q["answers_differ"]}
    details = {
        "queries": queries,
        "geometric_means": geomeans,
        "failed_queries": failures,
        "measured_without_prepare": prepare_failed,
        "answers_differ": wrong,
        "duckdb_threads": settings.cpus,
    }
    return SectionResult(SECTION, time.perf_counter() - started, figures, details)
