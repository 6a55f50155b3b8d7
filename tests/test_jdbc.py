"""The Arrow Flight SQL JDBC driver (what DBeaver loads) against a real server.

A Java probe (tests/jdbc/JdbcProbe.java) does what DBeaver does on connect and
browse, then runs queries and updates; each scenario is one JVM that reports
every step. Expectations come from elsewhere: the demo data files, and the
same SQL through ADBC. Each driver version is a module-scoped parameter, so a
scenario's JVM runs once per version however many tests read its report.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pyarrow.csv
import pyarrow.parquet
import pytest
from deltalake import DeltaTable

from tests.conftest import DEMO_CATALOG
from tests.jdbc import expected
from tests.jdbc.probe import ProbeRunner, Report, ResultTable, failures
from tests.jdbc.toolchain import JdbcDriver, compile_probe, fetch_driver
from tests.server_process import ServerProcess

# 18.3.0 is what DBeaver bundles. Maven Central, as this project's machines reach
# it, serves no 19.x of this artifact yet (its newest is 18.3.0; 19.0.0 exists
# upstream): add the newest 19.x here once `mvn` can fetch it.
DRIVER_VERSIONS = ("18.3.0",)

DATA = DEMO_CATALOG / "data"
DEMO_TABLES = sorted(
    tomllib.loads(path.read_text())["name"] for path in (DEMO_CATALOG / "tables").glob("*.toml")
)
FILES = {
    "region": lambda: pyarrow.csv.read_csv(DATA / "region.csv"),
    "nation": lambda: pyarrow.parquet.read_table(DATA / "nation.parquet"),
    "customer": lambda: DeltaTable(str(DATA / "customer")).to_pyarrow_table(),
}


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def jdbc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server of this module's own: browsing compares its whole catalog, which the
    update scenario changes and other modules' tables would otherwise share."""
    state_dir = tmp_path_factory.mktemp("jdbc-state")
    args = ["--catalog-dir", str(DEMO_CATALOG), "--state-dir", str(state_dir)]
    # DML is off by default (policy); the update scenario runs INSERTs.
    with ServerProcess.start([*args, "--policy-allow-dml", "true"]) as process:
        yield process


@pytest.fixture(scope="module")
def adbc(jdbc_server: ServerProcess) -> Iterator[flightsql.Connection]:
    with flightsql.connect(jdbc_server.uri, autocommit=True) as connection:
        yield connection


@pytest.fixture(scope="module")
def probe_classes() -> Path:
    return compile_probe()


@pytest.fixture(scope="module", params=DRIVER_VERSIONS, ids=lambda version: f"jdbc-{version}")
def driver(request: pytest.FixtureRequest) -> JdbcDriver:
    return fetch_driver(request.param)


@pytest.fixture(scope="module")
def runner(driver: JdbcDriver, probe_classes: Path, jdbc_server: ServerProcess) -> ProbeRunner:
    return ProbeRunner(driver, probe_classes, jdbc_server.port)


def adbc_query(conn: flightsql.Connection, sql: str) -> pa.Table:
    with conn.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetch_arrow_table()


def quoted(*names: str) -> str:
    return ".".join('"' + name.replace('"', '""') + '"' for name in names)


TableKey = tuple[str, str, str]  # catalog, schema, table


@dataclass(frozen=True)
class CatalogSnapshot:
    """The server's catalog as ADBC sees it through SQL (information_schema)."""

    tables: set[TableKey]
    schemas: set[tuple[str, str]]
    schemas_of_tables: dict[TableKey, pa.Schema]  # each table's result schema

    @property
    def catalogs(self) -> set[str]:
        return {catalog for catalog, _ in self.schemas}

    @classmethod
    def read(cls, conn: flightsql.Connection) -> CatalogSnapshot:
        listed = adbc_query(
            conn, "SELECT table_catalog, table_schema, table_name FROM information_schema.tables"
        ).to_pylist()
        tables = {(row["table_catalog"], row["table_schema"], row["table_name"]) for row in listed}
        schemata = adbc_query(
            conn, "SELECT catalog_name, schema_name FROM information_schema.schemata"
        ).to_pylist()
        # A schema holding tables is one to browse, listed in schemata or not.
        schemas = {(row["catalog_name"], row["schema_name"]) for row in schemata}
        schemas |= {(catalog, schema) for catalog, schema, _ in tables}
        schemas_of_tables = {
            key: adbc_query(conn, f"SELECT * FROM {quoted(*key)} LIMIT 0").schema for key in tables
        }
        return cls(tables, schemas, schemas_of_tables)


@dataclass(frozen=True)
class Browse:
    report: Report
    snapshot: CatalogSnapshot  # read right after the JVM ran
    catalog: str  # the catalog the demo tables are in
    vendor: dict[str | int, Any]  # ADBC's adbc_get_info()


@pytest.fixture(scope="module")
def browse(runner: ProbeRunner, adbc: flightsql.Connection) -> Browse:
    holders = adbc_query(
        adbc, "SELECT table_catalog FROM information_schema.tables WHERE table_name = 'nation'"
    )
    home = str(holders.column(0)[0].as_py())
    report = runner.run("browse", home)
    return Browse(report, CatalogSnapshot.read(adbc), home, adbc.adbc_get_info())


@pytest.fixture(scope="module")
def queries(runner: ProbeRunner) -> Report:
    return runner.run("query")


@pytest.fixture(scope="module")
def updates(runner: ProbeRunner) -> Report:
    prefix = "jdbc_" + runner.driver.version.replace(".", "_")
    return runner.run("update", prefix)


# -- connect and browse (what DBeaver does on connect) ---------------------------------------


def test_connects_without_credentials_and_closes(browse: Browse) -> None:
    assert browse.report.value("connect") == "connected"
    assert browse.report.value("close") == "closed"


def test_product_name_and_version_are_the_servers(browse: Browse, driver: JdbcDriver) -> None:
    report = browse.report
    assert report.value("property:getDatabaseProductName") == browse.vendor["vendor_name"]
    assert report.value("property:getDatabaseProductVersion") == browse.vendor["vendor_version"]
    assert report.value("property:getDriverVersion") == driver.version


def test_every_getter_dbeaver_calls_on_connect_answers(browse: Browse) -> None:
    failed = failures(browse.report, browse.report.names("property:"))
    assert not failed, f"{len(failed)} DatabaseMetaData getters failed:\n\n" + "\n\n".join(failed)


def test_server_properties_describe_datafusion(browse: Browse) -> None:
    # Only getters the driver answers from the server's SqlInfo: the 18.3 driver answers
    # others (identifier case, catalog separator) itself, whatever the server says.
    properties = {
        "getIdentifierQuoteString": '"',
        # Statements are autocommitted: no Flight SQL transactions.
        "supportsTransactions": False,
        # DDL and DML are accepted.
        "isReadOnly": False,
        "supportsCorrelatedSubqueries": True,
        "supportsSubqueriesInComparisons": True,
        "supportsSubqueriesInExists": True,
        "supportsSubqueriesInIns": True,
    }
    observed = {name: browse.report.value(f"property:{name}") for name in properties}
    assert observed == properties


def test_sql_keywords_are_a_list_of_words(browse: Browse) -> None:
    keywords = browse.report.value("property:getSQLKeywords")
    assert isinstance(keywords, str)
    for keyword in filter(None, (word.strip() for word in keywords.split(","))):
        assert keyword.replace("_", "").isalnum(), keywords


def test_get_catalogs_lists_the_servers_catalogs(browse: Browse) -> None:
    catalogs = browse.report.table("getCatalogs")
    assert catalogs.names == ["TABLE_CAT"]
    assert sorted(catalogs.column("TABLE_CAT")) == sorted(browse.snapshot.catalogs)
    assert browse.catalog in catalogs.column("TABLE_CAT")


def test_get_schemas_lists_every_schema(browse: Browse) -> None:
    report, snapshot = browse.report, browse.snapshot
    everything = report.table("getSchemas()")
    assert everything.names[:2] == ["TABLE_SCHEM", "TABLE_CATALOG"]
    observed = {(row["TABLE_CATALOG"], row["TABLE_SCHEM"]) for row in everything.records()}
    assert observed == snapshot.schemas
    for catalog in snapshot.catalogs:
        in_catalog = report.table(f"getSchemas({catalog})").records()
        assert sorted(row["TABLE_SCHEM"] for row in in_catalog) == sorted(
            schema for owner, schema in snapshot.schemas if owner == catalog
        )


def test_get_tables_lists_every_table_with_its_type(browse: Browse) -> None:
    report, snapshot = browse.report, browse.snapshot
    tables = report.table("getTables(all)")
    assert tables.names[:4] == ["TABLE_CAT", "TABLE_SCHEM", "TABLE_NAME", "TABLE_TYPE"]
    types = {
        (row["TABLE_CAT"], row["TABLE_SCHEM"], row["TABLE_NAME"]): row["TABLE_TYPE"]
        for row in tables.records()
    }

    # The server's own `system` tables are re-registered as the server writes them
    # (query history), so they may be missing for an instant between two listings.
    def listed(names: Iterable[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
        return sorted(name for name in names if name[1] != "system")

    assert listed(types) == listed(snapshot.tables)
    for table in DEMO_TABLES:
        assert types[browse.catalog, "public", table] == "TABLE"
    # The navigator asks schema by schema.
    for catalog, schema in snapshot.schemas:
        in_schema = report.table(f"getTables({catalog}.{schema})").column("TABLE_NAME")
        assert sorted(in_schema) == sorted(
            name for owner, holder, name in snapshot.tables if (owner, holder) == (catalog, schema)
        )


def test_get_tables_filters_by_table_type(browse: Browse) -> None:
    records = browse.report.table("getTables(TABLE,VIEW)").records()
    assert {row["TABLE_TYPE"] for row in records} <= {"TABLE", "VIEW"}
    assert set(DEMO_TABLES) <= {row["TABLE_NAME"] for row in records}


def test_get_table_types_covers_every_listed_type(browse: Browse) -> None:
    table_types = browse.report.table("getTableTypes")
    assert table_types.names == ["TABLE_TYPE"]
    listed = set(browse.report.table("getTables(all)").column("TABLE_TYPE"))
    assert {"TABLE", "VIEW"} | listed <= set(table_types.column("TABLE_TYPE"))


def test_get_columns_match_what_queries_return(browse: Browse) -> None:
    """DBeaver shows getColumns' types next to data read by queries: they must agree."""
    mismatches: list[str] = []
    for key, schema in sorted(browse.snapshot.schemas_of_tables.items()):
        step = "getColumns({}.{}.{})".format(*key)
        if step not in browse.report.steps:
            mismatches.append(f"{key}: never browsed (getTables did not list it)")
            continue
        columns = browse.report.table(step).records()
        observed = [
            (
                row["COLUMN_NAME"],
                expected.JDBC_TYPE_NAMES.get(row["DATA_TYPE"], row["DATA_TYPE"]),
                row["NULLABLE"],
                row["ORDINAL_POSITION"],
            )
            for row in columns
        ]
        wanted = [
            (field.name, expected.jdbc_type(field.type), int(field.nullable), position)
            for position, field in enumerate(schema, start=1)
        ]
        if observed != wanted:
            mismatches.append(f"{key}:\n  getColumns: {observed}\n  query:      {wanted}")
        for row, field in zip(columns, schema, strict=False):
            if isinstance(field.type, pa.Decimal128Type | pa.Decimal256Type):
                digits = (row["COLUMN_SIZE"], row["DECIMAL_DIGITS"])
                if digits != (field.type.precision, field.type.scale):
                    mismatches.append(f"{key}.{field.name}: size, digits {digits}")
    assert not mismatches, "\n".join(mismatches)


def test_demo_tables_have_no_keys(browse: Browse) -> None:
    # The demo catalog declares no primary or foreign keys; the calls must still answer.
    # (An empty answer reaches JDBC without columns: the driver skips streams with no rows.)
    for table in DEMO_TABLES:
        where = f"{browse.catalog}.public.{table}"
        assert browse.report.table(f"getPrimaryKeys({where})").raw_rows == []
        assert browse.report.table(f"getImportedKeys({where})").raw_rows == []


def test_catalog_property_selects_the_session_catalog(browse: Browse) -> None:
    report = browse.report
    assert report.value("connect(catalog)") == "connected"
    # The 18.3 driver's getCatalog() does not report the property (it only sends it), so
    # the catalog's effect is seen through unqualified names.
    count = report.table("connect(catalog):query")
    assert count.rows() == [(FILES["nation"]().num_rows,)]
    assert report.value("connect(catalog):setCatalog") == browse.catalog


def test_connection_with_catalog_closes_its_session(browse: Browse, driver: JdbcDriver) -> None:
    if driver.version.startswith("18."):
        # 18.x closes its client twice: the first CloseSession succeeds, the second meets
        # the channel the first close shut. A server error would surface from the first.
        error = browse.report.error("connect(catalog):close")
        assert "UNAVAILABLE: Channel shutdown invoked" in error["trace"], error
        assert "FlightClient.closeSession" in error["trace"], error
    else:
        assert browse.report.value("connect(catalog):close") == "closed"


def test_unknown_catalog_property_is_refused_with_its_name(browse: Browse) -> None:
    error = browse.report.error("connect(unknown catalog)")
    assert "no_such_catalog" in error["message"], error


# -- queries (Statement and PreparedStatement) --------------------------------------------


def file_rows(table: str, columns: list[str] | None = None) -> list[tuple[Any, ...]]:
    """Rows of a demo table read from its file, ordered by its first column."""
    data = FILES[table]()
    if columns is not None:
        data = data.select(columns)
    return sorted(expected.rows(data))


def assert_types_match(result: ResultTable, adbc: flightsql.Connection, sql: str) -> None:
    schema = adbc_query(adbc, sql).schema
    assert [(column.name, column.jdbc_type) for column in result.columns] == [
        (field.name, expected.jdbc_type(field.type)) for field in schema
    ]


def test_statement_query_reads_the_file_rows(queries: Report, adbc: flightsql.Connection) -> None:
    result = queries.table("statement:executeQuery")
    assert result.rows() == file_rows(
        "nation", ["n_nationkey", "n_name", "n_regionkey", "n_comment"]
    )
    assert_types_match(
        result, adbc, "SELECT n_nationkey, n_name, n_regionkey, n_comment FROM nation LIMIT 0"
    )


def test_statement_execute_returns_a_result_set(queries: Report) -> None:
    executed = queries.value("statement:execute")
    assert executed["isResultSet"] is True
    assert executed["updateCount"] == -1
    assert ResultTable.from_json(executed["result"]).rows() == file_rows("region")


def test_statement_reads_a_multi_batch_delta_table(
    queries: Report, adbc: flightsql.Connection
) -> None:
    result = queries.table("statement:customer")
    assert result.rows() == file_rows("customer")
    assert_types_match(result, adbc, "SELECT * FROM customer LIMIT 0")


def test_result_closed_after_its_first_page_leaves_the_connection_usable(
    queries: Report,
) -> None:
    page = queries.table("statement:first-page")
    assert page.rows() == file_rows("customer", ["c_custkey", "c_name"])[:10]
    assert queries.table("statement:after-first-page").rows() == [(FILES["customer"]().num_rows,)]


def test_prepared_statement_describes_columns_and_parameters(queries: Report) -> None:
    described = queries.value("prepared:metadata")
    assert [column["name"] for column in described["columns"]] == ["n_name", "n_regionkey"]
    nation = FILES["nation"]().schema
    # `n_nationkey = ?` and `n_name <> ?`: each parameter takes its column's type.
    assert described["parameterTypes"] == [
        expected.jdbc_type(nation.field("n_nationkey").type),
        expected.jdbc_type(pa.utf8()),
    ]


def test_prepared_statement_binds_an_integer_and_reruns(queries: Report) -> None:
    runs = [ResultTable.from_json(run).rows() for run in queries.value("prepared:int")]
    by_key = {row[0]: row for row in file_rows("nation", ["n_nationkey", "n_name"])}
    assert runs == [[by_key[7]], [by_key[24]]]


def test_prepared_statement_binds_strings(queries: Report) -> None:
    wanted = [
        row
        for row in file_rows("nation", ["n_nationkey", "n_name"])
        if row[1] == "GERMANY" or row[1].startswith("UNITED")
    ]
    assert len(wanted) == 3
    assert queries.table("prepared:string").rows() == wanted


def test_prepared_statement_binds_a_decimal(queries: Report) -> None:
    wanted = [
        (key, balance)
        for key, nation, balance in file_rows("customer", ["c_custkey", "c_nationkey", "c_acctbal"])
        if nation == 3 and balance > Decimal("5000.00")
    ]
    assert wanted
    assert queries.table("prepared:decimal").rows() == wanted


def test_prepared_statement_binds_null(queries: Report) -> None:
    assert queries.table("prepared:null").rows() == [(0,)]


def test_sql_error_reaches_the_client_and_the_connection_survives(queries: Report) -> None:
    error = queries.error("statement:error")
    assert "no_such_column" in error["message"], error
    assert queries.table("statement:after-error").rows() == [(FILES["nation"]().num_rows,)]
    assert queries.value("close") == "closed"


# -- updates (executeUpdate, executeBatch, execute) ---------------------------------------


def test_create_table_as_values(updates: Report) -> None:
    # CREATE TABLE AS writes a Delta table; the count is its rows.
    assert updates.value("create-table-as") == 2
    assert updates.table("select-table-as").rows() == [(1, "one"), (2, "two")]


def test_create_view(updates: Report) -> None:
    assert updates.value("create-view") == 0
    assert updates.table("select-view").rows() == [(10, "one"), (20, "two")]


def test_insert_into_a_memory_table(updates: Report) -> None:
    assert updates.value("create-table") == 0
    assert updates.value("insert-values") == 2
    assert updates.value("insert-prepared") == 1
    # The driver sends the whole batch at once and reports one count for it.
    assert sum(updates.value("insert-batch")) == 2
    assert updates.value("insert-execute") == {"isResultSet": False, "updateCount": 1}
    assert updates.table("select-memory").rows() == [
        (1, "a"),
        (2, "b"),
        (3, "c"),
        (4, "d"),
        (5, None),
        (6, "f"),
    ]


def test_created_tables_and_views_are_listed(updates: Report, driver: JdbcDriver) -> None:
    prefix = "jdbc_" + driver.version.replace(".", "_")
    listed = updates.table("tables-created").records()
    assert sorted((row["TABLE_NAME"], row["TABLE_TYPE"]) for row in listed) == [
        (f"{prefix}_memory", "TABLE"),
        (f"{prefix}_values", "TABLE"),
        (f"{prefix}_view", "VIEW"),
    ]


def test_failing_ddl_reports_the_engine_error(updates: Report) -> None:
    error = updates.error("create-table-error")
    assert "no_such" in error["message"], error


def test_drop_removes_tables_and_views(updates: Report) -> None:
    assert updates.value("drop-view") == 0
    assert updates.value("drop-table-as") == 0
    assert updates.value("drop-table-prepared") == 0
    assert updates.table("tables-dropped").raw_rows == []
    assert updates.value("close") == "closed"


# -- reading every common type -------------------------------------------------------------

TYPE_QUERIES = {
    "values": """
        SELECT
          CAST(-128 AS TINYINT) AS int8,
          CAST(-32768 AS SMALLINT) AS int16,
          CAST(2147483647 AS INT) AS int32,
          CAST('-9223372036854775808' AS BIGINT) AS int64,
          CAST(12.34 AS DECIMAL(10, 2)) AS decimal_10_2,
          CAST('-12345678901234567890.123456' AS DECIMAL(38, 6)) AS decimal_38_6,
          arrow_cast(CAST('1234567890.0123456789' AS DECIMAL(38, 10)), 'Decimal256(50, 10)')
            AS decimal256,
          arrow_cast(1.5, 'Float32') AS float32,
          CAST(-0.25 AS DOUBLE) AS float64,
          DATE '2024-02-29' AS date32,
          arrow_cast(DATE '1969-07-20', 'Date64') AS date64,
          TIME '12:34:56.789' AS time64,
          TIMESTAMP '2024-03-10 12:34:56.789123456' AS timestamp_ns,
          arrow_cast(TIMESTAMP '1999-12-31 23:59:59', 'Timestamp(Second, None)') AS timestamp_s,
          'héllo wörld ✓' AS utf8,
          '' AS empty_utf8,
          arrow_cast('large', 'LargeUtf8') AS large_utf8,
          X'DEADBEEF' AS binary,
          arrow_cast(X'00FF', 'LargeBinary') AS large_binary,
          true AS bool_true,
          false AS bool_false
    """,
    # Every unsigned width at its maximum, which a signed reading gets wrong.
    "unsigned": """
        SELECT
          arrow_cast(255, 'UInt8') AS uint8,
          arrow_cast(65535, 'UInt16') AS uint16,
          arrow_cast(4294967295, 'UInt32') AS uint32,
          arrow_cast(18446744073709551615, 'UInt64') AS uint64
    """,
    # Timestamps with a zone: the instant must survive, whatever the zone's kind and offset.
    "zoned": """
        SELECT
          arrow_cast(TIMESTAMP '2024-03-10 12:34:56.789', 'Timestamp(Millisecond, Some("UTC"))')
            AS utc,
          arrow_cast(TIMESTAMP '2024-07-01 08:00:00.123456',
                     'Timestamp(Microsecond, Some("+02:00"))') AS fixed_offset,
          arrow_cast(TIMESTAMP '2024-01-15 23:30:00',
                     'Timestamp(Nanosecond, Some("Europe/Berlin"))') AS berlin_winter,
          arrow_cast(TIMESTAMP '2024-07-15 23:30:00',
                     'Timestamp(Microsecond, Some("Europe/Berlin"))') AS berlin_summer,
          arrow_cast(TIMESTAMP '2024-01-15 23:30:00',
                     'Timestamp(Millisecond, Some("America/New_York"))') AS new_york,
          arrow_cast(CAST(NULL AS TIMESTAMP), 'Timestamp(Microsecond, Some("UTC"))') AS null_utc
    """,
    "nulls": """
        SELECT
          NULL AS untyped,
          CAST(NULL AS TINYINT) AS int8,
          CAST(NULL AS BIGINT) AS int64,
          CAST(NULL AS DECIMAL(10, 2)) AS decimal,
          CAST(NULL AS DOUBLE) AS float64,
          CAST(NULL AS DATE) AS date,
          CAST(NULL AS TIME) AS time,
          CAST(NULL AS TIMESTAMP) AS timestamp,
          CAST(NULL AS VARCHAR) AS utf8,
          CAST(NULL AS BYTEA) AS binary,
          CAST(NULL AS BOOLEAN) AS bool
    """,
    # Values after a null and nulls after values: the reader must reset per row.
    "mixed": """
        SELECT * FROM (VALUES
          (1, 'a', CAST(1.5 AS DOUBLE), DATE '2024-01-01', true, CAST(1.25 AS DECIMAL(5, 2))),
          (NULL, NULL, NULL, NULL, NULL, NULL),
          (3, 'c', NULL, DATE '2024-01-03', false, CAST(-3.50 AS DECIMAL(5, 2)))
        ) AS t(i, s, d, day, flag, amount)
    """,
}


@pytest.fixture(scope="module")
def types(runner: ProbeRunner) -> Report:
    return runner.run("types", stdin="\0".join(TYPE_QUERIES.values()))


@pytest.mark.parametrize("path", ["statement", "prepared"])
@pytest.mark.parametrize("query", list(TYPE_QUERIES))
def test_reads_every_common_type(
    types: Report, adbc: flightsql.Connection, query: str, path: str
) -> None:
    index = list(TYPE_QUERIES).index(query)
    observed = types.table(f"{path}:{index}")
    wanted = adbc_query(adbc, TYPE_QUERIES[query])
    assert observed.names == wanted.column_names
    assert len(observed.raw_rows) == wanted.num_rows
    mismatches: list[str] = []
    for field, column, got, want in zip(
        wanted.schema,
        observed.columns,
        zip(*observed.rows(), strict=True),
        zip(*expected.rows(wanted), strict=True),
        strict=True,
    ):
        want_type = expected.jdbc_type(field.type)
        if (column.jdbc_type, got) != (want_type, want):
            mismatches.append(
                f"{field.name} (Arrow {field.type}): read {column.jdbc_type} "
                f"{expected.show(got, field.type)}, expected {want_type} "
                f"{expected.show(want, field.type)}"
            )
        # DBeaver reads timestamps and most other values with getObject().
        if column.object_error is not None:
            error = column.object_error
            mismatches.append(
                f"{field.name} (Arrow {field.type}): getObject() raised "
                f"{error['class']}: {error['message']}\n{error['trace']}"
            )
    assert not mismatches, "\n".join(mismatches)


# -- parameters -------------------------------------------------------------------------

# setter, value bound, SQL type it binds, the value read back (as `decode` gives it).
BINDINGS = [
    ("setInt", "41", "INT", 41),
    ("setLong", "9000000000", "BIGINT", 9000000000),
    ("setDouble", "2.5", "DOUBLE", 2.5),
    ("setBigDecimal", "12.34", "DECIMAL(10, 2)", Decimal("12.34")),
    ("setString", "grüße", "VARCHAR", "grüße"),
    ("setDate", "2024-02-29", "DATE", dt.date(2024, 2, 29)),
    ("setBoolean", "true", "BOOLEAN", True),
]


def _binding_lines() -> list[str]:
    lines: list[str] = []
    for setter, value, sql_type, _ in BINDINGS:
        lines.append(f"{setter}\t{value}\tSELECT CAST(? AS {sql_type}) AS v")
        column = f"SELECT v FROM (SELECT CAST({_literal(value, sql_type)} AS {sql_type}) AS v) t"
        lines.append(f"{setter}\t{value}\t{column} WHERE v = ?")
    lines.append("setLong\t41\tSELECT CAST(? AS BIGINT) + 1 AS v")
    lines.append("setTimestamp\t2024-02-29 12:30:00\tSELECT CAST(? AS TIMESTAMP) AS v")
    lines.append("setNull\tBIGINT\tSELECT CAST(? AS BIGINT) AS v")
    lines.append("setInt\t2\tSELECT value FROM generate_series(1, 5) ORDER BY value LIMIT ?")
    return lines


def _literal(value: str, sql_type: str) -> str:
    return (
        value
        if sql_type in {"INT", "BIGINT", "DOUBLE", "DECIMAL(10, 2)", "BOOLEAN"}
        else (f"'{value}'")
    )


@pytest.fixture(scope="module")
def bound(runner: ProbeRunner) -> Report:
    return runner.run("bind", stdin="\n".join(_binding_lines()))


def test_every_setter_binds_to_a_typed_placeholder(bound: Report) -> None:
    steps = [name for name in bound.names("bind:")]
    assert len(steps) == len(_binding_lines())
    assert failures(bound, steps) == []
    for setter, value, sql_type, wanted in BINDINGS:
        cast = bound.table(f"bind:{setter}:SELECT CAST(? AS {sql_type}) AS v")
        assert cast.column("v") == [wanted]
        column = f"SELECT v FROM (SELECT CAST({_literal(value, sql_type)} AS {sql_type}) AS v) t"
        compared = bound.table(f"bind:{setter}:{column} WHERE v = ?")
        assert compared.column("v") == [wanted]


def test_bound_values_compute(bound: Report) -> None:
    assert bound.table("bind:setLong:SELECT CAST(? AS BIGINT) + 1 AS v").column("v") == [42]
    timestamp = bound.table("bind:setTimestamp:SELECT CAST(? AS TIMESTAMP) AS v").column("v")
    assert timestamp == [
        int(dt.datetime(2024, 2, 29, 12, 30, tzinfo=dt.UTC).timestamp()) * 1_000_000_000
    ]
    assert bound.table("bind:setNull:SELECT CAST(? AS BIGINT) AS v").column("v") == [None]
    limited = bound.table(
        "bind:setInt:SELECT value FROM generate_series(1, 5) ORDER BY value LIMIT ?"
    )
    assert limited.column("value") == [1, 2]


# -- order through the client-type casts ------------------------------------------------

# Unsigned results reach JDBC clients cast to signed types, a projection over the final
# sort; round-robin repartitioning must not scramble the order (TPC-H Q16 once came back
# unordered). Enough rows for several batches; one query sorts one partition, one merges.
ORDERED_QUERIES = [
    "SELECT CAST(value AS INT UNSIGNED) AS k FROM generate_series(1, 100000) ORDER BY k DESC",
    "SELECT CAST(value % 30000 AS INT UNSIGNED) AS k, count(*) AS c"
    " FROM generate_series(1, 200000) GROUP BY 1 ORDER BY c DESC, k",
]


@pytest.fixture(scope="module")
def ordered(runner: ProbeRunner) -> Report:
    return runner.run("execute", stdin="\0".join(ORDERED_QUERIES))


def test_order_by_survives_the_client_type_casts(ordered: Report) -> None:
    descending = ResultTable.from_json(ordered.value("execute:0")["result"])
    assert descending.columns[0].jdbc_type == "BIGINT"  # the cast JDBC needs
    assert descending.column("k") == list(range(100000, 0, -1))
    grouped = ResultTable.from_json(ordered.value("execute:1")["result"])
    keys = [(-count, key) for key, count in grouped.rows()]
    assert len(keys) == 30000
    assert keys == sorted(keys)
