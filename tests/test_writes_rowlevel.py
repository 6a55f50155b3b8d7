"""DELETE, UPDATE and MERGE INTO on Delta tables through SQL: a real server,
ADBC, and the same operations done by `deltalake` directly on a copy of each
table to compare with. Also: deletion vectors read by our provider, declared
constraints and double matches refused with nothing committed."""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from adbc_driver_manager import AdbcStatusCode
from deltalake import DeltaTable, QueryBuilder, TableFeatures, write_deltalake
from pyarrow import flight

from flightserver.protocol import commands
from flightserver.protocol.generated import flight_sql_pb2 as flight_sql
from tests.clients import query
from tests.deletion_vectors import delete_rows
from tests.server_process import ServerProcess

ROWS = 40


def base_rows() -> pa.Table:
    ids = list(range(1, ROWS + 1))
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "v": pa.array([float(i) for i in ids], pa.float64()),
            "p": pa.array([f"p{i % 4}" for i in ids], pa.string()),
        }
    )


# name -> (partitioned, deletion vectors in the log)
TABLES = {
    "plain": (False, False),
    "parts": (True, False),
    "plain_dv": (False, True),
    "parts_dv": (True, True),
}

KEYED = """
name = "keyed"
format = "delta"
location = "data/keyed"

[constraints]
primary_key = ["id"]
not_null = ["customer"]
checks = { qty_positive = "qty > 0" }
"""


def make_table(location: Path, partitioned: bool, deletion_vectors: bool) -> None:
    # Four appends: several files (per partition), as bulk ingest leaves them.
    rows = base_rows()
    for start in range(0, ROWS, 10):
        write_deltalake(
            location,
            rows.slice(start, 10),
            mode="append",
            partition_by=["p"] if partitioned else None,
        )
    if deletion_vectors:
        DeltaTable(location).alter.add_feature(
            TableFeatures.DeletionVectors, allow_protocol_versions_increase=True
        )
        # Another engine's DELETE: ids divisible by 7 are gone, by deletion vector.
        assert delete_rows(location, lambda row: row["id"] % 7 == 0) == ROWS // 7


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rowwrites-catalog")
    (root / "tables").mkdir()
    for name, (partitioned, dvs) in TABLES.items():
        make_table(root / "data" / name, partitioned, dvs)
        (root / "tables" / f"{name}.toml").write_text(
            f'name = "{name}"\nformat = "delta"\nlocation = "data/{name}"\n'
        )
    write_deltalake(
        root / "data/keyed",
        pa.table(
            {
                "id": pa.array([1, 2, 3], pa.int64()),
                "customer": ["ann", "bob", "cy"],
                "qty": pa.array([1, 2, 3], pa.int64()),
            }
        ),
    )
    (root / "tables/keyed.toml").write_text(KEYED)
    # A Parquet table (exact row statistics) as a MERGE source for the scan budget.
    ids = pa.array(range(100), pa.int64())
    pq.write_table(pa.table({"id": ids, "v": ids.cast(pa.float64())}), root / "data/src.parquet")
    (root / "tables/src.toml").write_text(
        'name = "src"\nformat = "parquet"\nlocation = "data/src.parquet"\n'
    )
    return root


@pytest.fixture(scope="module")
def copies(tmp_path_factory: pytest.TempPathFactory, catalog: Path) -> Path:
    """Each table as it was before the server wrote to it: deltalake's side."""
    root = tmp_path_factory.mktemp("rowwrites-copies")
    for name in TABLES:
        shutil.copytree(catalog / "data" / name, root / name)
    return root


@pytest.fixture(scope="module")
def server(
    catalog: Path, copies: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    state = tmp_path_factory.mktemp("rowwrites-state")
    args = ["--catalog-dir", str(catalog), "--state-dir", str(state), "--policy-allow-dml", "true"]
    # Maintenance commits versions of its own; these tests count the writes' versions.
    args += ["--maintenance-after-commit", "false"]
    with ServerProcess.start(args) as process:
        yield process


@pytest.fixture
def conn(server: ServerProcess) -> Iterator[flightsql.Connection]:
    with flightsql.connect(server.uri, autocommit=True) as connection:
        yield connection


def execute(conn: flightsql.Connection, sql: str, parameters: Any = None) -> int:
    with conn.cursor() as cursor:
        cursor.execute(sql, parameters)
        return cursor.rowcount


def deltalake_rows(location: Path) -> list[dict[str, Any]]:
    """The table as `deltalake`'s own reader sees it (deletion vectors applied)."""
    table = pa.table(
        QueryBuilder()
        .register("t", DeltaTable(str(location)))
        .execute("SELECT id, v, p FROM t")
        .read_all()
    )
    return sorted(table.to_pylist(), key=lambda row: row["id"])


def served_rows(conn: flightsql.Connection, table: str) -> list[dict[str, Any]]:
    return query(conn, f"SELECT id, v, p FROM {table} ORDER BY id").to_pylist()


# Each step: the SQL the server runs, and the same operation through deltalake
# (returning the affected row count it reports).
Step = tuple[str, Callable[[DeltaTable], int]]


def _merge_source() -> pa.Table:
    return pa.table(
        {
            "id": pa.array([3, 5, 6, 100, 101], pa.int64()),
            "v": pa.array([-3.0, -5.0, -6.0, 100.5, 101.5], pa.float64()),
        }
    )


def _deltalake_merge(table: DeltaTable) -> int:
    metrics = (
        table.merge(_merge_source(), "t.id = s.id", source_alias="s", target_alias="t")
        .when_matched_update({"v": "s.v"}, "s.v < -4")
        .when_matched_delete()
        .when_not_matched_insert({"id": "s.id", "v": "s.v", "p": "'new'"})
        .execute()
    )
    return sum(
        int(metrics[key])
        for key in (
            "num_target_rows_inserted",
            "num_target_rows_updated",
            "num_target_rows_deleted",
        )
    )


STEPS: list[Step] = [
    (
        "DELETE FROM {t} WHERE id < 3 OR p = 'p3' AND id > 30",
        lambda t: int(t.delete("id < 3 OR p = 'p3' AND id > 30")["num_deleted_rows"]),
    ),
    (
        "UPDATE {t} SET v = v * 2, p = upper(p) WHERE id BETWEEN 10 AND 20",
        lambda t: int(
            t.update(updates={"v": "v * 2", "p": "upper(p)"}, predicate="id BETWEEN 10 AND 20")[
                "num_updated_rows"
            ]
        ),
    ),
    (
        "MERGE INTO {t} AS t USING (SELECT * FROM (VALUES (3, -3.0), (5, -5.0), (6, -6.0), "
        "(100, 100.5), (101, 101.5)) AS s(id, v)) AS s ON t.id = s.id "
        "WHEN MATCHED AND s.v < -4 THEN UPDATE SET v = s.v "
        "WHEN MATCHED THEN DELETE "
        "WHEN NOT MATCHED THEN INSERT (id, v, p) VALUES (s.id, s.v, 'new')",
        _deltalake_merge,
    ),
]


@pytest.mark.parametrize("table", list(TABLES))
def test_statements_match_deltalake(
    conn: flightsql.Connection, catalog: Path, copies: Path, table: str
) -> None:
    assert served_rows(conn, table) == deltalake_rows(copies / table)
    for sql, by_deltalake in STEPS:
        affected = execute(conn, sql.format(t=table))
        expected = by_deltalake(DeltaTable(str(copies / table)))
        assert affected == expected, sql
        assert affected > 0, sql
        # Re-pinned: the next query reads the version just committed.
        assert served_rows(conn, table) == deltalake_rows(copies / table), sql
    assert deltalake_rows(catalog / "data" / table) == deltalake_rows(copies / table)


def test_not_matched_by_source_and_insert_by_position(
    conn: flightsql.Connection, catalog: Path
) -> None:
    # Another writer's commit: the MERGE reads the table's newest version.
    extra = pa.table({"id": pa.array([900], pa.int64()), "v": [9.0], "p": ["x"]})
    write_deltalake(catalog / "data/plain", extra, mode="append")
    affected = execute(
        conn,
        "MERGE INTO plain USING (SELECT 900 AS id, 1.5 AS v, 'y' AS p "
        "UNION ALL SELECT 901, 2.5, 'z') AS s ON plain.id = s.id "
        "WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.v, s.p) "
        "WHEN NOT MATCHED BY SOURCE AND plain.id > 30 THEN UPDATE SET v = 0",
    )
    rows = {row["id"]: row for row in deltalake_rows(catalog / "data/plain")}
    assert rows[901] == {"id": 901, "v": 2.5, "p": "z"}
    assert rows[900]["v"] == 9.0  # matched: no clause for it
    touched = [row for row in rows.values() if 30 < row["id"] < 900]
    assert touched and all(row["v"] == 0 for row in touched)
    assert affected == 1 + len(touched)


def test_prepared_statements_bind_parameters(conn: flightsql.Connection, catalog: Path) -> None:
    location = catalog / "data/parts"
    before = {row["id"]: row for row in deltalake_rows(location)}
    target = max(before)
    assert execute(conn, "UPDATE parts SET p = ?, v = ? WHERE id = ?", ("it's", 0.25, target)) == 1
    after = {row["id"]: row for row in deltalake_rows(location)}
    assert after[target] == {"id": target, "v": 0.25, "p": "it's"}
    assert execute(conn, "DELETE FROM parts WHERE id = ?", (target,)) == 1
    assert target not in {row["id"] for row in deltalake_rows(location)}
    merged = execute(
        conn,
        "MERGE INTO parts USING (SELECT CAST(? AS BIGINT) AS id) AS s ON parts.id = s.id "
        "WHEN NOT MATCHED THEN INSERT (id, v, p) VALUES (s.id, ?, 'param')",
        (target, 1.5),
    )
    assert merged == 1
    after = {row["id"]: row for row in deltalake_rows(location)}
    assert after[target] == {"id": target, "v": 1.5, "p": "param"}


def write_artifacts(uri: str, table: str) -> list[dict[str, Any]]:
    client = flight.FlightClient(uri)
    list(client.do_action(flight.Action("ListArtifacts", b'{"limit": 1}')))  # flushes
    with flightsql.connect(uri, autocommit=True) as conn:
        payloads = query(
            conn,
            "SELECT payload FROM system.queries WHERE target_table = "
            f"'datafusion.public.{table}' AND status = 'ok' ORDER BY recorded_at",
        )["payload"].to_pylist()
    return [json.loads(str(payload))["write"] for payload in payloads]


def test_artifacts_record_the_commit(
    conn: flightsql.Connection, server: ServerProcess, catalog: Path
) -> None:
    execute(conn, "CREATE TABLE arts AS SELECT * FROM (VALUES (1, 1.0), (2, 2.0)) AS v(id, v)")
    assert execute(conn, "DELETE FROM arts WHERE id = 1") == 1
    assert execute(conn, "UPDATE arts SET v = 5 WHERE id = 2") == 1
    merged = execute(
        conn,
        "MERGE INTO arts USING (SELECT 3 AS id, 3.0 AS v) AS s ON arts.id = s.id "
        "WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, s.v)",
    )
    assert merged == 1
    outcomes = write_artifacts(server.uri, "arts")
    assert [outcome["operation"] for outcome in outcomes] == ["write", "delete", "update", "merge"]
    delete, update, merge = outcomes[1:]
    assert delete["table_version"] == 1 and delete["rows_deleted"] == 1
    assert delete["files_removed"] == 1 and delete["files_added"] == 1
    assert update["table_version"] == 2 and update["rows_updated"] == 1
    assert merge["table_version"] == 3 and merge["rows_inserted"] == 1
    assert merge["files_added"] == 1 and merge["files_removed"] == 0
    # deltalake 1.6.6 rewrites files; it writes no deletion vectors.
    assert not any(outcome["deletion_vectors"] for outcome in outcomes)


def test_a_statement_matching_nothing_commits_nothing(
    conn: flightsql.Connection, catalog: Path
) -> None:
    version = DeltaTable(str(catalog / "data/keyed")).version()
    assert execute(conn, "DELETE FROM keyed WHERE id > 1000") == 0
    assert execute(conn, "UPDATE keyed SET qty = 5 WHERE id > 1000") == 0
    assert DeltaTable(str(catalog / "data/keyed")).version() == version


@pytest.mark.parametrize(
    ("sql", "constraint"),
    [
        ("UPDATE keyed SET qty = 0 WHERE id = 2", "qty_positive"),
        ("UPDATE keyed SET customer = NULL WHERE id = 1", "customer_not_null"),
        ("UPDATE keyed SET id = 1 WHERE id = 3", "pk"),
        (
            "MERGE INTO keyed AS k USING (SELECT 'dora' AS customer, 1 AS id) AS s "
            "ON k.customer = s.customer "
            "WHEN NOT MATCHED THEN INSERT (id, customer, qty) VALUES (s.id, s.customer, 1)",
            "pk",
        ),
        (
            "MERGE INTO keyed AS k USING (SELECT 2 AS id) AS s ON k.id = s.id "
            "WHEN MATCHED THEN UPDATE SET qty = -1",
            "qty_positive",
        ),
        (
            "MERGE INTO keyed AS k USING (SELECT 9 AS id) AS s ON k.id = s.id "
            "WHEN NOT MATCHED THEN INSERT (id, qty) VALUES (s.id, 4)",
            "customer_not_null",
        ),
    ],
)
def test_constraint_violations_commit_nothing(
    conn: flightsql.Connection, catalog: Path, sql: str, constraint: str
) -> None:
    location = str(catalog / "data/keyed")
    version = DeltaTable(location).version()
    with pytest.raises(flightsql.ProgrammingError) as refused:
        execute(conn, sql)
    message = str(refused.value)
    assert "INVALID_ARGUMENT" in message or "InvalidArgument" in message, message
    assert f"violates constraint {constraint}" in message, message
    assert DeltaTable(location).version() == version


def test_merge_matching_a_target_row_twice_is_refused(
    conn: flightsql.Connection, catalog: Path
) -> None:
    location = str(catalog / "data/keyed")
    version = DeltaTable(location).version()
    with pytest.raises(flightsql.ProgrammingError) as refused:
        execute(
            conn,
            "MERGE INTO keyed AS k USING (SELECT 1 AS id, 7 AS qty UNION ALL SELECT 1, 8) AS s "
            "ON k.id = s.id WHEN MATCHED THEN UPDATE SET qty = s.qty",
        )
    assert "multiple source rows" in str(refused.value)
    assert DeltaTable(location).version() == version


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        ("UPDATE keyed SET qty = 1 FROM plain WHERE keyed.id = plain.id", "UPDATE ... FROM"),
        ("DELETE FROM keyed WHERE id IN (SELECT id FROM plain)", "subquery"),
    ],
)
def test_unsupported_forms_are_refused_by_name(
    conn: flightsql.Connection, sql: str, named: str
) -> None:
    with pytest.raises(flightsql.ProgrammingError) as refused:
        execute(conn, sql)
    assert named in str(refused.value)


def test_deletion_vector_table_is_read_by_our_provider(
    conn: flightsql.Connection, server: ServerProcess, catalog: Path
) -> None:
    client = flight.FlightClient(server.uri)
    fresh = catalog / "data/dv_probe"
    make_table(fresh, partitioned=True, deletion_vectors=True)
    (catalog / "tables/dv_probe.toml").write_text(
        'name = "dv_probe"\nformat = "delta"\nlocation = "data/dv_probe"\n'
    )
    list(client.do_action(flight.Action("RefreshCatalog", b"{}")))
    (result,) = client.do_action(flight.Action("CatalogHealth", b"{}"))
    health = json.loads(result.body.to_pybytes())
    pins = {state["table"]: state for state in health["delta_tables"]}
    for name in ("plain_dv", "parts_dv", "dv_probe"):
        pin = pins[f"datafusion.public.{name}"]
        assert pin["provider"] == "flightserver" and pin["warning"] is None, pin
    rows = served_rows(conn, "dv_probe")
    assert rows == deltalake_rows(fresh)
    assert len(rows) == ROWS - ROWS // 7
    assert all(row["id"] % 7 for row in rows)
    # Partition pruning and statistics skipping still apply.
    explained = query(conn, "EXPLAIN ANALYZE SELECT id FROM dv_probe WHERE p = 'p1' AND id > 35")
    plan = "\n".join(str(line) for line in explained["plan"].to_pylist())
    assert "DeltaScanExec[v" in plan, plan
    read, candidates = _files_read(plan)
    assert candidates == 16 and read == 1, plan
    filtered = query(conn, "SELECT id FROM dv_probe WHERE p = 'p1' ORDER BY id")["id"].to_pylist()
    assert filtered == [i for i in range(1, ROWS + 1) if i % 4 == 1 and i % 7]


def _files_read(plan: str) -> tuple[int, int]:
    found = re.search(r"DeltaScanExec\[v\d+ files=(\d+)/(\d+)\]", plan)
    assert found, plan
    return int(found.group(1)), int(found.group(2))


def test_sigkill_during_a_large_merge_leaves_the_old_version(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    (catalog / "tables").mkdir(parents=True)
    location = catalog / "data/big"
    rows = 3_000_000
    ids = pa.array(range(rows), pa.int64())
    write_deltalake(location, pa.table({"id": ids, "v": ids.cast(pa.float64())}))
    (catalog / "tables/big.toml").write_text(
        'name = "big"\nformat = "delta"\nlocation = "data/big"\n'
    )
    before = DeltaTable(str(location)).version()
    existing = set(_entries(location))
    args = ["--catalog-dir", str(catalog), "--state-dir", str(tmp_path / "state")]
    args += ["--policy-allow-dml", "true"]
    with ServerProcess.start([*args, "--maintenance-after-commit", "false"]) as server:
        failure: list[str] = []

        def merge() -> None:
            statement = flight_sql.CommandStatementQuery(
                query="MERGE INTO big USING (SELECT id, v + 1 AS v FROM big) AS s "
                "ON big.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v"
            )
            # Plain Flight: the statement runs inside GetFlightInfo.
            client = flight.FlightClient(server.uri)
            try:
                client.get_flight_info(
                    flight.FlightDescriptor.for_command(commands.pack(statement))
                )
            except flight.FlightError as exc:  # the server died under it
                failure.append(str(exc))

        thread = threading.Thread(target=merge)
        thread.start()
        # deltalake stages each new data file in the table folder before it commits:
        # the first one to appear means the rewrite is under way.
        while not (set(_entries(location)) - existing) and thread.is_alive():
            pass
        server.process.kill()  # SIGKILL
        server.process.wait()
        thread.join()
        assert failure, "the MERGE cannot have succeeded against a killed server"
    table = DeltaTable(str(location))
    assert table.version() == before
    assert deltalake_sum(location) == (rows, sum(range(rows)))
    with (
        ServerProcess.start(args) as server,
        flightsql.connect(server.uri, autocommit=True) as conn,
    ):
        counted = query(conn, "SELECT count(*) AS n, sum(v) AS s FROM big").to_pylist()
        assert counted == [{"n": rows, "s": float(sum(range(rows)))}]


def _entries(location: Path) -> list[str]:
    return [entry.name for entry in os.scandir(location) if entry.name != "_delta_log"]


def deltalake_sum(location: Path) -> tuple[int, int]:
    result = pa.table(
        QueryBuilder()
        .register("t", DeltaTable(str(location)))
        .execute("SELECT count(*) AS n, CAST(sum(v) AS BIGINT) AS s FROM t")
        .read_all()
    ).to_pylist()[0]
    return int(result["n"]), int(result["s"])


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM plain WHERE id = 1",
        "UPDATE plain SET v = 0",
        "MERGE INTO plain USING (SELECT 1 AS id) AS s ON plain.id = s.id WHEN MATCHED THEN DELETE",
    ],
)
def test_without_allow_dml_row_level_writes_are_denied(
    read_only_server: ServerProcess, catalog: Path, sql: str
) -> None:
    version = DeltaTable(str(catalog / "data/plain")).version()
    with (
        flightsql.connect(read_only_server.uri, autocommit=True) as conn,
        pytest.raises(flightsql.ProgrammingError) as denied,
    ):
        query(conn, sql)
    assert denied.value.status_code == AdbcStatusCode.UNAUTHORIZED, str(denied.value)
    assert "dml" in str(denied.value).lower()
    assert DeltaTable(str(catalog / "data/plain")).version() == version


@pytest.fixture(scope="module")
def read_only_server(
    catalog: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """The same catalog with DML turned off."""
    state = tmp_path_factory.mktemp("rowwrites-read-only-state")
    args = ["--catalog-dir", str(catalog), "--state-dir", str(state), "--policy-allow-dml", "false"]
    with ServerProcess.start(args) as process:
        yield process


def test_key_checks_read_deletion_vectors(conn: flightsql.Connection, catalog: Path) -> None:
    location = catalog / "data/keyed"
    DeltaTable(str(location)).alter.add_feature(
        TableFeatures.DeletionVectors, allow_protocol_versions_increase=True
    )
    assert delete_rows(location, lambda row: row["id"] == 3) == 1  # another engine's DELETE
    # id 3 is gone (by deletion vector): it may be written again; id 1 may not.
    assert execute(conn, "INSERT INTO keyed VALUES (3, 'again', 1)") == 1
    with pytest.raises(flightsql.ProgrammingError) as refused:
        execute(conn, "INSERT INTO keyed VALUES (1, 'twice', 1)")
    assert "violates constraint pk" in str(refused.value)
    assert execute(conn, "UPDATE keyed SET qty = qty + 1 WHERE id = 3") == 1
    assert query(conn, "SELECT id, qty FROM keyed ORDER BY id").to_pylist() == [
        {"id": 1, "qty": 1},
        {"id": 2, "qty": 2},
        {"id": 3, "qty": 2},
    ]


def test_the_scan_budget_applies_to_a_merge_source(
    catalog: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    state = tmp_path_factory.mktemp("rowwrites-budget-state")
    args = ["--catalog-dir", str(catalog), "--state-dir", str(state)]
    args += ["--policy-allow-dml", "true", "--policy-max-scan-rows", "10"]
    args += ["--maintenance-after-commit", "false"]
    version = DeltaTable(str(catalog / "data/plain_dv")).version()
    with (
        ServerProcess.start(args) as budgeted,
        flightsql.connect(budgeted.uri, autocommit=True) as conn,
    ):
        with pytest.raises(flightsql.ProgrammingError) as denied:
            execute(
                conn,
                "MERGE INTO plain_dv USING (SELECT id, v FROM src) AS s "
                "ON plain_dv.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v",
            )
        assert denied.value.status_code == AdbcStatusCode.UNAUTHORIZED, str(denied.value)
        assert "scan_budget" in str(denied.value)
        # A small source passes the same budget.
        merged = execute(
            conn,
            "MERGE INTO plain_dv USING (SELECT 5000 AS id, 0.5 AS v) AS s "
            "ON plain_dv.id = s.id WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, s.v)",
        )
    assert merged == 1
    assert DeltaTable(str(catalog / "data/plain_dv")).version() == version + 1
