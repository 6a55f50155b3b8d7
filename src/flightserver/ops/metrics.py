"""The server's Prometheus series, in prometheus-client's default registry.

The default registry also carries the process collector (CPU, resident memory,
open files), which operators expect next to ours.
"""

from __future__ import annotations

from typing import TypeVar

import pyarrow as pa
from prometheus_client import Counter, Gauge, Histogram

M = TypeVar("M", Counter, Gauge, Histogram)

# Buckets from interactive lookups to long scans.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

QUERIES = Counter("flightserver_queries", "Statements run, by how they ended.", ["status"])
QUERY_DURATION = Histogram(
    "flightserver_query_duration_seconds",
    "From planning to the last batch streamed, by how the statement ended.",
    ["status"],
    buckets=_LATENCY_BUCKETS,
)
ROWS_STREAMED = Counter("flightserver_rows_streamed", "Result rows sent to clients.")
BYTES_STREAMED = Counter(
    "flightserver_bytes_streamed", "Result bytes sent to clients (Arrow buffer sizes)."
)
ACTIVE_QUERIES = Gauge("flightserver_active_queries", "Statements planned and not yet finished.")
ACTIVE_SESSIONS = Gauge("flightserver_active_sessions", "Open Flight SQL sessions.")
PREPARED_STATEMENTS = Gauge(
    "flightserver_prepared_statements", "Prepared statements open (not closed nor expired)."
)
ARROW_MEMORY = Gauge(
    "flightserver_arrow_memory_bytes", "Bytes allocated from Arrow's default memory pool."
)
CATALOG_LOAD_SECONDS = Gauge(
    "flightserver_catalog_load_seconds", "How long the last catalog load took."
)
CATALOG_TABLES = Gauge("flightserver_catalog_tables", "Table definitions by load state.", ["state"])
RPCS = Counter("flightserver_rpcs", "Flight RPCs, by method and gRPC status.", ["method", "code"])
RPC_DURATION = Histogram(
    "flightserver_rpc_duration_seconds",
    "Flight RPC latency, by method.",
    ["method"],
    buckets=_LATENCY_BUCKETS,
)
# The artifact store (system.queries): what a crash now would lose, and what was lost.
ARTIFACTS_UNWRITTEN = Gauge(
    "flightserver_artifacts_unwritten",
    "Artifacts recorded and not yet committed to system.queries.",
)
ARTIFACTS_LOST = Counter(
    "flightserver_artifacts_lost",
    "Artifacts never committed to system.queries, by reason (overflow, write_failed, "
    "unclean_shutdown: the batch in flight when the previous process died).",
    ["reason"],
)
# The result cache (engine/result_cache.py).
RESULT_CACHE_LOOKUPS = Counter(
    "flightserver_result_cache_lookups",
    "Queries looked up in the result cache, by outcome (hit, miss, bypass).",
    ["outcome"],
)
RESULT_CACHE_EVICTIONS = Counter(
    "flightserver_result_cache_evictions", "Cached results evicted to stay within max_bytes."
)
RESULT_CACHE_BYTES = Gauge(
    "flightserver_result_cache_bytes", "Arrow bytes the cached results hold."
)
RESULT_CACHE_ENTRIES = Gauge("flightserver_result_cache_entries", "Results cached.")
READY = Gauge("flightserver_ready", "1 once the catalog has loaded and Flight SQL is serving.")
ARROW_MEMORY.set_function(pa.total_allocated_bytes)  # sampled at each scrape
PLAN_CACHE_LOOKUPS = Counter(
    "flightserver_plan_cache_lookups",
    "Statement texts looked up among those already planned, by result (hit, miss).",
    ["result"],
)
PHYSICAL_PLANS = Gauge(
    "flightserver_physical_plans",
    "Physical plans the rulepack has shaped since start (a count: every planning of a "
    "statement, DataFusion's own re-plans included).",
)


_children: dict[tuple[int, tuple[str, ...]], object] = {}


def labelled(metric: M, *values: str) -> M:
    """`metric.labels(*values)`, made once: prometheus-client validates and looks the
    labels up on every call (about 20 µs), which every RPC and query would pay."""
    key = (id(metric), values)
    child = _children.get(key)
    if child is None:
        child = _children.setdefault(key, metric.labels(*values))
    return child  # pyright: ignore[reportReturnType]
