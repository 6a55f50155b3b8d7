"""Writes the tiny Delta tables the Rust Delta provider's tests read.

Run from the repository root with the project's environment:
    .venv/bin/python rust/core/tests/make_delta_fixtures.py
The tables are committed; rerun only to change them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
from deltalake import write_deltalake

DATA = Path(__file__).resolve().parent / "data"


def ids(start: int, stop: int, part: str | None) -> pa.Table:
    """Rows `start..stop`: an id, its square as text, and a partition value."""
    numbers = list(range(start, stop))
    return pa.table(
        {
            "id": pa.array(numbers, pa.int64()),
            "label": pa.array([f"n{n * n}" for n in numbers], pa.string()),
            "part": pa.array([part] * len(numbers), pa.string()),
        }
    )


def main() -> None:
    shutil.rmtree(DATA, ignore_errors=True)
    DATA.mkdir(parents=True)

    # Three appends (versions 0, 1, 2), ids in disjoint ranges: one file each.
    for version, start in enumerate((0, 10, 20)):
        mode = "overwrite" if version == 0 else "append"
        write_deltalake(DATA / "ranges", ids(start, start + 10, None).drop(["part"]), mode=mode)

    # Partitioned by `part` (with a value needing URL encoding and a null),
    # the partition column in the middle of the schema.
    parts = ["a", "b", "c d", None]
    tables = [ids(i * 5, i * 5 + 5, part) for i, part in enumerate(parts)]
    table = pa.concat_tables(tables).select(["id", "part", "label"])
    write_deltalake(DATA / "partitioned", table, partition_by=["part"])

    # Column mapping (name mode): files and statistics use physical names.
    mapped = pa.table(
        {
            "Id X": pa.array([1, 2, 3, 4], pa.int64()),
            "Part Y": ["p", "p", "q", "q"],
        }
    )
    write_deltalake(
        DATA / "mapped",
        mapped,
        partition_by=["Part Y"],
        configuration={"delta.columnMapping.mode": "name"},
    )


if __name__ == "__main__":
    main()
