"""Scale-out spike (issue 15, docs/distributed-design.md): what each design costs a
local query, which table kinds survive each, and one query run end to end through
datafusion-distributed with two loopback workers.

Needs the extension built with the cargo feature `distributed`:

    CARGO_TARGET_DIR=... nice -n 15 .venv/bin/maturin develop --uv --profile release \\
        --features distributed

Run: `.venv/bin/python -m bench.distributed_spike [--repeats N] [--out FILE]`.

Three ways to plan (and run) the same statement, in process:

- `today`: the wheel's SessionContext with our rulepack installed, as `Engine` builds it;
- `option1`: the same context with a pass-through FFI query planner of our extension
  (`NativeReplannerProbe`): every logical plan crosses into our library through
  datafusion-proto, is planned there, and the physical plan crosses back;
- `option2`: our extension's own native session (`DistributedSession`) with
  datafusion-distributed's planner, two workers configured, the same settings, DDL
  text and rules; the queries measured are small, so they stay local.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
from datafusion import SessionContext
from deltalake import DeltaTable, write_deltalake

from bench.distributed_wheel_probe import attempt, write_parquet
from bench.stats import percentile
from bench.timing import interleaved
from flightserver import _native
from flightserver.config import ServerConfig
from flightserver.engine.policy import DEFAULT_POLICY, governing_policy
from flightserver.engine.session import runtime_config, session_config, session_settings

ROWS = 200_000
FILES = 4
QUERIES = {
    "point": "SELECT id, k, v, s FROM t WHERE id = 123457",
    "aggregate": "SELECT k, count(*) AS n, sum(v) AS total FROM t GROUP BY k ORDER BY k",
}


def ddl(name: str, folder: Path) -> str:
    return f"CREATE EXTERNAL TABLE {name} STORED AS PARQUET LOCATION '{folder}/'"


def sorted_table(table: pa.Table) -> pa.Table:
    return table.sort_by([(name, "ascending") for name in table.column_names])


def wheel_context(config: ServerConfig, rules: list[_native.PhysicalRule]) -> SessionContext:
    """A context as `Engine._new_context` makes it."""
    settings = session_config(config).with_default_catalog_and_schema("datafusion", "public")
    ctx = SessionContext(settings, runtime_config(config))
    for rule in rules:
        ctx.add_physical_optimizer_rule(rule)
    return ctx


def read(planned: _native.PlannedQuery) -> pa.Table:
    return pa.RecordBatchReader.from_stream(planned).read_all()


def latency_section(
    alternatives: dict[str, Callable[[], object]], repeats: int
) -> dict[str, dict[str, float]]:
    samples = interleaved(alternatives, repeats=repeats, warmup=max(5, repeats // 20))
    return {
        name: {
            "p50_ms": percentile(values, 0.5) * 1000,
            "p90_ms": percentile(values, 0.9) * 1000,
            "min_ms": min(values) * 1000,
            "n": len(values),
        }
        for name, values in samples.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    # An extension built without the feature measures today's path and the
    # routing parse only.
    spike = hasattr(_native, "DistributedSession")
    results: dict[str, Any] = {
        "rows": ROWS,
        "files": FILES,
        "queries": QUERIES,
        "feature_distributed": spike,
    }
    workdir = Path(tempfile.mkdtemp(prefix="fs-distributed-spike-"))
    workers = [_native.start_worker(), _native.start_worker()] if spike else []
    try:
        folder = workdir / "t"
        write_parquet(folder, ROWS, FILES)
        config = ServerConfig()
        governing = governing_policy(config, DEFAULT_POLICY, config.policy)
        rules = governing.rulepack.rules()
        settings = session_settings(config)
        addresses = [worker.address for worker in workers]
        results["workers"] = addresses

        today = wheel_context(config, rules)
        today.sql(ddl("t", folder)).collect()
        planners: dict[str, Callable[[str], object]] = {
            "today": lambda sql: today.sql(sql).execution_plan(),
            # What routing a statement by its tables costs at most: one more
            # parse (the policy's parse, with DataFusion's parser).
            "policy_parse": governing.policy.check_sql,
        }
        runners: dict[str, Callable[[str], object]] = {
            "today": lambda sql: today.sql(sql).to_arrow_table(),
        }
        if spike:
            option2 = _native.DistributedSession(addresses, settings, rules)
            option2.execute_ddl(ddl("t", folder))
            planners["option2"] = option2.plan
            runners["option2"] = lambda sql: read(option2.plan(sql))
            option1 = wheel_context(config, rules)
            option1.set_query_planner(_native.NativeReplannerProbe())
            results["option1_ddl"] = attempt(lambda: option1.sql(ddl("t", folder)).collect())
            results["option1_select"] = {
                label: attempt(lambda sql=sql: option1.sql(sql).execution_plan())
                for label, sql in QUERIES.items()
            }

            # Same rows every way; the measured queries stay local under option 2.
            checks: dict[str, Any] = {}
            for label, sql in QUERIES.items():
                expected = sorted_table(today.sql(sql).to_arrow_table())
                planned = option2.plan(sql)
                checks[label] = {
                    "option2_same_rows": sorted_table(read(planned)).equals(expected),
                    "option2_distributed": planned.distributed,
                    "rows": expected.num_rows,
                }
            results["checks"] = checks

        results["planning"] = {
            label: latency_section(
                {name: partial(plan, sql) for name, plan in planners.items()}, args.repeats
            )
            for label, sql in QUERIES.items()
        }
        results["end_to_end"] = {
            label: latency_section(
                {name: partial(run, sql) for name, run in runners.items()}, args.repeats
            )
            for label, sql in QUERIES.items()
        }
        if spike:
            results["distributed"] = distributed_run(folder, settings, rules, addresses, today)
    finally:
        for worker in workers:
            worker.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    text = json.dumps(results, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


def table_kinds(
    workdir: Path,
    config: ServerConfig,
    rules: list[_native.PhysicalRule],
    settings: dict[str, str],
    addresses: list[str],
) -> dict[str, dict[str, str]]:
    """Which of the table kinds the server registers plan under option 1 and option 2."""
    delta_path = workdir / "delta"
    write_deltalake(str(delta_path), pa.table({"id": [1, 2, 3], "v": [0.5, 1.0, 1.5]}))
    provider = _native.DeltaProvider(str(delta_path))
    csv_path = workdir / "c.csv"
    csv_path.write_text("a,b\n1,x\n2,y\n")

    option1 = wheel_context(config, rules)
    option1.set_query_planner(_native.NativeReplannerProbe())
    option2 = _native.DistributedSession(addresses, settings, rules)
    kinds: dict[str, dict[str, str]] = {}

    def both(
        kind: str, register1: Callable[[], object], register2: Callable[[], object] | None
    ) -> None:
        register1()
        entry = {"option1": attempt(lambda: option1.sql(f"SELECT * FROM {kind}").to_arrow_table())}
        if register2 is None:
            entry["option2"] = "not registrable: the wheel's Python-side provider"
        else:
            register2()
            entry["option2"] = attempt(lambda: read(option2.plan(f"SELECT * FROM {kind}")))
        kinds[kind] = entry

    csv_ddl = f"CREATE EXTERNAL TABLE csv_listing STORED AS CSV LOCATION '{csv_path}' " + (
        "OPTIONS ('format.has_header' 'true')"
    )
    both(
        "csv_listing",
        lambda: option1.sql(csv_ddl).collect(),
        lambda: option2.execute_ddl(csv_ddl),
    )
    both(
        "our_delta",
        lambda: option1.register_table("our_delta", provider),
        lambda: option2.register_delta("our_delta", provider),
    )
    both(
        "deltalake_fallback",
        lambda: option1.register_table("deltalake_fallback", DeltaTable(str(delta_path))),
        None,
    )
    both(
        "pyarrow_dataset",
        lambda: option1.register_table("pyarrow_dataset", ds.dataset(pa.table({"a": [1, 2]}))),
        None,
    )
    both(
        "record_batches",
        lambda: option1.register_record_batches(
            "record_batches", [pa.table({"a": [1, 2]}).to_batches()]
        ),
        None,
    )
    return kinds


def distributed_run(
    folder: Path,
    settings: dict[str, str],
    rules: list[_native.PhysicalRule],
    addresses: list[str],
    today: SessionContext,
) -> dict[str, Any]:
    """The aggregate with the threshold at one byte per task: it must distribute."""
    session = _native.DistributedSession(addresses, settings, rules, bytes_per_partition=1)
    session.execute_ddl(ddl("t", folder))
    sql = QUERIES["aggregate"]
    outcome: dict[str, Any] = {"sql": sql, "bytes_per_partition": 1}
    try:
        planned = session.plan(sql)
        outcome["distributed"] = planned.distributed
        outcome["plan"] = planned.display().splitlines()
        started = time.perf_counter()
        table = read(planned)
        outcome["seconds"] = time.perf_counter() - started
        expected = sorted_table(today.sql(sql).to_arrow_table())
        outcome["same_rows_as_today"] = sorted_table(table).equals(expected)
        outcome["rows"] = table.num_rows
    except Exception:  # the spike reports every failure as data
        outcome["error"] = traceback.format_exc().splitlines()[-1]
    return outcome


if __name__ == "__main__":
    main()
