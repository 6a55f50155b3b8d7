"""Scale-out: a coordinator (`serve --workers`) and three `flightserver worker`
processes on loopback, against the same catalog served without workers."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import adbc_driver_flightsql.dbapi as flightsql
import fastavro
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from adbc_driver_manager import AdbcStatusCode, Error
from deltalake import DeltaTable, TableFeatures, write_deltalake

from flightserver.auth.users import hash_password
from tests.catalog_files import write_arrow, write_csv, write_ndjson
from tests.clients import query
from tests.deletion_vectors import delete_rows
from tests.jdbc.probe import ProbeRunner, Report, ResultTable
from tests.jdbc.toolchain import compile_probe, fetch_driver
from tests.server_process import ServerProcess
from tests.test_jdbc import DRIVER_VERSIONS

WORKER_LISTENING = re.compile(r"worker listening on (\S+)")
SECRET = "test-worker-secret"
# Every scan of the test tables but `dim` is beyond it (times 2 target partitions).
BYTES_PER_PARTITION = "2048"


def facts(start: int, rows: int) -> pa.Table:
    ids = pa.array(range(start, start + rows), pa.int64())
    return pa.table(
        {
            "id": ids,
            "k": pc.cast(pc.bit_wise_and(ids, pa.scalar(7, pa.int64())), pa.int32()),
            "v": pc.multiply(pc.cast(ids, pa.float64()), pa.scalar(0.5)),
            "s": pa.array([f"name-{i % 13}" for i in range(start, start + rows)]),
        }
    )


def write_catalog(root: Path) -> Path:
    data = root / "data"
    for part in range(4):
        target = data / "facts" / f"part-{part}.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(facts(part * 5000, 5000), target)
    for part in range(3):
        write_deltalake(
            str(data / "events"),
            facts(100_000 + part * 4000, 4000).append_column(
                "day", pa.array([f"2026-12-0{1 + part}"] * 4000)
            ),
            mode="append",
            partition_by=["day"],
        )
    # Another engine deleted every tenth row by deletion vector: workers must get the
    # vectors with the pinned files, or they return the deleted rows.
    vectors = data / "events_dv"
    for part in range(2):
        write_deltalake(str(vectors), facts(part * 5000, 5000), mode="append")
    DeltaTable(str(vectors)).alter.add_feature(
        TableFeatures.DeletionVectors, allow_protocol_versions_increase=True
    )
    assert delete_rows(vectors, lambda row: row["id"] % 10 == 0) == 1000
    formats = facts(0, 6000)
    write_csv(data / "facts_csv" / "part-0.csv", formats)
    write_ndjson(data / "facts_json" / "part-0.json", formats)
    write_arrow(data / "facts_arrow" / "part-0.arrow", formats)
    write_avro_facts(data / "facts_avro" / "part-0.avro", formats)
    pq.write_table(
        pa.table({"k": pa.array(range(8), pa.int32()), "label": list("abcdefgh")}),
        data / "dim.parquet",
    )
    tables = root / "tables"
    tables.mkdir()
    (tables / "facts.toml").write_text(
        'name = "facts"\nformat = "parquet"\nlocation = "data/facts/"\n'
    )
    (tables / "events.toml").write_text(
        'name = "events"\nformat = "delta"\nlocation = "data/events"\n'
    )
    (tables / "events_dv.toml").write_text(
        'name = "events_dv"\nformat = "delta"\nlocation = "data/events_dv"\n'
    )
    (tables / "dim.toml").write_text(
        'name = "dim"\nformat = "parquet"\nlocation = "data/dim.parquet"\n'
    )
    for name, kind in FILE_FORMATS.items():
        (tables / f"facts_{name}.toml").write_text(
            f'name = "facts_{name}"\nformat = "{kind}"\nlocation = "data/facts_{name}/"\n'
        )
    return root


# Listing table formats besides Parquet: table suffix, catalog format.
FILE_FORMATS = {"csv": "csv", "json": "ndjson", "arrow": "arrow", "avro": "avro"}


def write_avro_facts(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    schema = {
        "type": "record",
        "name": "fact",
        "fields": [
            {"name": "id", "type": "long"},
            {"name": "k", "type": "int"},
            {"name": "v", "type": "double"},
            {"name": "s", "type": "string"},
        ],
    }
    with path.open("wb") as stream:
        fastavro.writer(stream, fastavro.parse_schema(schema), table.to_pylist())


@dataclass
class Cluster:
    coordinator: ServerProcess
    local: ServerProcess
    workers: list[ServerProcess]
    secret_file: Path
    catalog_dir: Path

    def worker_addresses(self) -> list[str]:
        return [worker.uri.removeprefix("grpc://") for worker in self.workers]

    def another_coordinator(self, state_dir: Path, *extra: str) -> ServerProcess:
        """A coordinator of this cluster's workers, with `extra` server flags."""
        return ServerProcess.start(
            coordinator_args(
                self.catalog_dir, state_dir, self.worker_addresses(), self.secret_file, *extra
            )
        )


def start_worker(secret_file: Path | None) -> ServerProcess:
    args = ["--secret-file", str(secret_file)] if secret_file is not None else []
    return ServerProcess.start(
        args,
        command=(sys.executable, "-m", "flightserver", "worker", "--port", "0"),
        listening=WORKER_LISTENING,
    )


def server_args(catalog_dir: Path, state_dir: Path, *extra: str) -> list[str]:
    return [
        "--catalog-dir",
        str(catalog_dir),
        "--state-dir",
        str(state_dir),
        "--target-partitions",
        "2",
        "--result-cache-enabled",
        "false",
        *extra,
    ]


def coordinator_args(
    catalog_dir: Path, state_dir: Path, workers: list[str], secret_file: Path, *extra: str
) -> list[str]:
    return server_args(
        catalog_dir,
        state_dir,
        "--workers",
        ",".join(workers),
        "--distributed-secret-file",
        str(secret_file),
        "--distributed-bytes-per-partition",
        BYTES_PER_PARTITION,
        "--distributed-probe-interval-seconds",
        "0.5",
        *extra,
    )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("distributed")
    catalog_dir = write_catalog(root)
    secret_file = root / "secret"
    secret_file.write_text(SECRET + "\n")
    workers = [start_worker(secret_file) for _ in range(3)]
    addresses = [worker.uri.removeprefix("grpc://") for worker in workers]
    coordinator = ServerProcess.start(
        coordinator_args(catalog_dir, root / "state-c", addresses, secret_file)
    )
    local = ServerProcess.start(server_args(catalog_dir, root / "state-l"))
    try:
        yield Cluster(coordinator, local, workers, secret_file, catalog_dir)
    finally:
        for process in (coordinator, local, *workers):
            process.stop()


def run(server: ServerProcess, sql: str) -> pa.Table:
    with flightsql.connect(server.uri, autocommit=True) as conn:
        return query(conn, sql)


def explained(server: ServerProcess, sql: str) -> dict[str, str]:
    table = run(server, f"EXPLAIN {sql}")
    types = [str(value) for value in table.column("plan_type").to_pylist()]
    plans = [str(value) for value in table.column("plan").to_pylist()]
    return dict(zip(types, plans, strict=True))


def canonical(table: pa.Table, ordered: bool) -> list[dict[str, object]]:
    rows = table.to_pylist()
    return (
        rows
        if ordered
        else sorted(rows, key=lambda row: json.dumps(row, sort_keys=True, default=str))
    )


QUERIES = {
    "aggregate": (
        "SELECT k, count(*) AS n, sum(v) AS total, min(s) AS first FROM facts GROUP BY k",
        False,
    ),
    "join": (
        "SELECT d.label, count(*) AS n, avg(f.v) AS mean FROM facts f JOIN dim d ON f.k = d.k "
        "GROUP BY d.label",
        False,
    ),
    "self join": (
        "SELECT a.k, count(*) AS n FROM facts a JOIN facts b ON a.id = b.id + 1 GROUP BY a.k",
        False,
    ),
    "window": (
        "SELECT id, k, rank() OVER (PARTITION BY k ORDER BY v DESC) AS r FROM facts "
        "WHERE id % 97 = 0",
        False,
    ),
    "grouping sets": (
        "SELECT k, s, grouping(k) AS gk, count(*) AS n FROM facts GROUP BY ROLLUP (k, s)",
        False,
    ),
    "order by limit": ("SELECT id, v, s FROM facts ORDER BY v DESC, id LIMIT 25", True),
    "delta aggregate": (
        "SELECT day, k, count(*) AS n, sum(v) AS total FROM events GROUP BY day, k",
        False,
    ),
    "delta join parquet": (
        "SELECT e.day, count(*) AS n FROM events e JOIN facts f ON e.k = f.k AND f.id < 50 "
        "GROUP BY e.day",
        False,
    ),
    "delta deletion vectors": (
        "SELECT k, count(*) AS n, sum(id) AS ids FROM events_dv GROUP BY k",
        False,
    ),
    "delta pruned": (
        "SELECT count(*) AS n, max(id) AS top FROM events WHERE day = '2026-12-02'",
        True,
    ),
}


@pytest.mark.parametrize("name", list(QUERIES))
def test_distributed_answers_equal_local(cluster: Cluster, name: str) -> None:
    sql, ordered = QUERIES[name]
    plan = explained(cluster.coordinator, sql)
    assert plan["distribution"].startswith("distributed:"), plan
    assert "Stage" in plan["distributed_plan"], plan["distributed_plan"]
    got = run(cluster.coordinator, sql)
    expected = run(cluster.local, sql)
    assert got.schema.names == expected.schema.names
    assert canonical(got, ordered) == canonical(expected, ordered)
    assert got.num_rows > 0


@pytest.mark.parametrize("name", list(FILE_FORMATS))
def test_every_listing_format_runs_on_workers(cluster: Cluster, name: str) -> None:
    sql = f"SELECT k, count(*) AS n, sum(id) AS ids, max(s) AS top FROM facts_{name} GROUP BY k"
    # Avro files are read whole, by one task: such a scan alone is not worth shipping.
    where = "local:" if name == "avro" else "distributed:"
    assert explained(cluster.coordinator, sql)["distribution"].startswith(where)
    got = run(cluster.coordinator, sql)
    assert got.num_rows == 8
    assert canonical(got, False) == canonical(run(cluster.local, sql), False)


def test_small_query_stays_local_and_explain_says_why(cluster: Cluster) -> None:
    plan = explained(cluster.coordinator, "SELECT * FROM dim")
    assert plan["distribution"].startswith("local: largest scan"), plan
    assert "threshold of 4096" in plan["distribution"]
    assert "physical_plan" in plan
    assert run(cluster.coordinator, "SELECT count(*) AS n FROM dim").column("n").to_pylist() == [8]


def test_artifact_records_stages_and_workers(cluster: Cluster) -> None:
    marker = f"marker_{time.time_ns()}"
    sql = f"SELECT k, count(*) AS {marker} FROM facts GROUP BY k"
    assert run(cluster.coordinator, sql).num_rows == 8
    deadline = time.monotonic() + 30
    payloads: list[object | None] = []
    while time.monotonic() < deadline and not payloads:
        payloads = (
            run(
                cluster.coordinator,
                f"SELECT payload FROM system.queries WHERE sql LIKE '%{marker}%' "
                "AND sql NOT LIKE '%system.queries%'",
            )
            .column("payload")
            .to_pylist()
        )
        time.sleep(0.2)
    assert payloads, "no artifact was recorded"
    distributed = json.loads(str(payloads[0]))["distributed"]
    assert distributed["stages"], distributed
    used = set(distributed["workers"])
    assert used <= {f"http://{address}/" for address in cluster.worker_addresses()}
    assert len(used) >= 2, distributed
    assert "Stage" in distributed["plan"]


def test_policy_and_limits_apply_to_distributed_queries(cluster: Cluster, tmp_path: Path) -> None:
    limited = cluster.another_coordinator(tmp_path / "state", "--policy-max-scan-bytes", "1000")
    with limited:
        with pytest.raises(Error) as refused:
            run(limited, "SELECT k, count(*) FROM facts GROUP BY k")
        assert refused.value.status_code == AdbcStatusCode.UNAUTHORIZED, str(refused.value)
        assert "over the limit of 1000 bytes" in str(refused.value)
        # The same refusal as the local path gives.
        with pytest.raises(Error) as local:
            local_server = ServerProcess.start(
                server_args(
                    cluster.catalog_dir, tmp_path / "state-l", "--policy-max-scan-bytes", "1000"
                )
            )
            with local_server:
                run(local_server, "SELECT k, count(*) FROM facts GROUP BY k")
        assert local.value.status_code == refused.value.status_code


def test_result_row_limit_applies(cluster: Cluster, tmp_path: Path) -> None:
    limited = cluster.another_coordinator(tmp_path / "state", "--policy-max-result-rows", "5")
    with limited:
        sql = "SELECT k, count(*) AS n FROM facts GROUP BY k"
        assert explained(limited, sql)["distribution"].startswith("distributed:")
        with pytest.raises(Error) as refused:
            run(limited, sql)
        assert "over the limit of 5 rows" in str(refused.value)


def test_workers_refuse_a_coordinator_without_the_secret(cluster: Cluster, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong-secret"
    wrong.write_text("not-the-secret")
    impostor = ServerProcess.start(
        coordinator_args(cluster.catalog_dir, tmp_path / "state", cluster.worker_addresses(), wrong)
    )
    with impostor:
        with pytest.raises(Error) as refused:
            run(impostor, "SELECT k, count(*) FROM facts GROUP BY k")
        assert "secret" in str(refused.value)
        assert impostor.alive()


def test_a_dead_worker_fails_its_query_unavailable_and_the_next_plans_around_it(
    cluster: Cluster, tmp_path: Path
) -> None:
    workers = [start_worker(cluster.secret_file) for _ in range(2)]
    addresses = [worker.uri.removeprefix("grpc://") for worker in workers]
    coordinator = ServerProcess.start(
        coordinator_args(cluster.catalog_dir, tmp_path / "state", addresses, cluster.secret_file)
    )
    sql = "SELECT k, count(*) AS n FROM facts GROUP BY k"
    try:
        with flightsql.connect(coordinator.uri, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(sql)  # planned, with both workers up
            workers[0].process.kill()
            workers[0].process.wait()
            started = time.monotonic()
            with pytest.raises(Error) as failed:
                cur.fetch_arrow_table()
            assert time.monotonic() - started < 30
        assert failed.value.status_code == AdbcStatusCode.IO, str(failed.value)
        assert addresses[0] in str(failed.value), str(failed.value)
        assert coordinator.alive()
        # The next query plans around the dead worker.
        assert run(coordinator, sql).num_rows == 8
        plan = explained(coordinator, sql)
        assert "1 workers up" in plan["distribution"], plan
    finally:
        coordinator.stop()
        for worker in workers:
            worker.stop()


def test_a_worker_killed_mid_stream_fails_the_query_unavailable(
    cluster: Cluster, tmp_path: Path
) -> None:
    workers = [start_worker(cluster.secret_file) for _ in range(2)]
    addresses = [worker.uri.removeprefix("grpc://") for worker in workers]
    coordinator = ServerProcess.start(
        coordinator_args(cluster.catalog_dir, tmp_path / "state", addresses, cluster.secret_file)
    )
    # 200 million rows out of both workers' joins: still streaming when a worker dies.
    sql = "SELECT a.id, b.id AS other FROM facts a JOIN facts b ON a.v + b.v > a.id"
    try:
        with flightsql.connect(coordinator.uri, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(sql)
            reader = cur.fetch_record_batch()
            assert reader.read_next_batch().num_rows > 0
            workers[0].process.kill()
            workers[0].process.wait()
            # The driver's error class differs by where the stream fails; the status is named.
            with pytest.raises(Exception) as failed:
                while True:
                    reader.read_next_batch()
        message = str(failed.value)
        assert not isinstance(failed.value, StopIteration), "the stream ended without an error"
        assert "(Unavailable;" in message, message
        assert f"worker unavailable: http://{addresses[0]}/" in message, message
        assert coordinator.alive()
        assert run(coordinator, "SELECT k, count(*) AS n FROM facts GROUP BY k").num_rows == 8
    finally:
        coordinator.stop()
        for worker in workers:
            worker.stop()


def test_results_served_as_parallel_endpoints(cluster: Cluster, tmp_path: Path) -> None:
    parallel = cluster.another_coordinator(tmp_path / "state", "--max-endpoints", "8")
    sql = "SELECT k, s, count(*) AS n, sum(v) AS total FROM facts GROUP BY k, s"
    with parallel, flightsql.connect(parallel.uri, autocommit=True) as conn:
        with conn.cursor() as cursor:
            partitions, schema = cursor.adbc_execute_partitions(sql)
            assert len(partitions) > 1
            pieces: list[pa.Table] = []
            for partition in reversed(partitions):  # any order: each endpoint is its own
                cursor.adbc_read_partition(partition)
                pieces.append(cursor.fetch_arrow_table())
        got = pa.concat_tables(pieces)
        assert got.schema.names == schema.names
        assert all(piece.num_rows > 0 for piece in pieces)
        assert canonical(got, False) == canonical(run(cluster.local, sql), False)
        # An ordered result stays one endpoint.
        with conn.cursor() as cursor:
            ordered, _ = cursor.adbc_execute_partitions(sql + " ORDER BY n DESC, k, s")
            assert len(ordered) == 1


def cpu_seconds(process: ServerProcess) -> float:
    """User and system CPU time `process` has used (Linux /proc)."""
    fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_timed_out_query_stops_on_the_workers(cluster: Cluster, tmp_path: Path) -> None:
    timed = cluster.another_coordinator(tmp_path / "state", "--limits-query-timeout-seconds", "1")
    # 200 million rows out of the workers' joins: minutes of work unless stopped.
    sql = "SELECT a.id, b.id AS other FROM facts a JOIN facts b ON a.v + b.v > a.id"
    with timed:
        assert explained(timed, sql)["distribution"].startswith("distributed:")
        with pytest.raises(Error, match=r"ran longer than 1 s") as stopped:
            run(timed, sql)
        assert stopped.value.status_code == AdbcStatusCode.TIMEOUT, str(stopped.value)
        time.sleep(2)  # the stop reaches the workers
        before = sum(cpu_seconds(worker) for worker in cluster.workers)
        time.sleep(3)
        busy = sum(cpu_seconds(worker) for worker in cluster.workers) - before
        assert busy < 1.0, f"the workers used {busy:.1f} s of CPU in 3 s after the query ended"
        assert run(timed, "SELECT count(*) AS n FROM dim").column("n").to_pylist() == [8]
        assert timed.alive()


def test_roles_refuse_on_the_coordinator_what_they_refuse_locally(
    cluster: Cluster, tmp_path: Path
) -> None:
    password = "distributed-roles"
    digest = hash_password(password)
    users = tmp_path / "users.toml"
    users.write_text(
        "".join(
            f'[[users]]\nname = "{name}"\npassword_hash = "{digest}"\nrole = "{role}"\n'
            for name, role in (("small", "reader"), ("big", "admin"))
        )
    )
    config = tmp_path / "server.toml"
    config.write_text("[roles.reader]\nmax_scan_bytes = 1000\n")
    roles = ServerProcess.start(
        [
            "--config",
            str(config),
            "--auth-users-file",
            str(users),
            *coordinator_args(
                cluster.catalog_dir,
                tmp_path / "state",
                cluster.worker_addresses(),
                cluster.secret_file,
            ),
        ]
    )
    sql = "SELECT k, count(*) AS n FROM facts GROUP BY k"

    def connect(user: str) -> flightsql.Connection:
        kwargs = {"username": user, "password": password}
        return flightsql.connect(roles.uri, db_kwargs=kwargs, autocommit=True)

    with roles:
        with connect("small") as conn, pytest.raises(Error) as refused:
            query(conn, sql)
        assert refused.value.status_code == AdbcStatusCode.UNAUTHORIZED, str(refused.value)
        assert "over the limit of 1000 bytes" in str(refused.value)
        with connect("big") as conn:
            plan = query(conn, f"EXPLAIN {sql}").to_pylist()
            assert any(
                row["plan_type"] == "distribution" and str(row["plan"]).startswith("distributed:")
                for row in plan
            ), plan
            assert query(conn, sql).num_rows == 8


def test_workers_file_is_read_again_as_workers_come_and_go(
    cluster: Cluster, tmp_path: Path
) -> None:
    workers_file = tmp_path / "workers"
    first, second, *_ = cluster.worker_addresses()
    workers_file.write_text(f"# the cluster\n{first}\n")
    coordinator = ServerProcess.start(
        server_args(
            cluster.catalog_dir,
            tmp_path / "state",
            "--distributed-workers-file",
            str(workers_file),
            "--distributed-secret-file",
            str(cluster.secret_file),
            "--distributed-bytes-per-partition",
            BYTES_PER_PARTITION,
            "--distributed-probe-interval-seconds",
            "0.3",
        )
    )
    sql = "SELECT k, count(*) AS n FROM facts GROUP BY k"
    with coordinator:
        assert "; 1 workers up" in explained(coordinator, sql)["distribution"]
        workers_file.write_text(f"{first}\n{second}\n")
        deadline = time.monotonic() + 20
        while "; 2 workers up" not in explained(coordinator, sql)["distribution"]:
            assert time.monotonic() < deadline, "the new worker was never used"
            time.sleep(0.2)
        assert run(coordinator, sql).num_rows == 8


@pytest.fixture(scope="module", params=DRIVER_VERSIONS, ids=lambda version: f"jdbc-{version}")
def jdbc_reports(cluster: Cluster, request: pytest.FixtureRequest) -> dict[str, Report]:
    """The queries through the JDBC driver, against the coordinator and the local server."""
    driver = fetch_driver(request.param)
    classes = compile_probe()
    statements = "\0".join(sql for sql, _ in QUERIES.values())
    return {
        name: ProbeRunner(driver, classes, server.port).run("execute", stdin=statements)
        for name, server in (("coordinator", cluster.coordinator), ("local", cluster.local))
    }


@pytest.mark.parametrize("name", list(QUERIES))
def test_jdbc_answers_equal_local(jdbc_reports: dict[str, Report], name: str) -> None:
    index = list(QUERIES).index(name)
    ordered = QUERIES[name][1]
    results = {
        server: ResultTable.from_json(report.value(f"execute:{index}")["result"])
        for server, report in jdbc_reports.items()
    }
    got, expected = results["coordinator"], results["local"]
    assert [(c.name, c.type_name) for c in got.columns] == [
        (c.name, c.type_name) for c in expected.columns
    ]
    rows = [got.raw_rows, expected.raw_rows]
    if not ordered:
        rows = [sorted(table, key=json.dumps) for table in rows]
    assert rows[0] == rows[1]
    assert got.raw_rows
