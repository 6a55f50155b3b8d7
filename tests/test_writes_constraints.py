"""Constraints declared once in the catalog definition: applied to the Delta
table, enforced on every write (INSERT, CREATE TABLE AS, ingest) with
INVALID_ARGUMENT naming the constraint and nothing committed, and listed by
GetPrimaryKeys and `system.constraints`. A real server, ADBC and Flight."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from pyarrow import flight

from flightserver.protocol import commands
from flightserver.protocol.generated import flight_sql_pb2 as sql
from tests.server_process import ServerProcess

ORDERS = """
name = "orders"
format = "delta"
location = "data/orders"

[constraints]
primary_key = ["id"]
not_null = ["customer"]
checks = { qty_positive = "qty > 0" }
"""
STOCK = """
name = "stock"
format = "delta"
location = "data/stock"

[constraints]
primary_key = ["sku", "site"]
checks = { level_bounded = "level <= 1000" }
"""
RETURNS = """
name = "returns"
format = "delta"
location = "data/returns"

[constraints]
checks = { amount_positive = "amount > 0" }
"""


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("constraints-catalog")
    (folder / "tables").mkdir()
    for name, text in {"orders": ORDERS, "stock": STOCK, "returns": RETURNS}.items():
        (folder / f"tables/{name}.toml").write_text(text)
    stock = pa.table({"sku": ["a", "b"], "site": [1, 1], "level": [5, 7]})
    write_deltalake(str(folder / "data/stock"), stock)  # exists before the server starts
    return folder


@pytest.fixture(scope="module")
def cserver(catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    state = tmp_path_factory.mktemp("constraints-state")
    args = ["--catalog-dir", str(catalog), "--state-dir", str(state)]
    with ServerProcess.start([*args, "--policy-allow-dml", "true"]) as process:
        yield process


@pytest.fixture(scope="module")
def orders(cserver: ServerProcess, catalog: Path) -> str:
    """Creates `orders` with CREATE TABLE AS; returns its location."""
    with flightsql.connect(cserver.uri, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE orders AS SELECT * FROM (VALUES (1, 'ann', 2), (2, 'bob', 5))"
            " AS v(id, customer, qty)"
        )
    return str(catalog / "data/orders")


@pytest.fixture
def cconn(cserver: ServerProcess) -> Iterator[flightsql.Connection]:
    with flightsql.connect(cserver.uri, autocommit=True) as connection:
        yield connection


def execute(conn: flightsql.Connection, statement: str) -> None:
    with conn.cursor() as cursor:
        cursor.execute(statement)


def count(conn: flightsql.Connection, table: str) -> int:
    with conn.cursor() as cursor:
        cursor.execute(f"SELECT count(*) AS n FROM {table}")
        return int(cursor.fetch_arrow_table()["n"][0].as_py())


def test_created_table_carries_the_declared_constraints(orders: str) -> None:
    table = DeltaTable(orders)
    schema = pa.schema(table.schema().to_arrow())  # pyright: ignore[reportArgumentType]
    assert {field.name: field.nullable for field in schema} == {
        "id": False,
        "customer": False,
        "qty": True,
    }
    # NOT NULL: the fields themselves; CHECKs: Delta constraints.
    configuration = table.metadata().configuration
    assert {key: value for key, value in configuration.items() if "constraints" in key} == {
        "delta.constraints.qty_positive": "qty > 0"
    }


def test_loaded_table_gets_the_declared_constraints(cserver: ServerProcess, catalog: Path) -> None:
    configuration = DeltaTable(str(catalog / "data/stock")).metadata().configuration
    assert configuration["delta.constraints.level_bounded"] == "level <= 1000"
    assert configuration["delta.constraints.sku_not_null"] == "sku IS NOT NULL"


@pytest.mark.parametrize(
    ("statement", "constraint"),
    [
        ("INSERT INTO orders VALUES (3, 'cy', 0)", "qty_positive"),
        ("INSERT INTO orders VALUES (3, NULL, 1)", "customer_not_null"),
        ("INSERT INTO orders (customer, qty) VALUES ('cy', 1)", "id_not_null"),
        ("INSERT INTO orders VALUES (3, 'cy', 1), (3, 'di', 1)", "pk"),
        ("INSERT INTO orders VALUES (2, 'cy', 1)", "pk"),
    ],
)
def test_violating_insert_is_rejected_naming_the_constraint(
    cconn: flightsql.Connection, orders: str, statement: str, constraint: str
) -> None:
    version = DeltaTable(orders).version()
    with pytest.raises(flightsql.Error, match=rf"INVALID_ARGUMENT.*constraint {constraint}"):
        execute(cconn, statement)
    assert DeltaTable(orders).version() == version
    assert count(cconn, "orders") == 2


def test_valid_writes_commit(cconn: flightsql.Connection, catalog: Path) -> None:
    before = count(cconn, "stock")
    execute(cconn, "INSERT INTO stock VALUES ('a', 2, 1)")
    with cconn.cursor() as cursor:
        cursor.adbc_ingest(
            "stock", pa.table({"sku": ["c"], "site": [1], "level": [9]}), mode="append"
        )
    assert count(cconn, "stock") == before + 2


def test_violating_ingest_is_rejected(cconn: flightsql.Connection, catalog: Path) -> None:
    location = str(catalog / "data/stock")
    version = DeltaTable(location).version()
    with cconn.cursor() as cursor, pytest.raises(flightsql.Error, match="level_bounded"):
        cursor.adbc_ingest(
            "stock", pa.table({"sku": ["z"], "site": [9], "level": [5000]}), mode="append"
        )
    with cconn.cursor() as cursor, pytest.raises(flightsql.Error, match="constraint pk"):
        cursor.adbc_ingest(
            "stock", pa.table({"sku": ["a"], "site": [1], "level": [1]}), mode="append"
        )
    assert DeltaTable(location).version() == version


def test_violating_create_table_as_leaves_no_table(
    cconn: flightsql.Connection, catalog: Path
) -> None:
    with pytest.raises(flightsql.Error, match=r"INVALID_ARGUMENT.*amount_positive"):
        execute(cconn, "CREATE TABLE returns AS SELECT 1 AS id, -5 AS amount")
    assert not DeltaTable.is_deltatable(str(catalog / "data/returns"))
    execute(cconn, "CREATE TABLE returns AS SELECT 1 AS id, 5 AS amount")
    assert count(cconn, "returns") == 1


def test_get_primary_keys_lists_the_declared_keys(cserver: ServerProcess) -> None:
    client = flight.FlightClient(cserver.uri)

    def keys(command: sql.CommandGetPrimaryKeys) -> list[dict[str, object]]:
        descriptor = flight.FlightDescriptor.for_command(commands.pack(command))
        info = client.get_flight_info(descriptor)
        return client.do_get(info.endpoints[0].ticket).read_all().to_pylist()

    assert keys(sql.CommandGetPrimaryKeys(table="stock")) == [
        {
            "catalog_name": "datafusion",
            "db_schema_name": "public",
            "table_name": "stock",
            "column_name": column,
            "key_name": "pk",
            "key_sequence": sequence,
        }
        for sequence, column in ((1, "sku"), (2, "site"))
    ]
    assert (
        keys(sql.CommandGetPrimaryKeys(table="orders", db_schema="public"))[0]["column_name"]
        == "id"
    )
    assert keys(sql.CommandGetPrimaryKeys(table="returns")) == []
    assert keys(sql.CommandGetPrimaryKeys(table="stock", catalog="other")) == []


def test_system_constraints_lists_every_constraint(cconn: flightsql.Connection) -> None:
    with cconn.cursor() as cursor:
        cursor.execute(
            "SELECT constraint_name, constraint_type, column_name, check_expression"
            " FROM system.constraints WHERE table_name = 'orders' ORDER BY constraint_name"
        )
        rows = cursor.fetch_arrow_table().to_pylist()
    assert [tuple(row.values()) for row in rows] == [
        ("customer_not_null", "NOT NULL", "customer", None),
        ("id_not_null", "NOT NULL", "id", None),
        ("pk", "PRIMARY KEY", "id", None),
        ("qty_positive", "CHECK", None, "qty > 0"),
    ]


def test_violation_message_is_the_servers_own(cconn: flightsql.Connection, orders: str) -> None:
    with pytest.raises(flightsql.Error) as raised:
        execute(cconn, "INSERT INTO orders VALUES (7, 'ed', -1)")
    message = str(raised.value)
    assert "write to datafusion.public.orders violates constraint qty_positive" in message
    assert "Traceback" not in message


def test_declared_table_created_by_a_write_counts_as_loaded(
    cserver: ServerProcess, orders: str
) -> None:
    client = flight.FlightClient(cserver.uri)
    [result] = client.do_action(flight.Action("health", b""))
    report = json.loads(result.body.to_pybytes())
    assert not [failed for failed in report["failed"] if "orders.toml" in failed["source"]]
    assert report["tables_loaded"] >= 2  # orders (created by a write) and stock
