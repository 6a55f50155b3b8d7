"""The classifier of server-only failures: what it may call documented, and what not."""

from __future__ import annotations

from pathlib import Path

from tests.conformance.differences import DELTA_TABLES, ZERO_SIZE_LISTS, classify
from tests.conformance.runner import Verdict
from tests.conformance.slt import Record

MADE_FROM_DELTA = [
    "CREATE TABLE src AS SELECT arrow_cast('a', 'Dictionary(Int32, Utf8)') AS h",
    "COPY src TO 'scratch/f/out.parquet' STORED AS PARQUET",
    "CREATE EXTERNAL TABLE copied STORED AS PARQUET LOCATION 'scratch/f/out.parquet'",
]


def verdicts(statements: list[tuple[str, str | None]]) -> list[Verdict]:
    return [
        Verdict(Record(Path("f.slt"), line, sql, is_query=True), failure)
        for line, (sql, failure) in enumerate(statements, start=1)
    ]


def reasons(statements: list[tuple[str, str | None]]) -> list[str | None]:
    server = verdicts(statements)
    return classify(server, [verdict.failure is not None for verdict in server])


def test_a_table_over_files_copied_from_a_delta_table_differs_as_delta_does() -> None:
    got = reasons([*((sql, None) for sql in MADE_FROM_DELTA), ("DESCRIBE copied", "rows differ")])
    assert got[-1] == DELTA_TABLES


def test_files_copied_from_other_tables_explain_nothing() -> None:
    statements = [(sql.replace("COPY src", "COPY other"), None) for sql in MADE_FROM_DELTA]
    assert reasons([*statements, ("DESCRIBE copied", "rows differ")])[-1] is None


def test_a_table_over_other_files_explains_nothing() -> None:
    statements = [
        (sql.replace("LOCATION 'scratch/f/out", "LOCATION 'scratch/g/out"), None)
        for sql in MADE_FROM_DELTA
    ]
    assert reasons([*statements, ("DESCRIBE copied", "rows differ")])[-1] is None


def test_a_failed_copy_explains_nothing_further() -> None:
    statements = [(sql, "error" if sql.startswith("COPY") else None) for sql in MADE_FROM_DELTA]
    assert reasons([*statements, ("SELECT * FROM copied", "rows differ")])[-1] is None


def test_zero_size_fixed_lists_only_when_the_driver_refuses_them() -> None:
    sql = "select arrow_cast([], 'FixedSizeList(0, Null)')"
    refused = "arrow/ipc: unknown error while reading: arrow: invalid size (Unknown; Prepare)"
    assert reasons([(sql, refused)]) == [ZERO_SIZE_LISTS]
    assert reasons([(sql, "rows differ: got ['[1]'], expected ['[]']")]) == [None]
    assert reasons([("select arrow_cast([1], 'FixedSizeList(1, Int64)')", refused)]) == [None]
