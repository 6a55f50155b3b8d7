"""The SQL policy, enforced in Rust: configuration, and requests through a real server.

Every bypass attempt must fail with PERMISSION_DENIED and a message naming the
rule; the allowed cases must keep working. Writes that a broken policy would
let through are aimed at a scratch folder (never at system paths), and the
tests check that nothing was written there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import adbc_driver_flightsql.dbapi as flightsql
import msgspec
import pyarrow as pa
import pyarrow.parquet
import pytest
from adbc_driver_manager import AdbcStatusCode, ProgrammingError
from datafusion import SessionContext, substrait
from substrait import proto as substrait_proto

from flightserver.config import PolicyConfig, ServerConfig
from flightserver.engine.native import (
    POLICY_ERROR_PREFIX,
    Policy,
    PolicyViolation,
    Rulepack,
    SqlSyntaxError,
)
from flightserver.engine.policy import build_policy, sql_options
from tests.clients import query
from tests.conftest import DEMO_CATALOG
from tests.server_process import ServerProcess

NATION_FILE = DEMO_CATALOG / "data" / "nation.parquet"


@dataclass
class Served:
    """A server with its own state folder, and a folder outside every allowed root."""

    server: ServerProcess
    state: Path
    outside: Path

    def connect(self) -> flightsql.Connection:
        return flightsql.connect(self.server.uri, autocommit=True)


@contextmanager
def serve(tmp: Path, *flags: str) -> Generator[Served]:
    state = tmp / "state"
    outside = tmp / "outside"
    outside.mkdir()
    state.mkdir()
    # A symlink leading out of an allowed root.
    (state / "link").symlink_to(outside, target_is_directory=True)
    args = ["--catalog-dir", str(DEMO_CATALOG), "--state-dir", str(state), *flags]
    with ServerProcess.start(args) as server:
        yield Served(server, state, outside)


@pytest.fixture(scope="module")
def default_policy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A server with no policy configured."""
    with serve(tmp_path_factory.mktemp("default")) as served:
        yield served


@pytest.fixture(scope="module")
def read_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A server whose policy refuses writes (allow_dml and allow_copy off)."""
    flags = ["--policy-allow-dml", "false", "--policy-allow-copy", "false"]
    with serve(tmp_path_factory.mktemp("read-only"), *flags) as served:
        yield served


@pytest.fixture(scope="module")
def copy_allowed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve(tmp_path_factory.mktemp("copy"), "--policy-allow-copy", "true") as served:
        yield served


def denied(served: Served, sql: str) -> str:
    """Runs `sql`, which must fail with PERMISSION_DENIED; returns the message."""
    with served.connect() as conn, pytest.raises(ProgrammingError) as raised:
        query(conn, sql)
    assert raised.value.status_code == AdbcStatusCode.UNAUTHORIZED, str(raised.value)
    message = str(raised.value)
    assert POLICY_ERROR_PREFIX in message
    return message


def rows_of(served: Served, sql: str) -> list[dict[str, object]]:
    with served.connect() as conn:
        return query(conn, sql).to_pylist()


def nothing_written(folder: Path) -> bool:
    return not any(folder.rglob("*"))


# -- configuration ---------------------------------------------------------------


def _every_field_changed() -> PolicyConfig:
    return PolicyConfig(
        allow_query=False,
        allow_explain=False,
        allow_ddl=False,
        allow_dml=False,
        allow_copy=False,
        allow_session=True,
        allowed_locations=["/data", "s3://bucket/prefix"],
        allowed_schemes=["gs"],
        denied_functions=["random"],
        max_scan_rows=1,
        max_scan_bytes=2,
        max_result_rows=3,
    )


def test_every_field_differs_from_its_default() -> None:
    changed = msgspec.structs.asdict(_every_field_changed())
    defaults = msgspec.structs.asdict(PolicyConfig())
    assert [name for name in changed if changed[name] == defaults[name]] == []


def test_rust_decoder_round_trips_every_field_of_the_struct() -> None:
    config = _every_field_changed()
    policy = Policy(msgspec.json.encode(config).decode(), default_roots=[])
    decoded_by_rust = policy.config_json()
    assert msgspec.json.decode(decoded_by_rust, type=PolicyConfig) == config
    schema = msgspec.json.schema(PolicyConfig)
    properties = schema["$defs"]["PolicyConfig"]["properties"]
    assert set(json.loads(decoded_by_rust)) == set(properties)


def test_rust_decoder_refuses_fields_it_does_not_know() -> None:
    config = msgspec.json.decode(msgspec.json.encode(PolicyConfig()))
    with pytest.raises(ValueError, match="allow_everything"):
        Policy(json.dumps({**config, "allow_everything": True}), default_roots=[])
    del config["allow_ddl"]
    with pytest.raises(ValueError, match="allow_ddl"):
        Policy(json.dumps(config), default_roots=[])


def test_rulepack_identity_is_readable_and_follows_its_configuration() -> None:
    def rulepack(**fields: object) -> Rulepack:
        config = ServerConfig(policy=msgspec.structs.replace(PolicyConfig(), **fields))
        return Rulepack(build_policy(config))

    default = rulepack()
    assert Rulepack.name == "flightserver.rulepack"
    assert Rulepack.version >= 2
    assert re.fullmatch("[0-9a-f]{64}", default.config_hash)
    assert json.loads(default.config_json) == {
        "scan_budget": {"max_scan_rows": None, "max_scan_bytes": None},
        "writes_allowed": True,
        "max_result_rows": None,
        "max_endpoints": 1,
    }
    assert rulepack().config_hash == default.config_hash
    # Settings the rules read change the hash; others do not.
    assert rulepack(max_result_rows=5).config_hash != default.config_hash
    assert rulepack(allow_dml=False, allow_copy=False).config_hash != default.config_hash
    assert rulepack(allow_explain=False).config_hash == default.config_hash
    names = [rule.name for rule in default.rules()]
    assert names == [
        "flightserver.scan_budget",
        "flightserver.sink_guard",
        "flightserver.result_rows",
        "flightserver.scan_recorder",
        "flightserver.ordered_output",
        "flightserver.flight_output",
    ]


READ_ONLY = PolicyConfig(allow_ddl=False, allow_dml=False, allow_copy=False)


def test_check_raises_policy_violation_and_syntax_error() -> None:
    policy = build_policy(ServerConfig(catalog_dir=str(DEMO_CATALOG), policy=READ_ONLY))
    policy.check_sql("SELECT 1")
    with pytest.raises(PolicyViolation, match=r"flightserver\.policy\.statement_class"):
        policy.check_sql("INSERT INTO nation SELECT * FROM nation")
    with pytest.raises(SqlSyntaxError):
        policy.check_sql("SELEC 1")


# -- the second and third lines, in process ----------------------------------------


def test_sql_options_back_up_the_statement_classes() -> None:
    read_only = ServerConfig(policy=READ_ONLY)
    ctx = SessionContext()
    options = sql_options(build_policy(read_only))
    for sql, refusal in [
        ("CREATE VIEW v AS SELECT 1", "DDL not supported"),
        ("COPY (SELECT 1) TO 'x.parquet'", "DML not supported"),
        ("SET datafusion.execution.batch_size = 1", "Statement not supported"),
    ]:
        with pytest.raises(Exception, match=refusal):
            ctx.sql_with_options(sql, options)
    assert ctx.sql_with_options("SELECT 1 AS a", options).to_pydict() == {"a": [1]}


def test_sink_guard_refuses_writing_plans_the_checker_never_saw(tmp_path: Path) -> None:
    """The physical rule alone (ctx.sql without the checker) stops a COPY."""
    ctx = SessionContext()
    for rule in Rulepack(build_policy(ServerConfig(policy=READ_ONLY))).rules():
        ctx.add_physical_optimizer_rule(rule)
    target = tmp_path / "x.parquet"
    with pytest.raises(Exception, match=r"flightserver\.sink_guard.*DataSinkExec"):
        ctx.sql(f"COPY (SELECT 1 AS a) TO '{target}'").collect()
    ctx.register_record_batches("t", [[pa.record_batch({"a": [1]})]])
    with pytest.raises(Exception, match=r"flightserver\.sink_guard"):
        ctx.sql("INSERT INTO t VALUES (2)").collect()
    assert not target.exists()
    assert ctx.sql("SELECT count(*) AS n FROM t").to_pydict() == {"n": [1]}


# -- allowed requests keep working ---------------------------------------------------


def test_queries_and_explain_work_by_default(default_policy: Served) -> None:
    assert rows_of(default_policy, "SELECT count(*) AS n FROM nation") == [{"n": 25}]
    plan = rows_of(default_policy, "EXPLAIN SELECT * FROM region")
    assert {row["plan_type"] for row in plan} >= {"logical_plan", "physical_plan"}
    analyzed = rows_of(default_policy, "EXPLAIN ANALYZE SELECT count(*) FROM region")
    assert analyzed[0]["plan_type"] == "Plan with Metrics"


def test_ddl_inside_the_catalog_and_state_folders_works(default_policy: Served) -> None:
    with default_policy.connect() as conn:
        query(
            conn,
            f"CREATE EXTERNAL TABLE nation_again STORED AS PARQUET LOCATION '{NATION_FILE}'",
        )
        assert query(conn, "SELECT count(*) AS n FROM nation_again").to_pylist() == [{"n": 25}]
        query(conn, "CREATE VIEW europe AS SELECT * FROM region WHERE r_name = 'EUROPE'")
        assert query(conn, "SELECT count(*) AS n FROM europe").to_pylist() == [{"n": 1}]
        query(conn, "DROP VIEW europe")
        query(
            conn,
            f"CREATE EXTERNAL TABLE in_state (a INT) STORED AS CSV "
            f"LOCATION 'file://{default_policy.state}/nothing-yet/'",
        )
        assert query(conn, "SELECT count(*) AS n FROM in_state").to_pylist() == [{"n": 0}]


def test_syntax_errors_stay_invalid_argument(default_policy: Served) -> None:
    with default_policy.connect() as conn, pytest.raises(ProgrammingError) as raised:
        query(conn, "SELEC 1")
    assert raised.value.status_code == AdbcStatusCode.INVALID_ARGUMENT


def test_copy_into_the_state_folder_works_when_allowed(copy_allowed: Served) -> None:
    target = copy_allowed.state / "exports" / "nation.parquet"
    rows_of(copy_allowed, f"COPY (SELECT * FROM nation) TO '{target}'")
    assert pyarrow.parquet.read_table(target).num_rows == 25
    relative = copy_allowed.state / "relative.csv"
    rows_of(copy_allowed, f"COPY region TO 'file://{relative}' STORED AS CSV")
    assert relative.exists()


# -- denied requests, and attempts to get around the policy --------------------------


def test_locations_outside_the_roots_are_denied_out_of_the_box(default_policy: Served) -> None:
    message = denied(default_policy, "CREATE EXTERNAL TABLE etc STORED AS CSV LOCATION '/etc'")
    assert "flightserver.policy.location" in message
    assert "CREATE EXTERNAL TABLE ... LOCATION '/etc' resolves to /etc" in message
    assert "policy.allowed_locations (TOML) opens it" in message
    message = denied(default_policy, "COPY (SELECT 1) TO '/etc/x.parquet'")
    assert "flightserver.policy.location" in message
    assert "COPY ... TO '/etc/x.parquet' resolves to /etc/x.parquet" in message


def test_writes_inside_the_state_folder_work_by_default(default_policy: Served) -> None:
    with default_policy.connect() as conn:
        query(conn, "CREATE TABLE default_writes AS SELECT * FROM region")
        query(conn, "INSERT INTO default_writes SELECT * FROM region")
        counted = query(conn, "SELECT count(*) AS n FROM default_writes").to_pylist()
        assert counted == [{"n": 10}]
        with conn.cursor() as cursor:
            cursor.adbc_ingest("default_ingest", pa.table({"a": [1, 2]}), mode="create")
        assert query(conn, "SELECT count(*) AS n FROM default_ingest").to_pylist() == [{"n": 2}]
    target = default_policy.state / "exports" / "region.parquet"
    rows_of(default_policy, f"COPY (SELECT * FROM region) TO '{target}'")
    assert pyarrow.parquet.read_table(target).num_rows == 5


def test_refusals_name_the_option_that_opens_them(default_policy: Served) -> None:
    message = denied(default_policy, "SET datafusion.execution.batch_size = 1")
    assert "SET is a statement of class session" in message
    assert "policy.allow_session = true opens it" in message


def test_a_read_only_policy_refuses_writes_by_class(read_only: Served) -> None:
    message = denied(read_only, "INSERT INTO nation SELECT * FROM nation")
    assert "INSERT is a statement of class dml" in message
    assert "policy.allow_dml = true opens it" in message
    assert rows_of(read_only, "SELECT count(*) AS n FROM nation") == [{"n": 25}]
    message = denied(read_only, "COPY (SELECT 1) TO 'x.parquet'")
    assert "policy.allow_copy = true opens it" in message


COPY_BYPASSES = [
    "cOpY (SELECT 1) TO '{target}'",
    "/* a comment */ COPY (SELECT 1) -- another\n TO '{target}'",
    "EXPLAIN ANALYZE COPY (SELECT 1) TO '{target}'",
    "EXPLAIN ANALYZE VERBOSE COPY (SELECT 1) TO '{target}'",
    "SELECT 1; COPY (SELECT 1) TO '{target}'",
    "COPY (SELECT 1) TO '{target}'; SELECT 1",
    "PREPARE p AS COPY (SELECT 1) TO '{target}'",
]


@pytest.mark.parametrize("template", COPY_BYPASSES)
def test_copy_is_denied_however_it_is_spelled(read_only: Served, template: str) -> None:
    target = read_only.outside / "x.parquet"
    message = denied(read_only, template.format(target=target))
    assert "flightserver.policy.statement_class" in message
    assert nothing_written(read_only.outside)


def test_several_statements_are_refused_before_any_runs(default_policy: Served) -> None:
    message = denied(default_policy, "SELECT 1; DROP TABLE region")
    assert "flightserver.policy.single_statement" in message
    assert "holds 2 statements" in message
    assert rows_of(default_policy, "SELECT count(*) AS n FROM region") == [{"n": 5}]


LOCATION_BYPASSES = [
    # file:// spelled several ways
    "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION 'file:/etc/passwd'",
    "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION 'file:///etc/passwd'",
    "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION 'file://localhost/etc/passwd'",
    "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION 'FILE:///etc/passwd'",
    "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION 'file://other-host/etc/passwd'",
    # mixed case, comments, quoted identifiers
    "cReAtE /* x */ ExTeRnAl TaBlE \"T\" STORED AS CSV LOCATION '/etc/'",
    'CREATE EXTERNAL TABLE "catalog"."public"."t" STORED AS CSV LOCATION \'/etc/\'',
    # ../ traversal out of the catalog and state folders
    "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '{catalog}/../../../../../etc/passwd'",
    "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '{state}/../outside/'",
    "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION 'file://{state}/../outside/'",
    # percent-encoded traversal
    "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION 'file://{state}/%2e%2e/outside/'",
    "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION 'file://{state}/%2E%2E/outside/'",
    "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '{state}/%2e%2e/outside/'",
    "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION 'file://{state}/%252e%252e/outside/'",
    # a symlink out of an allowed root
    "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '{state}/link/'",
    "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION 'file://{state}/link/x.csv'",
    # several locations, one of them outside
    "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION ('{state}/a.csv', '/etc/passwd')",
    # CTAS and views reaching a forbidden location through a path-like table name
    'CREATE TABLE t AS SELECT * FROM "/etc/passwd"',
    "CREATE TABLE t AS SELECT * FROM 'file:///etc/passwd'",
    'CREATE VIEW v AS SELECT * FROM "{state}/link/x.csv"',
    "CREATE VIEW v AS SELECT * FROM (SELECT * FROM 'file:///etc/passwd')",
    'EXPLAIN CREATE VIEW v AS SELECT * FROM "/etc/passwd"',
    # unknown schemes
    "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION 's3://bucket/x.csv'",
    "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION 'http://127.0.0.1:1/x.csv'",
]


@pytest.mark.parametrize("template", LOCATION_BYPASSES)
def test_locations_outside_the_roots_are_denied_however_spelled(
    default_policy: Served, template: str
) -> None:
    sql = template.format(catalog=DEMO_CATALOG, state=default_policy.state)
    message = denied(default_policy, sql)
    assert "flightserver.policy.location" in message
    with default_policy.connect() as conn, pytest.raises(ProgrammingError):
        query(conn, "SELECT * FROM t")  # nothing was created


COPY_LOCATION_BYPASSES = [
    "COPY (SELECT 1) TO '{outside}/x.parquet'",
    "COPY (SELECT 1) TO 'file://{outside}/x.parquet'",
    "COPY (SELECT 1) TO '{state}/../outside/x.parquet'",
    "COPY (SELECT 1) TO 'file:{state}/%2e%2e/outside/x.parquet'",
    "COPY (SELECT 1) TO '{state}/%2e%2e/outside/x.parquet'",
    "COPY (SELECT 1) TO '{state}/link/x.parquet'",
    "COPY (SELECT 1) TO 'file://localhost{state}/link/sub/x.parquet'",
    "EXPLAIN ANALYZE COPY (SELECT 1) TO '{state}/link/x.parquet'",
    "COPY nation TO '{state}/link/x.parquet'",
]


@pytest.mark.parametrize("template", COPY_LOCATION_BYPASSES)
def test_copy_where_allowed_still_cannot_leave_the_roots(
    copy_allowed: Served, template: str
) -> None:
    sql = template.format(state=copy_allowed.state, outside=copy_allowed.outside)
    message = denied(copy_allowed, sql)
    assert "flightserver.policy.location" in message
    assert "outside the allowed locations" in message
    assert nothing_written(copy_allowed.outside)


@pytest.mark.parametrize(
    "sql",
    [
        "SET datafusion.sql_parser.dialect = 'mysql'",
        "SET \"datafusion.runtime.temp_directory\" = '/tmp'",
        "RESET datafusion.execution.collect_statistics",
    ],
)
def test_engine_settings_the_policy_relies_on_cannot_be_changed(tmp_path: Path, sql: str) -> None:
    with serve(tmp_path, "--policy-allow-session", "true") as served:
        message = denied(served, sql)
        assert "flightserver.policy.setting" in message
        with served.connect() as conn:
            query(conn, "SET datafusion.execution.batch_size = 1024")


# -- resource guards -----------------------------------------------------------------


@pytest.fixture(scope="module")
def result_rows_limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("rows")
    with serve(tmp, "--policy-max-result-rows", "20") as served:
        yield served


def test_max_result_rows_refuses_exact_counts_at_planning(result_rows_limited: Served) -> None:
    assert len(rows_of(result_rows_limited, "SELECT * FROM region")) == 5
    assert len(rows_of(result_rows_limited, "SELECT * FROM customer LIMIT 20")) == 20
    # nation's Parquet statistics say exactly 25 rows: refused before running.
    message = denied(result_rows_limited, "SELECT * FROM nation")
    assert "flightserver.result_rows" in message
    assert "would have 25 rows, over the limit of 20 rows" in message


# A filter makes the row count an estimate, so the limit stops the stream itself.
OVER_LIMIT_WHILE_RUNNING = "SELECT * FROM customer WHERE c_acctbal > 0"


def test_max_result_rows_stops_a_running_query(result_rows_limited: Served) -> None:
    with result_rows_limited.connect() as conn, pytest.raises(flightsql.Error) as raised:
        query(conn, OVER_LIMIT_WHILE_RUNNING)
    message = str(raised.value)
    assert "flightserver.result_rows" in message
    assert "over the limit of 20 rows" in message


def test_max_result_rows_while_running_is_permission_denied(result_rows_limited: Served) -> None:
    denied(result_rows_limited, OVER_LIMIT_WHILE_RUNNING)


def test_denied_functions(tmp_path: Path) -> None:
    config = tmp_path / "server.toml"
    config.write_text('[policy]\ndenied_functions = ["generate_series", "random"]\n')
    with serve(tmp_path, "--config", str(config)) as served:
        for sql in [
            "SELECT * FROM generate_series(1, 3)",
            'SELECT * FROM "generate_series"(1, 3)',
            "SELECT count(*) FROM nation WHERE RANDOM() < 2",
            "CREATE VIEW v AS SELECT random()",
            "EXPLAIN ANALYZE SELECT random()",
        ]:
            message = denied(served, sql)
            assert "flightserver.policy.function" in message
        assert rows_of(served, "SELECT abs(-1) AS a") == [{"a": 1}]
        # Substrait plans answer to the same policy.
        plan = substrait_plan("SELECT n_name, random() AS r FROM nation")
        with served.connect() as conn, pytest.raises(ProgrammingError) as raised:
            run_substrait(conn, plan)
        assert raised.value.status_code == AdbcStatusCode.UNAUTHORIZED, str(raised.value)
        assert "flightserver.policy.function" in str(raised.value)
        allowed = substrait_plan("SELECT n_name, abs(n_nationkey) AS k FROM nation")
        with served.connect() as conn:
            assert run_substrait(conn, allowed).num_rows == 25


def run_substrait(conn: flightsql.Connection, plan: bytes) -> pa.Table:
    with conn.cursor() as cursor:
        cursor.execute(plan)
        return cursor.fetch_arrow_table()


def substrait_plan(sql: str) -> bytes:
    """`sql`'s Substrait plan, made in process by DataFusion over the demo catalog."""
    ctx = SessionContext()
    ctx.register_parquet("nation", str(DEMO_CATALOG / "data" / "nation.parquet"))
    return substrait.Producer.to_substrait_plan(ctx.sql(sql).logical_plan(), ctx).encode()


def test_substrait_plans_reading_unknown_tables_are_refused(default_policy: Served) -> None:
    # A table the producer knew but the server has not: no plan reads past the catalog.
    ctx = SessionContext()
    ctx.register_parquet("secrets", str(DEMO_CATALOG / "data" / "nation.parquet"))
    plan = substrait.Producer.to_substrait_plan(
        ctx.sql("SELECT * FROM secrets").logical_plan(), ctx
    )
    with default_policy.connect() as conn, pytest.raises(ProgrammingError, match="secrets"):
        run_substrait(conn, plan.encode())
    # Files read by path would go around the catalog and the policy's locations.
    outside = default_policy.outside / "secret.parquet"
    pyarrow.parquet.write_table(pa.table({"a": [1]}), outside)
    by_path = substrait_proto.Plan()
    root = by_path.relations.add().root
    root.names.append("a")
    read = root.input.read
    read.base_schema.names.append("a")
    read.base_schema.struct.types.add().i64.nullability = substrait_proto.Type.NULLABILITY_NULLABLE
    item = read.local_files.items.add()
    item.uri_file = outside.as_uri()
    item.parquet.SetInParent()
    with default_policy.connect() as conn, pytest.raises(ProgrammingError) as raised:
        run_substrait(conn, by_path.SerializeToString())
    assert raised.value.status_code == AdbcStatusCode.INVALID_ARGUMENT
    assert "reads of files by path are not supported" in str(raised.value)
