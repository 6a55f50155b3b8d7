"""Section: the version-exact result cache.

A repeated TPC-H pass against the first pass (the first fills the cache; every later
pass is answered from it; target at most 0.05x, answers compared with the first
pass's), and a dashboard-like mix (the same 20 queries from 8 ADBC clients) on a
server with the cache on against one with it off.
"""

from __future__ import annotations

import time
from typing import Any

from bench.clients import AdbcClient, ClientKind
from bench.load import ClientPool, ClientRun
from bench.processes import RESULT_CACHE_OFF, flightserver
from bench.results import Figure, SectionResult, ratio_figure
from bench.settings import Settings
from bench.stats import Summary, constant, summarize
from bench.tpch.answers import difference
from bench.tpch.texts import tpch_queries

SECTION = "result_cache"
DASHBOARD_CLIENTS = 8
# Aggregations a dashboard refreshes, next to the lookups and breakdowns of its tiles.
DASHBOARD_TPCH = ("q01", "q03", "q04", "q05", "q06", "q10", "q12", "q13", "q14", "q19")
DASHBOARD_TILES = [
    *(f"SELECT n_name, n_regionkey FROM nation WHERE n_nationkey = {key}" for key in range(4)),
    "SELECT r_name, count(*) AS nations FROM nation JOIN region ON n_regionkey = r_regionkey"
    " GROUP BY r_name",
    "SELECT c_mktsegment, count(*) AS customers, avg(c_acctbal) AS balance FROM customer"
    " GROUP BY c_mktsegment",
    "SELECT o_orderstatus, count(*) AS orders FROM orders GROUP BY o_orderstatus",
    "SELECT o_orderpriority, sum(o_totalprice) AS total FROM orders GROUP BY o_orderpriority",
    "SELECT s_nationkey, count(*) AS suppliers FROM supplier GROUP BY s_nationkey",
    "SELECT p_brand, count(*) AS parts FROM part GROUP BY p_brand ORDER BY p_brand LIMIT 10",
]


def dashboard_queries(scale_factor: float) -> list[str]:
    tpch = tpch_queries(scale_factor)
    return [*(tpch[name] for name in DASHBOARD_TPCH), *DASHBOARD_TILES]


def _tpch_passes(settings: Settings) -> tuple[Figure, dict[str, Any]]:
    queries = tpch_queries(settings.scale_factor)
    with flightserver(settings.catalog_dir) as server:
        client = AdbcClient(server.uri)
        first: dict[str, Any] = {}
        first_seconds: dict[str, float] = {}
        for name, sql in queries.items():
            started = time.perf_counter()
            first[name] = client.query(sql)
            first_seconds[name] = time.perf_counter() - started
        repeated: list[float] = []
        differ: dict[str, str] = {}
        for _ in range(settings.repeats):
            started = time.perf_counter()
            answers = {name: client.query(sql) for name, sql in queries.items()}
            repeated.append(time.perf_counter() - started)
            for name, answer in answers.items():
                problem = difference(first[name], answer)
                if problem is not None:
                    differ[name] = problem
        client.close()
    first_pass = sum(first_seconds.values())
    figure = ratio_figure(
        SECTION,
        "TPC-H, repeated pass (cached)",
        summarize(repeated),
        "first pass",
        constant(first_pass),
        target=0.05,
        note=f"{len(differ)} answers differ from the first pass's",
    )
    details = {
        "first_pass_seconds": first_seconds,
        "repeated_pass_seconds": repeated,
        "answers_differ": differ,
    }
    return figure, details


def _dashboard(settings: Settings) -> tuple[Figure, dict[str, Any]]:
    queries = dashboard_queries(settings.scale_factor)
    pool = ClientPool(DASHBOARD_CLIENTS)
    levels: dict[str, dict[str, Any]] = {}
    try:
        for name, flags in (("cache on", ()), ("cache off", RESULT_CACHE_OFF)):
            with flightserver(settings.catalog_dir, *flags) as server:
                # A dashboard's steady state: its queries ran once before the window.
                warm = AdbcClient(server.uri)
                for sql in queries:
                    warm.query(sql)
                warm.close()
                runs = pool.run(
                    DASHBOARD_CLIENTS,
                    kind=ClientKind.ADBC,
                    uri=server.uri,
                    queries=queries,
                    start_at=time.time() + 2.0,
                    duration=settings.duration,
                )
            levels[name] = _level(runs, settings.duration)
    finally:
        pool.close()
    figure = ratio_figure(
        SECTION,
        f"dashboard mix (20 queries), {DASHBOARD_CLIENTS} clients, time per query",
        _per_query(levels["cache on"]),
        "cache off",
        _per_query(levels["cache off"]),
        note=f"on {levels['cache on']['queries_per_second']:.0f} q/s, "
        f"off {levels['cache off']['queries_per_second']:.1f} q/s",
    )
    return figure, levels


def _level(runs: list[ClientRun], duration: float) -> dict[str, Any]:
    latencies = [latency for run in runs for latency in run.latencies]
    completed = len(latencies)
    return {
        "queries": completed,
        "queries_per_second": completed / duration,
        "latency": summarize(latencies, with_p99=True) if latencies else None,
        "errors": [error for run in runs for error in run.errors][:5],
    }


def _per_query(level: dict[str, Any]) -> Summary:
    """Wall time per completed query (the inverse of throughput)."""
    seconds = 1 / level["queries_per_second"] if level["queries_per_second"] else float("inf")
    return Summary(seconds, seconds, seconds, level["queries"])


def run(settings: Settings) -> SectionResult:
    started = time.perf_counter()
    print("  result cache: TPC-H passes", flush=True)
    tpch_figure, tpch_details = _tpch_passes(settings)
    print("  result cache: dashboard mix", flush=True)
    dashboard_figure, dashboard_details = _dashboard(settings)
    return SectionResult(
        SECTION,
        time.perf_counter() - started,
        figures=[tpch_figure, dashboard_figure],
        details={"tpch": tpch_details, "dashboard": dashboard_details},
    )
