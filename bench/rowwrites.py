"""The cost of DELETE, UPDATE and MERGE on a Delta table through the server,
next to a plain append of the same rows: `python -m bench.rowwrites [--rows N]`.

A table of N rows (default 6M, 12 files) is written with `deltalake`, served
by a real server (after-commit maintenance off), and each statement runs
through ADBC on a fresh copy, without and with deletion vectors enabled
(`delta.enableDeletionVectors`; deltalake 1.6.6 still rewrites files then).
Each statement touches 1% of the rows, spread over every file (the worst case
for copy-on-write: every file is rewritten); `append` writes the same number of
rows, `append-all` as many rows as the table holds (what the rewrite writes).
Prints one line per case: wall seconds (median of --repeat runs).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
from deltalake import DeltaTable, TableFeatures, write_deltalake

from bench.processes import flightserver

FILES = 12


def _rows(start: int, count: int) -> pa.Table:
    ids = pa.array(range(start, start + count), pa.int64())
    return pa.table(
        {
            "id": ids,
            "v": pa.compute.multiply(ids.cast(pa.float64()), 0.5),  # pyright: ignore[reportAttributeAccessIssue]
            "label": pa.compute.cast(pa.compute.bit_wise_and(ids, 1023), pa.string()),  # pyright: ignore[reportAttributeAccessIssue]
        }
    )


def _make(location: Path, rows: int, deletion_vectors: bool) -> None:
    per_file = rows // FILES
    for file in range(FILES):
        write_deltalake(location, _rows(file * per_file, per_file), mode="append")
    if deletion_vectors:
        table = DeltaTable(location)
        table.alter.add_feature(
            TableFeatures.DeletionVectors, allow_protocol_versions_increase=True
        )
        table.alter.set_table_properties({"delta.enableDeletionVectors": "true"})


def _cases(rows: int) -> dict[str, str]:
    touched = rows // 100
    return {
        "append-all": f"INSERT INTO t SELECT id + {rows} AS id, v, label FROM t",
        "append": f"INSERT INTO t SELECT CAST(value AS BIGINT) + {rows} AS id, "
        f"CAST(value AS DOUBLE) AS v, 'new' AS label FROM generate_series(1, {touched})",
        "delete": "DELETE FROM t WHERE id % 100 = 7",
        "update": "UPDATE t SET v = v + 1 WHERE id % 100 = 7",
        "merge": "MERGE INTO t USING (SELECT CAST(value AS BIGINT) * 100 + 7 AS id, "
        f"CAST(value AS DOUBLE) AS v FROM generate_series(0, {touched - 1})) AS s "
        "ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v",
    }


def run(rows: int, repeat: int, only: list[str]) -> list[tuple[str, bool, float, int]]:
    results: list[tuple[str, bool, float, int]] = []
    with tempfile.TemporaryDirectory(prefix="bench-rowwrites-") as scratch:
        root = Path(scratch)
        for deletion_vectors in (False, True):
            pristine = root / f"pristine-{deletion_vectors}"
            _make(pristine, rows, deletion_vectors)
            for name, sql in _cases(rows).items():
                if only and name not in only:
                    continue
                seconds: list[float] = []
                affected = 0
                for attempt in range(repeat):
                    catalog = root / f"catalog-{deletion_vectors}-{name}-{attempt}"
                    (catalog / "tables").mkdir(parents=True)
                    shutil.copytree(pristine, catalog / "t")
                    (catalog / "tables/t.toml").write_text(
                        'name = "t"\nformat = "delta"\nlocation = "t"\n'
                    )
                    args = ("--policy-allow-dml", "true", "--maintenance-after-commit", "false")
                    with (
                        flightserver(catalog, *args) as server,
                        flightsql.connect(server.uri, autocommit=True) as conn,
                        conn.cursor() as cursor,
                    ):
                        started = time.perf_counter()
                        cursor.execute(sql)
                        seconds.append(time.perf_counter() - started)
                        affected = cursor.rowcount
                    shutil.rmtree(catalog)
                results.append((name, deletion_vectors, statistics.median(seconds), affected))
                print(
                    f"{name:7} dv={'on ' if deletion_vectors else 'off'} "
                    f"{statistics.median(seconds):8.2f} s  rows={affected}",
                    flush=True,
                )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=6_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cases", nargs="*", default=[], help="only these cases")
    options = parser.parse_args()
    run(options.rows, options.repeat, options.cases)


if __name__ == "__main__":
    main()
