"""Concurrency and faults: two clients writing one Delta table at once, and a
server killed (SIGKILL) in the middle of a large ingest. Real servers, ADBC."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pytest
from deltalake import DeltaTable

from tests.server_process import ServerProcess

WRITES_PER_CLIENT = 8


def server_args(root: Path) -> list[str]:
    (root / "catalog/tables").mkdir(parents=True, exist_ok=True)
    return [
        "--catalog-dir",
        str(root / "catalog"),
        "--state-dir",
        str(root / "state"),
        "--policy-allow-dml",
        "true",
    ]


def count(uri: str, table: str) -> int:
    with flightsql.connect(uri, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(f"SELECT count(*) AS n, count(DISTINCT id) AS d FROM {table}")
        row = cursor.fetch_arrow_table().to_pylist()[0]
    assert row["n"] == row["d"], "a row was written twice"
    return int(row["n"])


@pytest.fixture
def fserver(tmp_path: Path) -> Iterator[ServerProcess]:
    with ServerProcess.start(server_args(tmp_path)) as process:
        yield process


def test_two_clients_appending_at_once_both_commit(fserver: ServerProcess, tmp_path: Path) -> None:
    with flightsql.connect(fserver.uri, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute("CREATE TABLE shared AS SELECT CAST(0 AS BIGINT) AS id, 'seed' AS who")
    start = threading.Barrier(2)
    errors: list[str] = []
    committed: dict[str, int] = {}

    def client(who: str, offset: int) -> None:
        done = 0
        with flightsql.connect(fserver.uri, autocommit=True) as conn, conn.cursor() as cursor:
            start.wait()
            for n in range(WRITES_PER_CLIENT):
                key = offset + n
                try:
                    if n % 2:
                        cursor.execute(f"INSERT INTO shared VALUES ({key}, '{who}')")
                    else:
                        rows = pa.table({"id": pa.array([key], pa.int64()), "who": [who]})
                        cursor.adbc_ingest("shared", rows, mode="append")
                    done += 1
                except flightsql.Error as exc:
                    errors.append(str(exc))
        committed[who] = done

    threads = [
        threading.Thread(target=client, args=("a", 1000)),
        threading.Thread(target=client, args=("b", 2000)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Appends never conflict in Delta: both clients commit everything...
    assert errors == []
    assert committed == {"a": WRITES_PER_CLIENT, "b": WRITES_PER_CLIENT}
    # ...and every row is there exactly once.
    assert count(fserver.uri, "shared") == 1 + 2 * WRITES_PER_CLIENT
    location = tmp_path / "state/tables/datafusion/public/shared"
    assert DeltaTable(str(location)).to_pyarrow_table().num_rows == 1 + 2 * WRITES_PER_CLIENT


def test_replace_racing_appends_commits_or_reports_a_conflict(fserver: ServerProcess) -> None:
    with flightsql.connect(fserver.uri, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute("CREATE TABLE raced AS SELECT CAST(0 AS BIGINT) AS id")
    start = threading.Barrier(2)
    outcomes: dict[str, list[str]] = {"replace": [], "append": []}

    def replacer() -> None:
        with flightsql.connect(fserver.uri, autocommit=True) as conn, conn.cursor() as cursor:
            start.wait()
            for n in range(WRITES_PER_CLIENT):
                rows = pa.table({"id": pa.array([100 + n], pa.int64())})
                try:
                    cursor.adbc_ingest("raced", rows, mode="replace")
                    outcomes["replace"].append("ok")
                except flightsql.Error as exc:
                    outcomes["replace"].append(str(exc))

    def appender() -> None:
        with flightsql.connect(fserver.uri, autocommit=True) as conn, conn.cursor() as cursor:
            start.wait()
            for n in range(WRITES_PER_CLIENT):
                try:
                    cursor.execute(f"INSERT INTO raced VALUES ({200 + n})")
                    outcomes["append"].append("ok")
                except flightsql.Error as exc:
                    outcomes["append"].append(str(exc))

    threads = [threading.Thread(target=replacer), threading.Thread(target=appender)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failures = [o for o in outcomes["replace"] + outcomes["append"] if o != "ok"]
    for failure in failures:  # a lost race is a clear conflict, never anything else
        assert "Unavailable" in failure and "conflicts with a concurrent commit" in failure
    # The table holds the last replace's row plus only the appends committed after it.
    with flightsql.connect(fserver.uri, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT id FROM raced ORDER BY id")
        ids = [int(value.as_py()) for value in cursor.fetch_arrow_table()["id"]]
    replaced = [i for i in ids if 100 <= i < 200]
    appended = [i for i in ids if i >= 200]
    assert len(replaced) == 1
    assert len(set(appended)) == len(appended)
    assert 0 not in ids or outcomes["replace"].count("ok") == 0


def test_sigkill_during_a_large_ingest_leaves_the_old_version(tmp_path: Path) -> None:
    args = server_args(tmp_path)
    seed = pa.table({"id": pa.array(range(1000), pa.int64()), "payload": ["x" * 20] * 1000})
    batch_rows = 100_000
    with ServerProcess.start(args) as server:
        with flightsql.connect(server.uri, autocommit=True) as conn, conn.cursor() as cursor:
            cursor.adbc_ingest("big", seed, mode="create")
        location = tmp_path / "state/tables/datafusion/public/big"
        before = DeltaTable(str(location)).version()  # the ingest, and maintenance's commits

        sent_enough = threading.Event()
        killed = threading.Event()

        def batches() -> Iterator[pa.RecordBatch]:
            for n in range(40):
                first = 1000 + n * batch_rows
                yield pa.record_batch(
                    {
                        "id": pa.array(range(first, first + batch_rows), pa.int64()),
                        "payload": pa.array(["y" * 20] * batch_rows),
                    }
                )
                if n == 10:  # the server holds part of the stream; the rest waits for the kill
                    sent_enough.set()
                    killed.wait()

        failure: list[BaseException] = []

        def ingest() -> None:
            reader = pa.RecordBatchReader.from_batches(seed.schema, batches())
            try:
                with flightsql.connect(server.uri, autocommit=True) as conn, conn.cursor() as cur:
                    cur.adbc_ingest("big", reader, mode="append")
            except BaseException as exc:  # the server died under it
                failure.append(exc)

        thread = threading.Thread(target=ingest)
        thread.start()
        assert sent_enough.wait(120)
        server.process.kill()  # SIGKILL
        server.process.wait()
        killed.set()
        thread.join()
        assert failure, "the ingest cannot have succeeded against a killed server"

    # On disk: the old version, whole; the new one was never committed.
    table = DeltaTable(str(location))
    assert table.version() == before
    assert table.to_pyarrow_table().num_rows == 1000
    # And a restarted server serves it.
    with ServerProcess.start(args) as server:
        assert count(server.uri, "big") == 1000
        with flightsql.connect(server.uri, autocommit=True) as conn, conn.cursor() as cursor:
            more = pa.table({"id": pa.array([5_000_000], pa.int64()), "payload": ["z"]})
            cursor.adbc_ingest("big", more, mode="append")
        assert count(server.uri, "big") == 1001
