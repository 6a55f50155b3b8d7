"""The loops of a reliability run: readers (ADBC, JDBC), writers, re-pins,
catalog refreshes and maintenance, all against one server on 127.0.0.1.

Each loop ends when `stop` is set or its bound is reached. Control loops are
paced (`stop.wait`) so the readers keep the two cores; nothing waits for time to
make a result right. Once `killed` is set (the SIGKILL), errors are expected
and no longer counted.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
from deltalake import write_deltalake
from deltalake.exceptions import CommitFailedError
from pyarrow import flight

from tests.jdbc.probe import ProbeRunner, ResultTable
from tests.reliability.lake import EVENTS, EXTERNAL, POINTS, QUALIFIED, Lake, State, rows, state_of

# (table, SQL): each returns one row, n and s, the table's row count and sum of v.
AGGREGATES = [
    (EVENTS, "SELECT count(*) AS n, sum(v) AS s FROM events"),
    (EXTERNAL, "SELECT count(*) AS n, sum(v) AS s FROM ext"),
    (POINTS, "SELECT count(*) AS n, sum(v) AS s FROM points"),
]
STREAMED = (EVENTS, "SELECT v FROM events")  # summed here, batch by batch
PREPARED = (EVENTS, "SELECT count(*) AS n, sum(v) AS s FROM events WHERE v >= ?")
LISTING = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
RETRIES = 5  # per statement, for the documented retryable status (UNAVAILABLE)


def retryable(exc: BaseException) -> bool:
    """UNAVAILABLE: the server asks the client to run the statement again."""
    return "unavailable" in str(exc).lower()


@dataclass
class Tally:
    """What one run observed, from every thread."""

    killed: threading.Event = field(default_factory=threading.Event)
    queries: int = 0
    jdbc_queries: int = 0
    retried: int = 0
    retry_reasons: list[str] = field(default_factory=list[str])
    longest_stall: float = 0.0
    failures: list[str] = field(default_factory=list[str])
    results: list[tuple[str, State, str]] = field(default_factory=list[tuple[str, State, str]])
    commits: dict[str, int] = field(default_factory=dict[str, int])
    control: dict[str, int] = field(default_factory=dict[str, int])
    maintenance_conflicts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def result(self, table: str, state: State, client: str, seconds: float) -> None:
        with self.lock:
            self.queries += client == "adbc"
            self.results.append((table, state, client))
            self.longest_stall = max(self.longest_stall, seconds)

    def retry(self, what: str, exc: BaseException) -> None:
        with self.lock:
            self.retried += 1
            if len(self.retry_reasons) < 20:
                self.retry_reasons.append(f"{what}: {str(exc)[:300]}")

    def failed(self, what: str, exc: BaseException) -> None:
        if self.killed.is_set():
            return
        with self.lock:
            self.failures.append(f"{what}: {type(exc).__name__}: {exc}")

    def count(self, counters: dict[str, int], key: str) -> None:
        with self.lock:
            counters[key] = counters.get(key, 0) + 1


def _state(table: pa.Table) -> State:
    row = table.to_pylist()[0]
    return int(row["n"]), int(row["s"] or 0)


def _attempt(tally: Tally, what: str, call: Callable[[], Any]) -> Any:
    """`call()`, run again on UNAVAILABLE; None once it failed (counted) or the server died."""
    for attempt in range(RETRIES + 1):
        try:
            return call()
        except Exception as exc:
            if tally.killed.is_set():
                return None
            if retryable(exc) and attempt < RETRIES:
                tally.retry(what, exc)
                continue
            tally.failed(what, exc)
            return None
    return None


def adbc_reader(uri: str, tally: Tally, stop: threading.Event, max_queries: int) -> None:
    """Runs the query mix until stopped: every result is checked at the end."""
    try:
        conn = flightsql.connect(uri, autocommit=True)
    except Exception as exc:
        tally.failed("connect", exc)
        return
    with conn, conn.cursor() as cursor:
        done = 0
        while not stop.is_set() and done < max_queries:
            for table, sql in [*AGGREGATES, STREAMED, PREPARED]:
                started = time.perf_counter()

                def run(sql: str = sql) -> State:
                    if sql == PREPARED[1]:
                        cursor.execute(sql, parameters=(-1,))
                        return _state(cursor.fetch_arrow_table())
                    cursor.execute(sql)
                    if sql == STREAMED[1]:
                        total = pa.Table.from_batches(list(cursor.fetch_record_batch()))
                        return state_of(total)
                    return _state(cursor.fetch_arrow_table())

                state = _attempt(tally, f"adbc {sql}", run)
                if state is not None:
                    tally.result(table, state, "adbc", time.perf_counter() - started)
                done += 1
            listed = _attempt(tally, "adbc listing", lambda: _listing(cursor))
            if listed is not None:
                missing = {EVENTS, EXTERNAL, POINTS} - listed
                if missing:
                    tally.failed("listing", AssertionError(f"tables missing: {sorted(missing)}"))


def _listing(cursor: flightsql.Cursor) -> set[str]:
    cursor.execute(LISTING)
    return {str(name) for name in cursor.fetch_arrow_table().column("table_name").to_pylist()}


def jdbc_reader(runner: ProbeRunner, tally: Tally, stop: threading.Event, rounds: int) -> None:
    """One JVM per round, running the aggregates several times through the JDBC driver."""
    statements = [sql for _, sql in AGGREGATES] * 5
    tables = [table for table, _ in AGGREGATES] * 5
    for _ in range(rounds):
        if stop.is_set():
            return
        report = runner.run("execute", stdin="\0".join(statements))
        for index, table in enumerate(tables):
            name = f"execute:{index}"
            if name not in report.steps:
                tally.failed("jdbc", AssertionError(f"no step {name}: {report.stderr[-2000:]}"))
                continue
            if not report.ok(name):
                error = report.steps[name]["error"]
                if not retryable(Exception(error["message"])):
                    tally.failed(f"jdbc {statements[index]}", AssertionError(error["message"]))
                continue
            result = ResultTable.from_json(report.value(name)["result"])
            row = result.records()[0]
            tally.result(table, (int(row["n"]), int(row["s"] or 0)), "jdbc", 0.0)
            with tally.lock:
                tally.jdbc_queries += 1


def events_writer(uri: str, lake: Lake, tally: Tally, stop: threading.Event, writes: int) -> None:
    """Appends to `events` through the server's ingest, replacing it every sixth write."""
    states = lake.states[EVENTS]
    state = lake.committed(EVENTS)[1]
    with flightsql.connect(uri, autocommit=True) as conn, conn.cursor() as cursor:
        for number in range(writes):
            if stop.is_set():
                return
            batch = rows(1_000_000 + number * 1000, 20 + number % 30)
            replace = number % 6 == 5
            added = state_of(batch)
            after = added if replace else (state[0] + added[0], state[1] + added[1])
            states.add(after)  # readers may see it as soon as it commits

            def write(batch: pa.Table = batch, replace: bool = replace) -> None:
                cursor.adbc_ingest(EVENTS, batch, mode="replace" if replace else "append")

            if _attempt(tally, "events write", lambda: (write(), True)[1]) is None:
                return
            state = after
            tally.count(tally.commits, EVENTS)


def external_writer(lake: Lake, tally: Tally, stop: threading.Event, writes: int) -> None:
    """Another process's writer: deltalake appending straight to `ext`.

    Appends only: deltalake (1.6.6) lets an overwrite from another process commit
    over the server's concurrent optimize, and the log itself then mixes old and
    new rows (see src/flightserver/writes/rewrite_lock.py), which no reader can undo.
    """
    states = lake.states[EXTERNAL]
    location = lake.location(EXTERNAL)
    state = lake.committed(EXTERNAL)[1]
    for number in range(writes):
        if stop.is_set():
            return
        batch = rows(2_000_000 + number * 1000, 10 + number % 20)
        added = state_of(batch)
        after = (state[0] + added[0], state[1] + added[1])
        states.add(after)
        for _ in range(RETRIES + 1):
            try:
                write_deltalake(location, batch, mode="append")
                break
            except CommitFailedError as exc:  # the server's maintenance committed first
                tally.retry("ext write", exc)
        else:
            tally.failed("ext write", RuntimeError("conflicted on every attempt"))
            return
        state = after
        tally.count(tally.commits, EXTERNAL)


def action(uri: str, name: str, body: dict[str, Any] | None = None) -> Any:
    with flight.connect(uri) as client:
        payload = json.dumps(body or {}).encode()
        results = list(client.do_action(flight.Action(name, payload)))
    return json.loads(results[0].body.to_pybytes()) if results else None


def control_loop(
    uri: str,
    lake: Lake,
    tally: Tally,
    stop: threading.Event,
    *,
    kind: str,
    pace: float,
    rounds: int,
) -> None:
    """Re-pins, refreshes (flipping `points`) or maintenance, `rounds` times at most."""
    for number in range(rounds):
        if stop.wait(pace):
            return
        try:
            if kind == "repin":
                action(uri, "RepinDelta")
            elif kind == "refresh":
                lake.point_at("b" if number % 2 == 0 else "a")
                action(uri, "RefreshCatalog")
            else:
                for table in (EVENTS, EXTERNAL):
                    action(uri, "RunMaintenance", {"table": QUALIFIED + table})
        except flight.FlightError as exc:
            if tally.killed.is_set():
                return
            if kind == "maintenance" and any(
                word in str(exc).lower() for word in ("conflict", "concurrent", "commit failed")
            ):
                with tally.lock:  # a concurrent writer committed first: not a reader's concern
                    tally.maintenance_conflicts += 1
                continue
            tally.failed(kind, exc)
            continue
        tally.count(tally.control, kind)


def interrupted_ingest(
    uri: str, tally: Tally, kill: Callable[[], None], batches: int, kill_after: int
) -> None:
    """Creates table `half` from a stream that SIGKILLs the server part-way through."""

    def stream() -> Iterator[pa.RecordBatch]:
        for number in range(batches):
            if number == kill_after:
                tally.killed.set()
                kill()
            yield rows(number * 10_000, 10_000).to_batches()[0]

    schema = pa.schema([pa.field("v", pa.int64())])
    try:
        with flightsql.connect(uri, autocommit=True) as conn, conn.cursor() as cursor:
            cursor.adbc_ingest("half", pa.RecordBatchReader.from_batches(schema, stream()))
    except Exception:  # the server died mid-stream, as intended
        return
