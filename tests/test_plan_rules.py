"""The rulepack's scan recorder and flight output rules, through a real server.

A query's artifact names the Delta snapshot version and exact files each scan
read (and what pruning left out); a plan bundle pins those files, and its
replay reads exactly them; a result of several partitions is served as several
Flight endpoints when the server is configured to.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake
from pyarrow import flight

from flightserver.protocol import commands
from flightserver.protocol.generated import flight_session_pb2 as fs
from flightserver.protocol.generated import flight_sql_pb2 as sql
from tests.clients import query
from tests.server_process import ServerProcess

DAYS = ["d1", "d2", "d3", "d4"]
PARTS = 4  # Parquet tables: files of `wide`


def events(write: int) -> pa.Table:
    rows = [(day, n) for day in DAYS for n in range(5)]
    return pa.table(
        {
            "id": pa.array([write * 100 + i for i in range(len(rows))], pa.int64()),
            "day": pa.array([day for day, _ in rows], pa.string()),
        }
    )


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rules-catalog")
    (root / "tables").mkdir()
    for write in range(2):
        write_deltalake(
            root / "data" / "events", events(write), partition_by=["day"], mode="append"
        )
    (root / "tables" / "events.toml").write_text(
        'name = "events"\nformat = "delta"\nlocation = "data/events"\n'
    )
    wide = root / "data" / "wide"
    wide.mkdir(parents=True)
    for part in range(PARTS):
        ids = pa.array(range(part * 1000, part * 1000 + 1000), pa.int64())
        pq.write_table(pa.table({"id": ids}), wide / f"part-{part}.parquet")
    (root / "tables" / "wide.toml").write_text(
        'name = "wide"\nformat = "parquet"\nlocation = "data/wide"\n'
    )
    return root


@pytest.fixture(scope="module")
def server(catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    state = tmp_path_factory.mktemp("rules-state")
    args = ["--catalog-dir", str(catalog), "--state-dir", str(state)]
    with ServerProcess.start(
        [*args, "--max-endpoints", "8", "--target-partitions", "4"]
    ) as process:
        yield process


@pytest.fixture
def client(server: ServerProcess) -> Iterator[flight.FlightClient]:
    with flight.FlightClient(server.uri) as flight_client:
        yield flight_client


def act(client: flight.FlightClient, name: str, body: dict[str, Any]) -> dict[str, Any]:
    [result] = list(client.do_action(flight.Action(name, json.dumps(body).encode())))
    return json.loads(result.body.to_pybytes())


def query_artifact(client: flight.FlightClient, conn: flightsql.Connection, marker: str) -> Any:
    act(client, "ListArtifacts", {"limit": 1})  # waits for recorded artifacts to be written
    [artifact_id] = (
        query(
            conn,
            "SELECT artifact_id FROM system.queries"
            f" WHERE artifact_type = 'query' AND sql LIKE '%{marker}%' AND sql NOT LIKE '%system%'",
        )
        .column("artifact_id")
        .to_pylist()
    )
    return act(client, "FetchArtifact", {"artifact_id": artifact_id})["query"]


def flight_info(client: flight.FlightClient, text: str) -> flight.FlightInfo:
    command = commands.pack(sql.CommandStatementQuery(query=text))
    return client.get_flight_info(flight.FlightDescriptor.for_command(command))


def test_artifact_names_delta_version_files_and_pruning(
    client: flight.FlightClient, conn: flightsql.Connection
) -> None:
    marker = f"m{uuid.uuid4().hex[:8]}"
    rows = query(conn, f"SELECT id AS {marker} FROM events WHERE day = 'd2'")
    assert rows.num_rows == 10
    artifact = query_artifact(client, conn, marker)
    [scan] = [scan for scan in artifact["scans"] if scan["delta"]]
    delta = scan["delta"]
    assert scan["node"] == "DeltaScanExec[v1 files=2/8]"
    assert delta["table_version"] == 1  # two appends: versions 0 and 1
    assert delta["file_count"] == 2 and all(path.startswith("day=d2/") for path in delta["files"])
    assert (delta["candidate_files"], delta["pruned_files"]) == (8, 6)
    expected = hashlib.sha256("\n".join(sorted(delta["files"])).encode()).hexdigest()
    assert delta["files_sha256"] == expected
    assert artifact["rulepack"]["rulepack_version"] >= 3
    assert len(artifact["policy_sha256"]) == 64


def test_other_scans_are_recorded_with_estimates(
    client: flight.FlightClient, conn: flightsql.Connection
) -> None:
    marker = f"m{uuid.uuid4().hex[:8]}"
    query(conn, f"SELECT sum(id) AS {marker} FROM wide WHERE id % 7 = 0")
    artifact = query_artifact(client, conn, marker)
    [scan] = artifact["scans"]
    assert scan["delta"] is None
    assert scan["node"] == "DataSourceExec" and scan["partitions"] >= 1
    assert scan["estimated_rows"] == PARTS * 1000


def test_bundle_pins_the_scanned_files_and_replays_them(
    client: flight.FlightClient, conn: flightsql.Connection, catalog: Path
) -> None:
    query = "SELECT id, day FROM events WHERE day = 'd3'"
    response = act(client, "GetPlanBundle", {"sql": query})
    [pin] = response["bundle"]["delta_pins"]
    assert pin["table"] == "datafusion.public.events"
    assert pin["file_count"] == 2 and all(path.startswith("day=d3/") for path in pin["files"])
    # A new file in the same partition: a replay must still read only the pinned files.
    write_deltalake(catalog / "data" / "events", events(7), partition_by=["day"], mode="append")
    replayed = act(client, "ReplayPlanBundle", {"artifact_id": response["artifact_id"]})
    assert replayed["identical"] is True and replayed["rows_out"] == 10


def test_partitions_become_endpoints_fetched_in_parallel(
    client: flight.FlightClient, conn: flightsql.Connection
) -> None:
    info = flight_info(client, "SELECT id FROM wide")
    assert len(info.endpoints) == PARTS
    with ThreadPoolExecutor(PARTS) as pool:
        parts = list(pool.map(lambda e: client.do_get(e.ticket).read_all(), info.endpoints))
    ids = pa.concat_tables(parts).column("id").sort().to_pylist()
    assert ids == list(range(PARTS * 1000))
    # A used endpoint cannot be read again; ADBC reads every endpoint of a result.
    with pytest.raises(pa.ArrowKeyError, match="unknown or has expired"):
        client.do_get(info.endpoints[0].ticket).read_all()
    assert query(conn, "SELECT id FROM wide").num_rows == PARTS * 1000


def test_ordered_results_stay_one_stream(client: flight.FlightClient) -> None:
    info = flight_info(client, "SELECT id FROM wide ORDER BY id DESC")
    [endpoint] = info.endpoints
    ids = client.do_get(endpoint.ticket).read_all().column("id").to_pylist()
    assert ids == sorted(range(PARTS * 1000), reverse=True)


def test_cancelling_a_result_cancels_all_its_endpoints(client: flight.FlightClient) -> None:
    info = flight_info(client, "SELECT id FROM wide")
    assert len(info.endpoints) > 1
    request = fs.CancelFlightInfoRequest(info=info.serialize())
    action = flight.Action("CancelFlightInfo", request.SerializeToString())
    [reply] = [result.body.to_pybytes() for result in client.do_action(action)]
    result = fs.CancelFlightInfoResult()
    result.ParseFromString(reply)
    assert result.status == fs.CANCEL_STATUS_CANCELLED
    for endpoint in info.endpoints:
        with pytest.raises(flight.FlightCancelledError):
            client.do_get(endpoint.ticket).read_all()


def test_forged_partition_tickets_are_refused(client: flight.FlightClient) -> None:
    info = flight_info(client, "SELECT id FROM wide")
    ticket = commands.unpack_as(sql.TicketStatementQuery, info.endpoints[0].ticket.ticket)
    handle = ticket.statement_handle[:16]
    first = client.do_get(info.endpoints[0].ticket)
    with pytest.raises(pa.ArrowInvalid, match="already being read"):
        client.do_get(info.endpoints[0].ticket).read_all()
    first.read_all()
    for forged in (handle + (99).to_bytes(4, "big"), handle):
        packed = commands.pack(sql.TicketStatementQuery(statement_handle=forged))
        with pytest.raises(pa.ArrowInvalid, match="no endpoint"):
            client.do_get(flight.Ticket(packed)).read_all()


def test_rulepack_identity_is_readable_through_an_action(
    client: flight.FlightClient, conn: flightsql.Connection
) -> None:
    rulepack = act(client, "GetRulepack", {})
    assert rulepack["rules"] == [
        "flightserver.scan_budget",
        "flightserver.sink_guard",
        "flightserver.result_rows",
        "flightserver.scan_recorder",
        "flightserver.ordered_output",
        "flightserver.flight_output",
    ]
    assert rulepack["config"]["max_endpoints"] == 8
    assert rulepack["policy"] == "default"
    # The identity every artifact records is the one the action reads.
    marker = f"m{uuid.uuid4().hex[:8]}"
    query(conn, f"SELECT count(*) AS {marker} FROM events")
    artifact = query_artifact(client, conn, marker)
    assert artifact["rulepack"] == rulepack["rulepack"]
    assert artifact["policy_sha256"] == rulepack["policy_sha256"]
