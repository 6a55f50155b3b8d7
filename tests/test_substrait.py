"""Substrait in: plans from producers other than DataFusion, executed over Flight SQL.

Isthmus (the Substrait Java tooling: SQL to Substrait through Apache Calcite,
fetched from Maven Central with tests/isthmus/pom.xml into the cache folder)
plans the 22 TPC-H queries over TPC-H tables made with tpchgen-cli; each plan
must give the rows its SQL gives when run directly. Plans built with the
`substrait` Python package, and plans the server cannot run, complete the set.
"""

from __future__ import annotations

import base64
import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pytest
from google.protobuf import any_pb2
from google.protobuf.message import Message
from pyarrow import flight
from substrait import proto as substrait_proto
from substrait.builders import extended_expression as ee
from substrait.builders import plan as pb
from substrait.builders import type as st
from substrait.extension_registry import ExtensionRegistry

from bench.tpch.texts import tpch_queries
from flightserver.protocol.generated import flight_sql_pb2 as sql
from tests.server_process import ServerProcess

TESTS = Path(__file__).resolve().parent
ISTHMUS_VERSION = "0.89.1"  # keep equal to tests/isthmus/pom.xml
SCALE_FACTOR = 0.01
TPCH_TABLES = ("customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier")
QUERIES = [f"q{number:02d}" for number in range(1, 23)]


def cache_dir() -> Path:
    base = os.environ.get("FLIGHTSERVER_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "flightserver"
    )
    return Path(base)


def query_text(name: str) -> str:
    # One set of TPC-H texts, shared with the benchmarks; written in standard SQL
    # (`interval '1' year`) so Calcite (Isthmus) and DataFusion both parse them.
    return tpch_queries(SCALE_FACTOR)[name]


@pytest.fixture(scope="module")
def tpch_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A catalog folder with the eight TPC-H tables as Parquet (tpchgen-cli)."""
    catalog = tmp_path_factory.mktemp("tpch")
    generator = Path(sys.executable).with_name("tpchgen-cli")
    subprocess.run(
        [str(generator), "parquet", "-s", str(SCALE_FACTOR), f"--output-dir={catalog / 'data'}"],
        check=True,
        capture_output=True,
    )
    (catalog / "tables").mkdir()
    for table in TPCH_TABLES:
        (catalog / "tables" / f"{table}.toml").write_text(
            f'name = "{table}"\nformat = "parquet"\nlocation = "data/{table}.parquet"\n'
        )
    return catalog


@pytest.fixture(scope="module")
def tpch_server(
    tpch_catalog: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    state = tmp_path_factory.mktemp("tpch-state")
    with ServerProcess.start(["--catalog-dir", str(tpch_catalog), "--state-dir", str(state)]) as s:
        yield s


@pytest.fixture
def tpch_conn(tpch_server: ServerProcess) -> Iterator[flightsql.Connection]:
    with flightsql.connect(tpch_server.uri, autocommit=True) as connection:
        yield connection


@pytest.fixture
def client(tpch_server: ServerProcess) -> Iterator[flight.FlightClient]:
    with flight.connect(tpch_server.uri) as connection:
        yield connection


@pytest.fixture(scope="module")
def isthmus_classpath() -> str:
    """Isthmus and its dependencies, fetched once into the cache folder."""
    jars = cache_dir() / "isthmus" / ISTHMUS_VERSION
    if not (jars / f"isthmus-{ISTHMUS_VERSION}.jar").exists():
        maven = shutil.which("mvn")
        if maven is None:
            pytest.skip("Maven (mvn) is needed to fetch Isthmus")
        subprocess.run(
            [
                maven,
                "-q",
                "-B",
                "-f",
                str(TESTS / "isthmus" / "pom.xml"),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={jars}",
            ],
            check=True,
        )
    return str(jars / "*")


@pytest.fixture(scope="module")
def isthmus_plans(isthmus_classpath: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Isthmus's Substrait plan (or its error) for each TPC-H query."""
    java = shutil.which("java")
    if java is None:
        pytest.skip("a JDK (java) is needed to run Isthmus")
    work = tmp_path_factory.mktemp("isthmus")
    texts = []
    for name in QUERIES:
        path = work / "sql" / f"{name}.sql"
        path.parent.mkdir(exist_ok=True)
        path.write_text(query_text(name))
        texts.append(str(path))
    out = work / "plans"
    subprocess.run(
        [
            java,
            "-cp",
            isthmus_classpath,
            str(TESTS / "isthmus" / "IsthmusPlans.java"),
            str(TESTS / "isthmus" / "tpch_schema.sql"),
            str(out),
            *texts,
        ],
        check=True,
        capture_output=True,
    )
    return out


# -- comparing results ---------------------------------------------------------------


def _value(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal | float) else value


def normalized_rows(table: pa.Table) -> list[tuple[Any, ...]]:
    """Rows by value: column names, decimal scales and float noise aside."""
    rows = zip(*(column.to_pylist() for column in table.columns), strict=True)
    normalized = [tuple(_value(value) for value in row) for row in rows]
    return sorted(normalized, key=lambda row: [(v is None, repr(type(v)), v) for v in row])


def assert_same_rows(got: pa.Table, want: pa.Table) -> None:
    assert got.num_columns == want.num_columns
    got_rows, want_rows = normalized_rows(got), normalized_rows(want)
    assert len(got_rows) == len(want_rows)
    for got_row, want_row in zip(got_rows, want_rows, strict=True):
        for got_value, want_value in zip(got_row, want_row, strict=True):
            if isinstance(want_value, float):
                assert math.isclose(got_value, want_value, rel_tol=1e-9, abs_tol=1e-9)
            else:
                assert got_value == want_value


def packed(message: Message) -> bytes:
    wrapper = any_pb2.Any()
    wrapper.Pack(message)
    return wrapper.SerializeToString()


def flight_substrait(client: flight.FlightClient, plan: bytes) -> pa.Table:
    """Runs `plan` as a CommandStatementSubstraitPlan (no prepared statement)."""
    command = sql.CommandStatementSubstraitPlan(plan=sql.SubstraitPlan(plan=plan))
    info = client.get_flight_info(flight.FlightDescriptor.for_command(packed(command)))
    return pa.concat_tables(client.do_get(e.ticket).read_all() for e in info.endpoints)


def adbc_substrait(conn: flightsql.Connection, plan: bytes) -> pa.Table:
    """Runs `plan` the way ADBC does: CreatePreparedSubstraitPlan, then execute."""
    with conn.cursor() as cur:
        cur.execute(plan)
        return cur.fetch_arrow_table()


def adbc_sql(conn: flightsql.Connection, query: str) -> pa.Table:
    with conn.cursor() as cur:
        cur.execute(query)
        return cur.fetch_arrow_table()


# -- Isthmus: TPC-H -----------------------------------------------------------------------


@pytest.mark.parametrize("query", QUERIES)
def test_isthmus_tpch_plan_gives_the_rows_of_its_sql(
    query: str,
    isthmus_plans: Path,
    tpch_conn: flightsql.Connection,
    client: flight.FlightClient,
) -> None:
    error = isthmus_plans / f"{query}.error"
    assert not error.exists(), f"Isthmus could not plan {query}: {error.read_text()}"
    plan = (isthmus_plans / f"{query}.pb").read_bytes()
    expected = adbc_sql(tpch_conn, query_text(query))
    assert expected.num_rows > 0
    assert_same_rows(flight_substrait(client, plan), expected)
    assert_same_rows(adbc_substrait(tpch_conn, plan), expected)


@pytest.mark.parametrize("query", QUERIES)
def test_datafusion_tpch_plan_round_trips(
    query: str, tpch_conn: flightsql.Connection, client: flight.FlightClient
) -> None:
    """The server's own Substrait plan of each query, sent back, gives the query's rows."""
    text = query_text(query)
    [result] = client.do_action(
        flight.Action("GetSubstraitPlan", json.dumps({"sql": text}).encode())
    )
    plan = base64.b64decode(json.loads(result.body.to_pybytes())["plan"])
    assert_same_rows(flight_substrait(client, plan), adbc_sql(tpch_conn, text))


@pytest.mark.parametrize("query", QUERIES)
def test_plan_bundle_records_the_substrait_round_trip(
    query: str, client: flight.FlightClient
) -> None:
    """plan -> bytes -> plan: the plan read back must give the query's result."""
    body = json.dumps({"sql": query_text(query)}).encode()
    [result] = client.do_action(flight.Action("GetPlanBundle", body))
    bundle = json.loads(result.body.to_pybytes())["bundle"]
    assert bundle["rows_out"] > 0
    assert bundle["substrait_round_trip"]["same_result"] is True


# -- plans built with the substrait Python package -------------------------------------------

NATION = st.named_struct(
    names=["N_NATIONKEY", "N_NAME", "N_REGIONKEY", "N_COMMENT"],
    struct=st.struct(types=[st.i64(nullable=False), st.string(nullable=False)] * 2, nullable=False),
)
COMPARISON = "extension:io.substrait:functions_comparison"


def nation_names_in_region(region: int) -> substrait_proto.Plan:
    """SELECT n_name FROM nation WHERE n_regionkey = region, spelled as Calcite would."""
    table = pb.read_named_table("NATION", NATION)
    condition = ee.scalar_function(
        COMPARISON,
        "equal",
        expressions=[ee.column("N_REGIONKEY"), ee.literal(region, st.i64(nullable=False))],
    )
    plan = pb.select(pb.filter(table, condition), [ee.column("N_NAME")])
    return plan(ExtensionRegistry(load_default_extensions=True))


def test_python_built_plan_runs(
    client: flight.FlightClient, tpch_conn: flightsql.Connection
) -> None:
    plan = nation_names_in_region(1).SerializeToString()
    expected = adbc_sql(tpch_conn, "SELECT n_name FROM nation WHERE n_regionkey = 1")
    assert expected.num_rows == 5
    assert_same_rows(flight_substrait(client, plan), expected)
    assert_same_rows(adbc_substrait(tpch_conn, plan), expected)


def _unknown_function() -> substrait_proto.Plan:
    plan = nation_names_in_region(1)
    for extension in plan.extensions:
        if extension.extension_function.name.startswith("equal"):
            extension.extension_function.name = "no_such_function:any_any"
    return plan


def _unsupported_relation() -> substrait_proto.Plan:
    plan = nation_names_in_region(1)
    root = plan.relations[0].root
    side = substrait_proto.Rel()
    side.CopyFrom(root.input)
    root.input.Clear()
    root.input.hash_join.left.CopyFrom(side)
    root.input.hash_join.right.CopyFrom(side)
    return plan


def _unsupported_type() -> substrait_proto.Plan:
    plan = nation_names_in_region(1)
    read = plan.relations[0].root.input.project.input.filter.input.read
    read.base_schema.struct.types[3].Clear()
    read.base_schema.struct.types[3].user_defined.type_reference = 77
    return plan


@pytest.mark.parametrize(
    ("build", "named"),
    [
        (_unknown_function, 'Unsupported function name: "no_such_function"'),
        (_unsupported_relation, "unsupported Substrait relation: HashJoinRel"),
        (_unsupported_type, "user defined type with ref 77"),
    ],
    ids=["function", "relation", "type"],
)
def test_unsupported_plans_are_invalid_argument_naming_what(
    client: flight.FlightClient, build: Any, named: str
) -> None:
    with pytest.raises(pa.ArrowInvalid) as raised:
        flight_substrait(client, build().SerializeToString())
    assert named in str(raised.value)
    assert "Rel {" not in str(raised.value)  # the message names; it does not dump the plan


def test_unknown_table_is_invalid_argument_naming_it(client: flight.FlightClient) -> None:
    plan = nation_names_in_region(1)
    read = plan.relations[0].root.input.project.input.filter.input.read
    read.named_table.names[:] = ["NO_SUCH_TABLE"]
    with pytest.raises(pa.ArrowInvalid, match="NO_SUCH_TABLE"):
        flight_substrait(client, plan.SerializeToString())
