"""Section 5: the server's memory while it streams a result much larger than itself.

A fresh server streams a UNION ALL of copies of `lineitem` to an ADBC client that reads
batch by batch and keeps none. The server's peak RSS (the kernel's high-water mark,
reset before each run) is compared with its RSS before the query and with the result's
size. ServerConfig has no memory-limit option yet, so the figure is peak growth over
result size: a server that streams keeps it small and flat as results grow.
"""

from __future__ import annotations

import time
from pathlib import Path

import adbc_driver_flightsql.dbapi as flightsql

from bench.processes import ServerProcess, flightserver
from bench.results import SectionResult, ratio_figure
from bench.settings import Settings
from bench.stats import summarize

SECTION = "memory"
COPIES = 4
QUERY = " UNION ALL ".join(["SELECT * FROM lineitem"] * COPIES)
MB = 1e6


def _status_kilobytes(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
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


def run(settings: Settings) -> SectionResult:
    started = time.perf_counter()
    growth: list[float] = []
    sizes: list[float] = []
    runs: list[dict[str, float]] = []
    with flightserver(settings.catalog_dir) as server:
        rss_at_start = _status_kilobytes(server.pid, "VmRSS") * 1e3
        _stream(server)  # warm-up: allocator pools and caches reach their working size
        for _ in range(settings.repeats):
            before = _status_kilobytes(server.pid, "VmRSS") * 1e3
            _reset_peak(server.pid)
            result_bytes, rows = _stream(server)
            peak = _status_kilobytes(server.pid, "VmHWM") * 1e3
            growth.append((peak - before) / MB)
            sizes.append(result_bytes / MB)
            runs.append(
                {
                    "rss_before_mb": before / MB,
                    "peak_rss_mb": peak / MB,
                    "result_mb": result_bytes / MB,
                    "rows": rows,
                }
            )
    figures = [
        ratio_figure(
            SECTION,
            f"server peak RSS growth while streaming {COPIES} x lineitem",
            summarize(growth),
            "the result's size",
            summarize(sizes),
            unit="MB",
            note="no memory-limit option in ServerConfig yet",
        )
    ]
    details = {"query": QUERY, "rss_at_start_mb": rss_at_start / MB, "runs": runs}
    return SectionResult(SECTION, time.perf_counter() - started, figures, details)
