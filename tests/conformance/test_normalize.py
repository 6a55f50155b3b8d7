"""The runner's own parts: the file format and the value formatting DataFusion's
runner applies (its conversion.rs and normalize.rs)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from tests.conformance.normalize import Formatter, column_types
from tests.conformance.slt import ExpectedError, parse_file


@pytest.fixture(scope="module")
def formatter() -> Formatter:
    return Formatter()


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (1.0, "1"),
        (0.1 + 0.2, "0.3"),
        (1e20, "100000000000000000000"),
        (-0.0, "0"),
        (2.5e-13, "0"),
        (1.0000000000006, "1.000000000001"),
        (1.0000000000005, "1"),  # half to even, as BigDecimal rounds
        (float("nan"), "NaN"),
        (float("-inf"), "-Infinity"),
    ],
)
def test_floats_round_to_twelve_decimals(formatter: Formatter, value: float, shown: str) -> None:
    assert formatter.rows(pa.table({"f": [value]})) == [[shown]]


def test_cells_are_written_as_datafusions_runner_writes_them(formatter: Formatter) -> None:
    table = pa.table(
        {
            "d": pa.array([Decimal("1.50"), None], pa.decimal128(5, 2)),
            "s": ["", "a\n"],
            "b": [True, False],
            "l": pa.array([[1, None], None], pa.list_(pa.int64())),
            "st": pa.array(
                [{"x": 1, "y": "z"}, None], pa.struct([("x", pa.int64()), ("y", pa.utf8())])
            ),
            "t": pa.array([dt.datetime(2020, 1, 2, 3, 4, 5, 500000), None], pa.timestamp("ns")),
            "dict": pa.array(["q", "r"]).dictionary_encode(),
        }
    )
    assert formatter.rows(table) == [
        ["1.5", "(empty)", "true", "[1, NULL]", "{x: 1, y: z}", "2020-01-02T03:04:05.500", "q"],
        ["NULL", "a", "false", "NULL", "NULL", "NULL", "r"],
    ]
    assert column_types(table.schema) == "RTB??PT"


def test_a_multi_line_last_cell_becomes_numbered_rows(formatter: Formatter) -> None:
    table = pa.table({"plan_type": ["physical_plan"], "plan": ["A\n  B"]})
    assert formatter.rows(table) == [["physical_plan"], ["01)A"], ["02)--B"]]


def test_the_file_format(tmp_path: Path) -> None:
    (tmp_path / "part.slt.part").write_text("statement ok\nCREATE TABLE t AS VALUES (1)\n")
    path = tmp_path / "file.slt"
    path.write_text(
        "include part.slt.part\n\n"
        "# a comment\n"
        "query IT rowsort\nSELECT 1, 'a'\n----\n1 a\n\n"
        "onlyif postgres\nquery I\nSELECT 2\n----\n2\n\n"
        "skipif postgres\nquery error DataFusion error: .* not found\nSELECT * FROM nope\n\n"
        "statement error\nSELECT x\n----\nDataFusion error: exact message\n\n\n"
        "halt\n\nquery I\nSELECT 3\n"
    )
    records = parse_file(path)
    assert [record.line for record in records] == [1, 4, 16, 19]
    assert records[0].sql == "CREATE TABLE t AS VALUES (1)" and not records[0].is_query
    assert (records[1].types, records[1].sort_mode, records[1].expected) == (
        "IT",
        "rowsort",
        ("1 a",),
    )
    assert records[2].error == ExpectedError(pattern="DataFusion error: .* not found")
    assert records[3].error == ExpectedError(exact="DataFusion error: exact message")
    expected = records[2].error
    assert expected is not None
    assert expected.matches("DataFusion error: table x not found")
    assert not expected.matches("DataFusion error: other")
