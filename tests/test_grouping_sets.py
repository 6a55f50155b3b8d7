"""ROLLUP, CUBE and GROUPING SETS with GROUPING(), through ADBC and the JDBC driver.

Small TPC-DS-shaped tables are made through the server and, from the same statements, in an
in-process DataFusion session; every query's answer through each client must equal the
in-process one. The TPC-DS-style queries follow the shapes of Q27 (ROLLUP with GROUPING() in
the select list), Q36 and Q86 (rank() OVER (PARTITION BY grouping(...)) and GROUPING() in
ORDER BY) and Q70 (a ROLLUP filtered by a ranked subquery).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as flightsql
import datafusion
import pytest

from tests.jdbc.probe import ProbeRunner, Report, ResultTable
from tests.jdbc.toolchain import JdbcDriver, compile_probe, fetch_driver
from tests.server_process import ServerProcess
from tests.test_jdbc import DRIVER_VERSIONS

TABLES = [
    "CREATE TABLE gs_item (i_item_sk INT, i_item_id VARCHAR, i_category VARCHAR, i_class VARCHAR)"
    " AS VALUES (1, 'AAA', 'Books', 'fiction'), (2, 'BBB', 'Books', 'history'),"
    " (3, 'CCC', 'Music', 'rock'), (4, 'DDD', 'Music', 'jazz'), (5, 'EEE', 'Home', 'kitchen')",
    "CREATE TABLE gs_store (s_store_sk INT, s_state VARCHAR, s_county VARCHAR)"
    " AS VALUES (1, 'TN', 'Williamson'), (2, 'TN', 'Davidson'), (3, 'GA', 'Fulton'),"
    " (4, 'AL', 'Jefferson')",
    "CREATE TABLE gs_sales (ss_item_sk INT, ss_store_sk INT, ss_quantity INT,"
    " ss_sales_price BIGINT, ss_net_profit BIGINT) AS VALUES"
    " (1, 1, 3, 300, 40), (1, 2, 5, 510, 71), (2, 1, 7, 720, -13), (2, 3, 2, 190, 25),"
    " (3, 3, 4, 430, 58), (3, 4, 6, 640, 92), (4, 2, 1, 120, 7), (4, 4, 8, 860, 133),"
    " (5, 1, 9, 905, 61), (5, 3, 2, 260, -29), (1, 4, 4, 415, 36), (3, 1, 5, 530, 84)",
]

SALES = "gs_sales JOIN gs_item ON ss_item_sk = i_item_sk JOIN gs_store ON ss_store_sk = s_store_sk"

QUERIES = {
    "rollup": "SELECT s_state, i_category, sum(ss_quantity) AS qty,"
    " GROUPING(s_state) AS g_state, GROUPING(i_category) AS g_category"
    f" FROM {SALES} GROUP BY ROLLUP(s_state, i_category)"
    " ORDER BY g_state, g_category, s_state, i_category",
    "cube": "SELECT s_state, i_category, count(*) AS n, sum(ss_net_profit) AS profit,"
    " GROUPING(s_state, i_category) AS g"
    f" FROM {SALES} GROUP BY CUBE(s_state, i_category) ORDER BY g, s_state, i_category",
    "grouping_sets": "SELECT s_state, i_class, sum(ss_sales_price) AS price,"
    " GROUPING(s_state) AS g_state, GROUPING(i_class) AS g_class"
    f" FROM {SALES} GROUP BY GROUPING SETS ((s_state), (i_class), (s_state, i_class), ())"
    " ORDER BY g_state, g_class, s_state, i_class",
    # TPC-DS Q27: ROLLUP over item and state, GROUPING() of the state in the select list.
    "tpcds_q27": "SELECT i_item_id, s_state, GROUPING(s_state) AS g_state,"
    " sum(ss_quantity) AS agg1, sum(ss_sales_price) AS agg2"
    f" FROM {SALES} WHERE s_state IN ('TN', 'GA')"
    " GROUP BY ROLLUP(i_item_id, s_state) ORDER BY i_item_id, s_state LIMIT 100",
    # TPC-DS Q36 (and Q86, its web-sales twin): a rank within each rollup level's parent,
    # GROUPING() in PARTITION BY and in ORDER BY.
    "tpcds_q36": "SELECT sum(ss_net_profit) AS gross_profit, i_category, i_class,"
    " GROUPING(i_category) + GROUPING(i_class) AS lochierarchy,"
    " rank() OVER (PARTITION BY GROUPING(i_category) + GROUPING(i_class),"
    " CASE WHEN GROUPING(i_class) = 0 THEN i_category END"
    " ORDER BY sum(ss_net_profit) ASC) AS rank_within_parent"
    f" FROM {SALES} WHERE s_state IN ('TN', 'GA', 'AL')"
    " GROUP BY ROLLUP(i_category, i_class)"
    " ORDER BY lochierarchy DESC, CASE WHEN lochierarchy = 0 THEN i_category END,"
    " rank_within_parent, i_category, i_class LIMIT 100",
    # TPC-DS Q70: ROLLUP over state and county, the states kept by a ranked subquery.
    "tpcds_q70": "SELECT sum(ss_net_profit) AS total_sum, s_state, s_county,"
    " GROUPING(s_state) + GROUPING(s_county) AS lochierarchy,"
    " rank() OVER (PARTITION BY GROUPING(s_state) + GROUPING(s_county),"
    " CASE WHEN GROUPING(s_county) = 0 THEN s_state END"
    " ORDER BY sum(ss_net_profit) DESC) AS rank_within_parent"
    f" FROM {SALES} WHERE s_state IN (SELECT s_state FROM (SELECT s_state,"
    " rank() OVER (PARTITION BY s_state ORDER BY sum(ss_net_profit) DESC) AS ranking"
    f" FROM {SALES} GROUP BY s_state) ranked WHERE ranking <= 5)"
    " GROUP BY ROLLUP(s_state, s_county)"
    " ORDER BY lochierarchy DESC, CASE WHEN lochierarchy = 0 THEN s_state END,"
    " rank_within_parent, s_state, s_county LIMIT 100",
}

Row = tuple[Any, ...]


@pytest.fixture(scope="module")
def made(server: ServerProcess) -> Iterator[str]:
    """The tables, made through the server; dropped after the module."""
    with flightsql.connect(server.uri, autocommit=True) as conn, conn.cursor() as cursor:
        for statement in TABLES:
            cursor.execute(statement)
        yield server.uri
        for table in ("gs_sales", "gs_item", "gs_store"):
            cursor.execute(f"DROP TABLE {table}")


@pytest.fixture(scope="module")
def expected() -> dict[str, tuple[list[str], list[Row]]]:
    """Each query's column names and rows from DataFusion in process."""
    ctx = datafusion.SessionContext()
    for statement in TABLES:
        ctx.sql(statement).collect()
    answers: dict[str, tuple[list[str], list[Row]]] = {}
    for name, query in QUERIES.items():
        table = ctx.sql(query).to_arrow_table()
        answers[name] = (table.column_names, [tuple(row.values()) for row in table.to_pylist()])
    return answers


@pytest.fixture(scope="module", params=DRIVER_VERSIONS, ids=lambda version: f"jdbc-{version}")
def jdbc(made: str, server: ServerProcess, request: pytest.FixtureRequest) -> Report:
    driver: JdbcDriver = fetch_driver(request.param)
    classes: Path = compile_probe()
    runner = ProbeRunner(driver, classes, server.port)
    return runner.run("execute", stdin="\0".join(QUERIES.values()))


def test_in_process_answers_use_every_grouping_level(
    expected: dict[str, tuple[list[str], list[Row]]],
) -> None:
    # The comparisons below mean something only if the data reach every level.
    _, rollup = expected["rollup"]
    assert {(row[3], row[4]) for row in rollup} == {(0, 0), (0, 1), (1, 1)}
    _, cube = expected["cube"]
    assert {row[4] for row in cube} == {0, 1, 2, 3}
    _, q36 = expected["tpcds_q36"]
    assert {row[3] for row in q36} == {0, 1, 2}
    assert max(row[4] for row in q36) > 1


@pytest.mark.parametrize("name", list(QUERIES))
def test_adbc_answers_equal_in_process(
    made: str, expected: dict[str, tuple[list[str], list[Row]]], name: str
) -> None:
    with flightsql.connect(made, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(QUERIES[name])
        table = cursor.fetch_arrow_table()
    names, rows = expected[name]
    assert table.column_names == names
    assert [tuple(row.values()) for row in table.to_pylist()] == rows


@pytest.mark.parametrize("name", list(QUERIES))
def test_jdbc_answers_equal_in_process(
    jdbc: Report, expected: dict[str, tuple[list[str], list[Row]]], name: str
) -> None:
    step = jdbc.value(f"execute:{list(QUERIES).index(name)}")
    assert step["isResultSet"] is True
    result = ResultTable.from_json(step["result"])
    names, rows = expected[name]
    assert result.names == names
    assert result.rows() == rows
