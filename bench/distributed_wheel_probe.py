"""Scale-out spike (issue 15), the half of option 1 that needs only the wheel: what
datafusion-proto serialization of a plan costs next to planning it, and which table
kinds the server registers have a datafusion-proto form at all.

Under option 1 (an FFI query planner) every plan of the session crosses the FFI as
`logical_plan_to_bytes` → `logical_plan_from_bytes` (plus a `ForeignSession` built
per call) and comes back as `physical_plan_to_bytes` → `physical_plan_from_bytes`:
the four steps timed here are a lower bound of that crossing.

Run: `.venv/bin/python -m bench.distributed_wheel_probe [--repeats N] [--out FILE]`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from datafusion import SessionContext
from datafusion.plan import ExecutionPlan, LogicalPlan
from deltalake import DeltaTable, write_deltalake

from bench.stats import percentile
from bench.timing import interleaved

QUERIES = {
    "point": "SELECT id, k, v, s FROM t WHERE id = 123457",
    "aggregate": "SELECT k, count(*) AS n, sum(v) AS total FROM t GROUP BY k ORDER BY k",
}


def write_parquet(folder: Path, rows: int = 200_000, files: int = 4) -> None:
    """`rows` rows in `files` Parquet files (the spike uses it too)."""
    folder.mkdir(parents=True)
    per_file = rows // files
    for index in range(files):
        ids = range(index * per_file, (index + 1) * per_file)
        table = pa.table(
            {
                "id": pa.array(ids, pa.int64()),
                "k": pa.array([i % 100 for i in ids], pa.int64()),
                "v": pa.array([i * 0.5 for i in ids], pa.float64()),
                "s": pa.array([str(i) for i in ids], pa.string()),
            }
        )
        pq.write_table(table, folder / f"part-{index}.parquet")


def attempt(action: Callable[[], object]) -> str:
    """ "ok", or the first line of the error."""
    try:
        action()
    except Exception as err:  # the probe reports every failure as data
        return f"error: {type(err).__name__}: {str(err).splitlines()[0][:300]}"
    return "ok"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="fs-distributed-probe-"))
    results: dict[str, Any] = {}
    try:
        write_parquet(workdir / "t")
        ctx = SessionContext()
        ctx.sql(f"CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '{workdir / 't'}/'").collect()

        timings: dict[str, Any] = {}
        for label, sql in QUERIES.items():
            logical = ctx.sql(sql).optimized_logical_plan()
            physical = ctx.sql(sql).execution_plan()
            logical_bytes = logical.to_bytes()
            physical_bytes = physical.to_bytes()
            samples = interleaved(
                {
                    "plan_today": lambda sql=sql: ctx.sql(sql).execution_plan(),
                    "logical_to_bytes": logical.to_bytes,
                    "logical_from_bytes": lambda b=logical_bytes: LogicalPlan.from_bytes(ctx, b),
                    "physical_to_bytes": physical.to_bytes,
                    "physical_from_bytes": lambda b=physical_bytes: ExecutionPlan.from_bytes(
                        ctx, b
                    ),
                },
                repeats=args.repeats,
                warmup=max(5, args.repeats // 20),
            )
            timings[label] = {
                name: {"p50_ms": percentile(values, 0.5) * 1000, "n": len(values)}
                for name, values in samples.items()
            }
            timings[label]["bytes"] = {
                "logical": len(logical_bytes),
                "physical": len(physical_bytes),
            }
        results["serialization"] = timings

        # Which registered table kinds have a datafusion-proto form (logical plan).
        delta_path = workdir / "delta"
        write_deltalake(str(delta_path), pa.table({"id": [1, 2, 3]}))
        ctx.register_table("deltalake_fallback", DeltaTable(str(delta_path)))
        ctx.register_table("pyarrow_dataset", ds.dataset(pa.table({"a": [1, 2]})))
        ctx.register_record_batches("record_batches", [pa.table({"a": [1, 2]}).to_batches()])
        csv_path = workdir / "c.csv"
        csv_path.write_text("a,b\n1,x\n")
        ctx.sql(f"CREATE EXTERNAL TABLE csv_listing STORED AS CSV LOCATION '{csv_path}'").collect()
        ctx.sql("CREATE VIEW a_view AS SELECT k FROM t").collect()
        results["encodable"] = {
            kind: attempt(
                lambda kind=kind: (
                    ctx.sql(f"SELECT * FROM {kind}").optimized_logical_plan().to_bytes()
                )
            )
            for kind in (
                "t",
                "csv_listing",
                "a_view",
                "deltalake_fallback",
                "pyarrow_dataset",
                "record_batches",
            )
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    text = json.dumps(results, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
