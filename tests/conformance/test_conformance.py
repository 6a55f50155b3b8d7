"""DataFusion's own SQL tests, a fixed fast subset (a few files per area), run in
process and through a fresh server each: no record may pass in process and fail
through the server unless docs/conformance.md argues why. `scripts/conformance.sh`
runs every file and writes the summary table."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conformance.suite_run import Suite

pytestmark = pytest.mark.conformance

SUBSET = [
    # aggregates
    "aggregate_any_value.slt",
    "aggregate_skip_partial.slt",
    # joins
    "join_is_not_distinct_from.slt",
    "join_lists.slt",
    # window functions
    "lead_lag_extreme_offsets.slt",
    # grouping sets
    "grouping.slt",
    # subqueries
    "subquery_sort.slt",
    # types
    "array/array_cast.slt",
    "nullif.slt",
    # dates and times
    "datetime/date_part.slt",
    # strings
    "string/string_literal.slt",
    # DDL
    "ddl.slt",
]


@pytest.fixture(scope="module")
def suite() -> Iterator[Suite]:
    with Suite() as running:
        yield running


@pytest.mark.parametrize("name", SUBSET)
def test_no_record_fails_only_through_the_server(suite: Suite, name: str) -> None:
    result = suite.run(Path(name))
    # Anchored in the engine: the file's expectations hold in process.
    assert result.passed_in_process > 0
    unexplained = [
        f"{difference.record.record.where}: {difference.record.failure}"
        for difference in result.unexplained
    ]
    assert unexplained == []
