"""Soak: thousands of mixed requests from several clients; memory and handles stay flat."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

import adbc_driver_flightsql.dbapi as flightsql

from tests.conftest import DEMO_CATALOG
from tests.server_process import ServerProcess
from tests.test_limits import scrape

CLIENTS = 4
ROUNDS = 60  # per client and load round; each round makes five calls


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def workload(uri: str, rounds: int, errors: list[BaseException]) -> None:
    try:
        with flightsql.connect(uri, autocommit=True) as conn, conn.cursor() as cursor:
            for round_number in range(rounds):
                cursor.execute(
                    "SELECT n_name FROM nation WHERE n_nationkey = ?", (round_number % 25,)
                )
                assert len(cursor.fetchall()) == 1
                cursor.execute(
                    "SELECT r_name, count(*) FROM region JOIN nation ON r_regionkey = n_regionkey"
                    " GROUP BY r_name"
                )
                assert len(cursor.fetchall()) == 5
                limit = 1 + round_number % 7
                cursor.execute(
                    f"SELECT c_custkey FROM customer ORDER BY c_acctbal DESC LIMIT {limit}"
                )
                cursor.fetch_arrow_table()
                conn.adbc_get_objects(depth="tables").read_all()
                with contextlib.suppress(flightsql.ProgrammingError):
                    cursor.execute("SELECT no_such_column FROM nation")
    except BaseException as exc:  # reported to the test's thread
        errors.append(exc)


def run_clients(uri: str, rounds: int) -> None:
    errors: list[BaseException] = []
    threads = [
        threading.Thread(target=workload, args=(uri, rounds, errors)) for _ in range(CLIENTS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
        assert not thread.is_alive(), "a client hung"
    assert not errors, errors[0]


def test_memory_and_handles_stay_flat_under_mixed_load(tmp_path: Path) -> None:
    """Two equal rounds after a warm-up: the second must not grow what the first left.

    Comparing against the warm-up would count the server settling into its load
    (gRPC's thread pool and its completion queues grow once per load level) as a
    leak; between two equal rounds only a leak grows, by its count of requests.
    """
    args = ["--catalog-dir", str(DEMO_CATALOG), "--state-dir", str(tmp_path), "--http-port", "0"]
    with ServerProcess.start(args) as server:
        pid = server.process.pid
        run_clients(server.uri, rounds=30)  # warm-up: caches, thread pools, allocator
        run_clients(server.uri, rounds=ROUNDS)
        rss_first, fds_first = rss_bytes(pid), open_fds(pid)
        run_clients(server.uri, rounds=ROUNDS)
        rss_second, fds_second = rss_bytes(pid), open_fds(pid)
        assert server.alive()
        # Every client closed what it prepared: no statement handle outlives its client.
        assert scrape(server, "flightserver_prepared_statements") == 0
    growth = rss_second - rss_first
    requests = CLIENTS * ROUNDS * 5
    assert growth < 64 * 1024 * 1024, (
        f"RSS grew by {growth / 2**20:.1f} MiB over a second round of {requests} requests"
    )
    # A handle leaked per request would add thousands; the slack covers connections
    # the server has not yet seen close when it is measured.
    assert fds_second <= fds_first + 8, (
        f"file descriptors went from {fds_first} after the first round of {requests} requests "
        f"to {fds_second} after an equal second round"
    )
