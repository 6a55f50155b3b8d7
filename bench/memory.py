"""Section 5: the server's memory while it streams a result much larger than its limit.

A server streams a UNION ALL of copies of `lineitem` to an ADBC client that reads
batch by batch and keeps nothing, first with no memory limit, then with
`limits.memory_limit_bytes` set to an eighth of the result's size. The server's peak
RSS (the kernel's high-water mark, reset before each run, after one warm-up run) is
compared with the result's size and with the limit plus the server's RSS right after
start (the fixed overhead: interpreter, libraries, catalog).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as flightsql

from bench.processes import ServerProcess, flightserver
from bench.results import SectionResult, ratio_figure
from bench.settings import Settings
from bench.stats import constant, summarize

SECTION = "memory"
COPIES = 4
QUERY = " UNION ALL ".join(["SELECT * FROM lineitem"] * COPIES)
RESULT_OVER_LIMIT = 8
MB = 1e6


def _status_bytes(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1e3  # reported in kB
    raise RuntimeError(f"/proc/{pid}/status has no {field}")


def _reset_peak(pid: int) -> None:
    """Sets the process's peak RSS (VmHWM) to its current RSS (Linux clear_refs)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def _stream(server: ServerProcess) -> tuple[int, int]:
    """Streams QUERY batch by batch, keeping nothing; returns (result bytes, rows)."""
    result_bytes = rows = 0
    with flightsql.connect(server.uri, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(QUERY)
        for batch in cursor.fetch_record_batch():
            result_bytes += batch.nbytes
            rows += batch.num_rows
    return result_bytes, rows


def _measure(server: ServerProcess, repeats: int) -> dict[str, Any]:
    """RSS at start, the peak through a warm-up run, then each run's RSS and peak (MB)."""
    rss_at_start = _status_bytes(server.pid, "VmRSS")
    _stream(server)  # warm-up: allocator pools and caches reach their working size
    runs: list[dict[str, float]] = []
    for _ in range(repeats):
        before = _status_bytes(server.pid, "VmRSS")
        _reset_peak(server.pid)
        result_bytes, rows = _stream(server)
        peak = _status_bytes(server.pid, "VmHWM")
        runs.append(
            {
                "rss_before_mb": before / MB,
                "peak_rss_mb": peak / MB,
                "growth_mb": (peak - before) / MB,
                "result_mb": result_bytes / MB,
                "rows": rows,
            }
        )
    return {"rss_at_start_mb": rss_at_start / MB, "runs": runs}


def run(settings: Settings) -> SectionResult:
    started = time.perf_counter()
    with flightserver(settings.catalog_dir) as server:
        unlimited = _measure(server, settings.repeats)
    result_mb = unlimited["runs"][0]["result_mb"]
    limit_bytes = round(result_mb * MB / RESULT_OVER_LIMIT)
    with flightserver(
        settings.catalog_dir, "--limits-memory-limit-bytes", str(limit_bytes)
    ) as server:
        limited = _measure(server, settings.repeats)
    limit_mb = limit_bytes / MB
    ceiling = limit_mb + limited["rss_at_start_mb"]
    figures = [
        ratio_figure(
            SECTION,
            f"no memory limit: peak RSS growth streaming {COPIES} x lineitem",
            summarize([run["growth_mb"] for run in unlimited["runs"]]),
            "the result's size",
            summarize([run["result_mb"] for run in unlimited["runs"]]),
            unit="MB",
        ),
        ratio_figure(
            SECTION,
            f"memory limit 1/{RESULT_OVER_LIMIT} of the result: peak RSS",
            summarize([run["peak_rss_mb"] for run in limited["runs"]]),
            "the limit + RSS right after start",
            constant(ceiling),
            unit="MB",
            target=1.0,
            note=f"limit {limit_mb:.0f} MB, RSS at start {limited['rss_at_start_mb']:.0f} MB",
        ),
    ]
    details = {
        "query": QUERY,
        "memory_limit_mb": limit_mb,
        "unlimited": unlimited,
        "limited": limited,
    }
    return SectionResult(SECTION, time.perf_counter() - started, figures, details)
