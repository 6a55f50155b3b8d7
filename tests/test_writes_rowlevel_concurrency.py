"""Row-level writes under concurrency, through a real server and ADBC clients:
concurrent UPDATEs lose no update (the server's own writes take turns; a commit that
conflicts with another process's write is refused as UNAVAILABLE "retry it" with
nothing committed), a table with a primary key commits one write at a time, and a
query planned before an UPDATE keeps its snapshot."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError

from tests.clients import query
from tests.server_process import ServerProcess

KEYS = 10
CLIENTS = 4
ROUNDS = 5

KEYED = """
name = "keyed"
format = "delta"
location = "data/keyed"

[constraints]
primary_key = ["id"]
"""


def counters() -> pa.Table:
    return pa.table(
        {"id": pa.array(range(1, KEYS + 1), pa.int64()), "v": pa.array([0] * KEYS, pa.int64())}
    )


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rowwrites-concurrency")
    (root / "tables").mkdir()
    for name in ("counters", "snap"):
        write_deltalake(root / "data" / name, counters())
        (root / "tables" / f"{name}.toml").write_text(
            f'name = "{name}"\nformat = "delta"\nlocation = "data/{name}"\n'
        )
    write_deltalake(root / "data/keyed", counters())
    (root / "tables/keyed.toml").write_text(KEYED)
    return root


@pytest.fixture(scope="module")
def server(catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    state = tmp_path_factory.mktemp("rowwrites-concurrency-state")
    args = ["--catalog-dir", str(catalog), "--state-dir", str(state), "--policy-allow-dml", "true"]
    with ServerProcess.start(args) as process:
        yield process


class Outcomes:
    """What each concurrent statement ended with."""

    def __init__(self) -> None:
        self.committed = 0
        self.retry: list[str] = []
        self.other: list[str] = []
        self._lock = threading.Lock()

    def run(self, uri: str, sql: str, rounds: int) -> None:
        with flightsql.connect(uri, autocommit=True) as conn:
            for _ in range(rounds):
                try:
                    with conn.cursor() as cursor:
                        cursor.execute(sql)
                        assert cursor.rowcount == KEYS
                    with self._lock:
                        self.committed += 1
                except flightsql.Error as exc:
                    text = str(exc)
                    retryable = "Detail: Unavailable" in text and "retry it" in text
                    with self._lock:
                        (self.retry if retryable else self.other).append(text)


def run_clients(uri: str, sql: str) -> Outcomes:
    outcomes = Outcomes()
    threads = [
        threading.Thread(target=outcomes.run, args=(uri, sql, ROUNDS)) for _ in range(CLIENTS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def values(uri: str, table: str) -> list[int | None]:
    with flightsql.connect(uri, autocommit=True) as conn:
        return query(conn, f"SELECT v FROM {table} ORDER BY id").column("v").to_pylist()


def test_concurrent_updates_and_another_writer_lose_no_update(
    server: ServerProcess, catalog: Path
) -> None:
    location = str(catalog / "data" / "counters")
    stop = threading.Event()
    external = {"committed": 0, "conflicts": 0}

    def other_process_writer() -> None:
        # Another engine on the same table: its commits race the server's.
        while not stop.is_set():
            try:
                DeltaTable(location).update(updates={"v": "v + 1000"}, predicate="id = 1")
                external["committed"] += 1
            except CommitFailedError:
                external["conflicts"] += 1

    writer = threading.Thread(target=other_process_writer)
    writer.start()
    try:
        outcomes = run_clients(server.uri, "UPDATE counters SET v = v + 1")
    finally:
        stop.set()
        writer.join()
    assert outcomes.other == []
    assert outcomes.committed + len(outcomes.retry) == CLIENTS * ROUNDS
    assert outcomes.committed > 0
    # Every committed increment is there exactly once, from both writers.
    final = DeltaTable(location).to_pyarrow_table().sort_by("id").column("v").to_pylist()
    assert final == [outcomes.committed + 1000 * external["committed"]] + [outcomes.committed] * (
        KEYS - 1
    )
    # And the server serves that version once re-pinned by its own last commit or later.
    served = values(
        server.uri, "delta_version('counters', " + str(DeltaTable(location).version()) + ")"
    )
    assert served == final


def test_a_table_with_a_primary_key_commits_one_write_at_a_time(server: ServerProcess) -> None:
    outcomes = run_clients(server.uri, "UPDATE keyed SET v = v + 1")
    # Only the server writes this table: its writes take turns, none conflicts.
    assert (outcomes.committed, outcomes.retry, outcomes.other) == (CLIENTS * ROUNDS, [], [])
    assert values(server.uri, "keyed") == [CLIENTS * ROUNDS] * KEYS


def test_a_query_planned_before_an_update_keeps_its_snapshot(server: ServerProcess) -> None:
    with (
        flightsql.connect(server.uri, autocommit=True) as reader,
        flightsql.connect(server.uri, autocommit=True) as writer,
        reader.cursor() as planned,
    ):
        planned.adbc_prepare("SELECT v FROM snap ORDER BY id")  # planned at the pinned version
        with writer.cursor() as cursor:
            cursor.execute("UPDATE snap SET v = v + 7")
            assert cursor.rowcount == KEYS
        planned.execute("SELECT v FROM snap ORDER BY id")
        assert planned.fetch_arrow_table().column("v").to_pylist() == [0] * KEYS
    assert values(server.uri, "snap") == [7] * KEYS
