"""Plan actions, the artifact store and `system.queries`, through real Flight clients."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pytest
from datafusion import SessionContext
from google.protobuf import any_pb2
from pyarrow import flight

from flightserver.artifacts.model import QueryArtifact, StatementStatus
from flightserver.artifacts.store import ArtifactStore, Retention
from flightserver.catalog.delta import DeltaTables
from flightserver.protocol.generated import flight_sql_pb2 as sql
from tests.server_process import ServerProcess

PLAN_ACTIONS = {
    "GetSubstraitPlan",
    "Explain",
    "GetPlanBundle",
    "ReplayPlanBundle",
    "ListArtifacts",
    "FetchArtifact",
    "GetJsonSchemas",
}
JOIN_QUERY = (
    "SELECT n_name, count(*) AS customers FROM customer"
    " JOIN nation ON c_nationkey = n_nationkey GROUP BY n_name"
)


@pytest.fixture
def client(server: ServerProcess) -> Iterator[flight.FlightClient]:
    with flight.connect(server.uri) as connection:
        yield connection


def act(client: flight.FlightClient, name: str, body: dict[str, Any]) -> dict[str, Any]:
    [result] = client.do_action(flight.Action(name, json.dumps(body).encode()))
    return json.loads(result.body.to_pybytes())


def run_substrait(conn: flightsql.Connection, plan: bytes) -> pa.Table:
    with conn.cursor() as cur:
        cur.execute(plan)  # bytes: a Substrait plan
        return cur.fetch_arrow_table()


def run_sql(conn: flightsql.Connection, query: str) -> pa.Table:
    with conn.cursor() as cur:
        cur.execute(query)
        return cur.fetch_arrow_table()


def sorted_rows(table: pa.Table) -> list[tuple[Any, ...]]:
    return sorted(zip(*(column.to_pylist() for column in table.columns), strict=True))


def test_actions_are_listed_with_descriptions(client: flight.FlightClient) -> None:
    # pyarrow returns ActionType values; its stubs say Action.
    listed = {a.type: a.description for a in client.list_actions()}  # pyright: ignore[reportAttributeAccessIssue]
    assert listed.keys() >= PLAN_ACTIONS
    assert all(len(listed[name]) > 20 for name in PLAN_ACTIONS)


def test_explain_gives_logical_optimized_and_physical_plans(client: flight.FlightClient) -> None:
    explained = act(client, "Explain", {"sql": JOIN_QUERY})
    assert explained["logical_plan"].startswith("Projection:")
    assert "TableScan: nation" in explained["optimized_plan"]
    assert "HashJoinExec" in explained["physical_plan"]


def test_substrait_plan_of_sql_runs_through_adbc(
    client: flight.FlightClient, conn: flightsql.Connection
) -> None:
    response = act(client, "GetSubstraitPlan", {"sql": JOIN_QUERY})
    plan = base64.b64decode(response["plan"])
    assert response["substrait_version"].count(".") == 2
    assert sorted_rows(run_substrait(conn, plan)) == sorted_rows(run_sql(conn, JOIN_QUERY))


def test_substrait_plan_of_prepared_statement(
    client: flight.FlightClient, conn: flightsql.Connection
) -> None:
    request = any_pb2.Any()
    request.Pack(sql.ActionCreatePreparedStatementRequest(query="SELECT r_name FROM region"))
    [created] = client.do_action(
        flight.Action("CreatePreparedStatement", request.SerializeToString())
    )
    wrapper = any_pb2.Any.FromString(created.body.to_pybytes())
    result = sql.ActionCreatePreparedStatementResult()
    wrapper.Unpack(result)
    handle = base64.b64encode(result.prepared_statement_handle).decode()
    response = act(client, "GetSubstraitPlan", {"prepared_statement_handle": handle})
    table = run_substrait(conn, base64.b64decode(response["plan"]))
    assert sorted(str(name) for name in table.column(0).to_pylist()) == [
        "AFRICA",
        "AMERICA",
        "ASIA",
        "EUROPE",
        "MIDDLE EAST",
    ]


def test_unknown_prepared_handle_is_not_found(client: flight.FlightClient) -> None:
    handle = base64.b64encode(b"no such handle").decode()
    with pytest.raises(pa.ArrowKeyError):
        act(client, "GetSubstraitPlan", {"prepared_statement_handle": handle})


def test_plan_actions_refuse_statements_that_write(client: flight.FlightClient) -> None:
    with pytest.raises(pa.ArrowInvalid, match="DML not supported"):
        act(client, "GetPlanBundle", {"sql": "INSERT INTO region VALUES (9, 'X', 'Y')"})


def test_plan_bundle_describes_the_query(
    client: flight.FlightClient, conn: flightsql.Connection
) -> None:
    response = act(client, "GetPlanBundle", {"sql": JOIN_QUERY})
    bundle = response["bundle"]
    assert bundle["sql"] == JOIN_QUERY
    assert bundle["normalized_sql"].startswith("SELECT nation.n_name")
    assert bundle["rows_out"] == run_sql(conn, JOIN_QUERY).num_rows == 25
    round_trip = bundle["substrait_round_trip"]
    assert round_trip["identical"] is round_trip["stable"] is round_trip["same_result"] is True
    rulepack = bundle["rulepack"]
    assert rulepack["name"] == "flightserver.rulepack" and rulepack["rulepack_version"] >= 3
    assert re.fullmatch("[0-9a-f]{64}", rulepack["config_sha256"])
    assert re.fullmatch("[0-9a-f]{64}", bundle["policy_sha256"])
    [pin] = bundle["delta_pins"]
    assert pin["table"] == "datafusion.public.customer"
    assert pin["table_version"] == 0 and pin["file_count"] == len(pin["files"]) >= 1
    assert pin["file_set_sha256"] == hashlib.sha256("\n".join(pin["files"]).encode()).hexdigest()
    [external] = bundle["external_tables"]
    assert external["table"] == "datafusion.public.nation"
    assert external["ddl"].startswith('CREATE EXTERNAL TABLE "datafusion"."public"."nation"')
    # The same query planned again has the same identity.
    again = act(client, "GetPlanBundle", {"sql": JOIN_QUERY})["bundle"]
    for key in ("plan_sha256", "substrait_sha256", "result_sha256", "information_schema_sha256"):
        assert again[key] == bundle[key]

    fetched = act(client, "FetchArtifact", {"artifact_id": response["artifact_id"]})
    assert fetched["artifact_type"] == "plan_bundle"
    assert fetched["plan_bundle"] == bundle
    listed = act(client, "ListArtifacts", {"artifact_type": "plan_bundle", "limit": 50})
    assert response["artifact_id"] in {item["artifact_id"] for item in listed["artifacts"]}


def test_unknown_artifact_is_not_found(client: flight.FlightClient) -> None:
    with pytest.raises(pa.ArrowKeyError):
        act(client, "FetchArtifact", {"artifact_id": str(uuid.uuid4())})
    with pytest.raises(pa.ArrowKeyError):
        act(client, "ReplayPlanBundle", {"artifact_id": str(uuid.uuid4())})


def test_replay_reads_the_pinned_delta_version(
    client: flight.FlightClient, conn: flightsql.Connection
) -> None:
    table = f"replay_{uuid.uuid4().hex[:8]}"
    first = pa.table({"k": pa.array([1, 2, 3], pa.int64())})
    with conn.cursor() as cur:
        cur.adbc_ingest(table, first, mode="create")
    query = f"SELECT k, k * 10 AS k10 FROM {table}"
    response = act(client, "GetPlanBundle", {"sql": query})
    with conn.cursor() as cur:
        cur.adbc_ingest(table, pa.table({"k": pa.array([4], pa.int64())}), mode="append")
    assert run_sql(conn, query).num_rows == 4  # the table moved on

    replayed = act(client, "ReplayPlanBundle", {"artifact_id": response["artifact_id"]})
    assert replayed["identical"] is True
    assert replayed["rows_out"] == 3
    assert replayed["result_sha256"] == response["bundle"]["result_sha256"]

    act(client, "ListArtifacts", {"limit": 1})  # waits for recorded artifacts to be written
    ingests = run_sql(
        conn,
        "SELECT status, rows_out FROM system.queries"
        f" WHERE kind = 'ingest' AND target_table = 'datafusion.public.{table}'"
        " ORDER BY recorded_at",
    ).to_pylist()
    assert [(row["status"], row["rows_out"]) for row in ingests] == [("ok", 3), ("ok", 1)]


def test_statements_leave_rows_in_system_queries(
    client: flight.FlightClient, conn: flightsql.Connection
) -> None:
    marker = f"marker_{uuid.uuid4().hex[:8]}"  # in every statement's text
    table = f"history_{marker}"
    run_sql(conn, f"SELECT 42 AS {marker}")
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} AS SELECT 1 AS {marker}")
        cur.execute(f"INSERT INTO {table} VALUES (2), (3)")
        with pytest.raises(flightsql.Error):
            cur.execute(f"SELECT no_such_column_{marker} FROM region")
    act(client, "ListArtifacts", {"limit": 1})  # waits for recorded artifacts to be written

    history = run_sql(
        conn,
        "SELECT kind, status, rows_out, error FROM system.queries"
        f" WHERE artifact_type = 'query' AND sql LIKE '%{marker}%' ORDER BY recorded_at",
    ).to_pylist()
    assert [(row["kind"], row["status"], row["rows_out"]) for row in history] == [
        ("query", "ok", 1),
        ("update", "ok", 1),  # CREATE TABLE AS writes a Delta table
        ("update", "ok", 2),
        ("query", "error", 0),
    ]
    assert f"no_such_column_{marker}" in history[-1]["error"]


def _artifact(recorded_at: datetime) -> QueryArtifact:
    return QueryArtifact(
        artifact_id=str(uuid.uuid4()),
        recorded_at=recorded_at,
        kind="query",
        status=StatementStatus.OK,
        sql="SELECT 1",
        planning_ms=0.1,
        execution_ms=0.1,
        rows_out=1,
        bytes_out=8,
    )


def test_store_retention_bounds_age_and_rows(tmp_path: Path) -> None:
    ctx = SessionContext()
    retention = Retention(max_age=timedelta(days=1), max_rows=3)
    store = ArtifactStore(ctx, DeltaTables(), tmp_path, "datafusion", retention=retention)
    now = datetime.now(UTC)
    old = _artifact(now - timedelta(days=2))
    recent = [_artifact(now - timedelta(minutes=minutes)) for minutes in range(5)]
    for artifact in [old, *recent]:
        store.record(lambda artifact=artifact: artifact)
    store.flush()
    assert ctx.sql("SELECT count(*) AS n FROM datafusion.system.queries").to_pydict()["n"] == [6]
    store.maintain()
    kept = store.rows(None, 100).column("artifact_id").to_pylist()
    assert kept == [artifact.artifact_id for artifact in recent[:3]]
    assert ctx.sql("SELECT count(*) AS n FROM datafusion.system.queries").to_pydict()["n"] == [3]
    store.close()
