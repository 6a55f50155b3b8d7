"""The 22 TPC-H queries with the spec's validation parameters (bench/tpch/queries/qNN.sql)."""

from __future__ import annotations

from pathlib import Path

QUERY_DIR = Path(__file__).resolve().parent / "queries"


def tpch_queries(scale_factor: float) -> dict[str, str]:
    """Query name ("q01".."q22") to SQL text, with Q11's FRACTION set for `scale_factor`."""
    fraction = f"{0.0001 / scale_factor:.10f}"
    return {
        path.stem: path.read_text().replace("{fraction}", fraction)
        for path in sorted(QUERY_DIR.glob("q*.sql"))
    }
