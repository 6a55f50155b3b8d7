"""Roles: each caller's role picks the Rust policy its statements run under.

A real server with a users file of a reader, a writer and an admin; every
statement goes through ADBC and through the Flight SQL JDBC driver. Refusals
are PERMISSION_DENIED with the rule's name; what a role may do must work.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pytest
from adbc_driver_manager import AdbcStatusCode, Error, ProgrammingError

from flightserver.auth.users import hash_password
from flightserver.engine.native import POLICY_ERROR_PREFIX
from tests.clients import query
from tests.conftest import DEMO_CATALOG
from tests.jdbc.probe import ProbeRunner, Report
from tests.jdbc.toolchain import compile_probe, fetch_driver
from tests.server_process import ServerProcess
from tests.test_jdbc import DRIVER_VERSIONS

PASSWORD = "roles-password"
STATEMENT_CLASS = "flightserver.policy.statement_class"
LOCATION = "flightserver.policy.location"
REGION_CSV = DEMO_CATALOG / "data" / "region.csv"


def users_toml(entries: dict[str, str | None]) -> str:
    """A users file; a None role leaves the `role` key out (the old format)."""
    digest = hash_password(PASSWORD)
    lines: list[str] = []
    for name, role in entries.items():
        lines += ["[[users]]", f'name = "{name}"', f'password_hash = "{digest}"']
        if role is not None:
            lines.append(f'role = "{role}"')
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Served:
    server: ServerProcess
    state: Path

    def connect(self, user: str | None) -> flightsql.Connection:
        kwargs = {} if user is None else {"username": user, "password": PASSWORD}
        return flightsql.connect(self.server.uri, db_kwargs=kwargs, autocommit=True)

    def run(self, user: str | None, sql: str) -> pa.Table:
        with self.connect(user) as conn:
            return query(conn, sql)

    def denied(self, user: str | None, sql: str, rule: str) -> str:
        """Runs `sql`, which must fail with PERMISSION_DENIED naming `rule`."""
        with self.connect(user) as conn, pytest.raises(ProgrammingError) as raised:
            query(conn, sql)
        message = str(raised.value)
        assert raised.value.status_code == AdbcStatusCode.UNAUTHORIZED, message
        assert POLICY_ERROR_PREFIX in message and f"rule {rule}" in message, message
        return message


def start(folder: Path, users: str, *flags: str) -> Served:
    users_file = folder / "users.toml"
    users_file.write_text(users)
    state = folder / "state"
    args = ["--catalog-dir", str(DEMO_CATALOG), "--state-dir", str(state)]
    server = ServerProcess.start([*args, "--auth-users-file", str(users_file), *flags])
    return Served(server, state)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("roles")
    users = users_toml({"rita": "reader", "wes": "writer", "ada": "admin"})
    served = start(folder, users)
    with served.server:
        yield served


def fresh(name: str) -> str:
    return f"{name}_{uuid.uuid4().hex[:8]}"


def reader_denials(state: Path, table: str) -> dict[str, str]:
    """Statements a reader may not run, and the rule that refuses each."""
    return {
        f"INSERT INTO {table} VALUES (1)": STATEMENT_CLASS,
        f"COPY (SELECT 1 AS x) TO '{state / 'reader.csv'}' STORED AS CSV": STATEMENT_CLASS,
        f"CREATE TABLE {fresh('reader')} (id BIGINT)": STATEMENT_CLASS,
        f"CREATE EXTERNAL TABLE {fresh('reader')} STORED AS CSV LOCATION '{REGION_CSV}'": (
            STATEMENT_CLASS
        ),
        "SELECT * FROM '/etc/hosts'": LOCATION,
    }


def test_reader_may_only_read_the_catalog(served: Served) -> None:
    table = fresh("roles_reader")
    served.run("ada", f"CREATE TABLE {table} (id BIGINT)")
    assert served.run("rita", "SELECT count(*) AS n FROM nation")["n"].to_pylist() == [25]
    for sql, rule in reader_denials(served.state, table).items():
        served.denied("rita", sql, rule)
    assert served.run("rita", f"SELECT count(*) AS n FROM {table}")["n"].to_pylist() == [0]
    assert not (served.state / "reader.csv").exists()


def test_reader_may_not_ingest(served: Served) -> None:
    with (
        served.connect("rita") as conn,
        conn.cursor() as cursor,
        pytest.raises(Error) as raised,
    ):
        cursor.adbc_ingest(fresh("ingested"), pa.table({"id": [1, 2]}), mode="create")
    assert raised.value.status_code == AdbcStatusCode.UNAUTHORIZED
    assert f"rule {STATEMENT_CLASS}" in str(raised.value)


def test_writer_writes_but_runs_no_ddl(served: Served) -> None:
    table = fresh("roles_writer")
    served.run("ada", f"CREATE TABLE {table} (id BIGINT)")
    served.run("wes", f"INSERT INTO {table} VALUES (1), (2)")
    assert served.run("rita", f"SELECT count(*) AS n FROM {table}")["n"].to_pylist() == [2]
    target = served.state / f"{table}.csv"
    served.run("wes", f"COPY (SELECT * FROM {table}) TO '{target}' STORED AS CSV")
    assert target.read_text().splitlines() == ["id", "1", "2"]
    served.denied("wes", f"CREATE TABLE {fresh('writer')} (id BIGINT)", STATEMENT_CLASS)
    served.denied("wes", f"DROP TABLE {table}", STATEMENT_CLASS)
    served.denied("wes", "SELECT * FROM '/etc/hosts'", LOCATION)


def test_admin_runs_ddl_within_the_allowed_locations(served: Served) -> None:
    external = fresh("roles_external")
    served.run("ada", f"CREATE EXTERNAL TABLE {external} STORED AS CSV LOCATION '{REGION_CSV}'")
    assert served.run("rita", f"SELECT count(*) AS n FROM {external}")["n"].to_pylist() == [5]
    view = fresh("roles_view")
    served.run("ada", f"CREATE VIEW {view} AS SELECT * FROM {external}")
    served.run("ada", f"DROP VIEW {view}")
    served.run("ada", f"DROP TABLE {external}")
    served.denied("ada", "CREATE EXTERNAL TABLE etc STORED AS CSV LOCATION '/etc'", LOCATION)


def test_old_users_files_and_anonymous_callers_get_the_configured_roles(tmp_path: Path) -> None:
    users = users_toml({"olga": None})  # an entry from before roles: no `role` key
    flags = ["--auth-allow-anonymous", "true", "--auth-anonymous-role", "writer"]
    served = start(tmp_path, users, *flags)
    with served.server:
        table = fresh("roles_default")
        served.denied("olga", f"CREATE TABLE {table} (id BIGINT)", STATEMENT_CLASS)
        served.denied(None, f"CREATE TABLE {table} (id BIGINT)", STATEMENT_CLASS)
        served.denied("olga", f"COPY (SELECT 1) TO '{served.state / 'x.csv'}'", STATEMENT_CLASS)
        # Anonymous callers are writers here: COPY into the state folder works.
        served.run(None, f"COPY (SELECT 1 AS x) TO '{served.state / 'x.csv'}' STORED AS CSV")
        assert (served.state / "x.csv").read_text().splitlines() == ["x", "1"]
        assert "login: olga (reader)" in served.server.log


def test_configured_roles_change_a_builtin_role_field_by_field(tmp_path: Path) -> None:
    config = tmp_path / "server.toml"
    config.write_text("[roles.reader]\nallow_explain = false\n[roles.auditor]\nallow_ddl = false\n")
    users = users_toml({"rita": "reader", "aud": "auditor"})
    served = start(tmp_path, users, "--config", str(config))
    with served.server:
        served.denied("rita", "EXPLAIN SELECT 1", STATEMENT_CLASS)
        # The reader keeps its other built-in fields: still no writes.
        served.denied("rita", f"CREATE TABLE {fresh('t')} (id BIGINT)", STATEMENT_CLASS)
        assert served.run("aud", "EXPLAIN SELECT 1").num_rows > 0


def test_a_roles_result_row_limit_stops_its_running_queries(tmp_path: Path) -> None:
    # The filter makes the row count an estimate: the stream's count must stop it,
    # with the caller's role's limit, not the server's (none here).
    config = tmp_path / "server.toml"
    config.write_text("[roles.reader]\nmax_result_rows = 20\n")
    served = start(
        tmp_path, users_toml({"rita": "reader", "ada": "admin"}), "--config", str(config)
    )
    over_limit = "SELECT * FROM customer WHERE c_acctbal > 0"
    with served.server:
        message = served.denied("rita", over_limit, "flightserver.result_rows")
        assert "over the limit of 20 rows" in message
        assert served.run("ada", over_limit).num_rows > 20


def test_a_user_with_an_unknown_role_stops_the_server_at_start(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="user 'eve' has role 'root', which is not configured"):
        start(tmp_path, users_toml({"eve": "root"}))


# -- JDBC ---------------------------------------------------------------------------------


def jdbc_execute(served: Served, version: str, user: str, statements: list[str]) -> Report:
    runner = ProbeRunner(
        fetch_driver(version),
        compile_probe(),
        served.server.port,
        f"&user={user}&password={quote(PASSWORD)}",
    )
    return runner.run("execute", stdin="\0".join(statements))


def jdbc_denied(report: Report, step: str, rule: str) -> None:
    error = report.error(step)
    # The driver wraps the server's status in its own exception, message kept.
    assert "PERMISSION_DENIED" in error["trace"] or "UNAUTHORIZED" in error["trace"], error
    assert f"rule {rule}" in error["trace"], error


@pytest.mark.parametrize("version", DRIVER_VERSIONS)
def test_roles_through_jdbc(served: Served, version: str) -> None:
    table = fresh("roles_jdbc")
    admin = jdbc_execute(
        served,
        version,
        "ada",
        [f"CREATE TABLE {table} (id BIGINT)", f"CREATE VIEW {table}_v AS SELECT * FROM {table}"],
    )
    admin.value("execute:0")
    admin.value("execute:1")

    denials = reader_denials(served.state, table)
    reader = jdbc_execute(served, version, "rita", [f"SELECT count(*) AS n FROM {table}", *denials])
    assert reader.value("execute:0")["result"]["rows"] == [["0"]]
    for index, rule in enumerate(denials.values(), start=1):
        jdbc_denied(reader, f"execute:{index}", rule)

    writer = jdbc_execute(
        served,
        version,
        "wes",
        [
            f"INSERT INTO {table} VALUES (1), (2), (3)",
            f"SELECT count(*) AS n FROM {table}_v",
            f"DROP VIEW {table}_v",
        ],
    )
    assert writer.value("execute:0")["updateCount"] == 3
    assert writer.value("execute:1")["result"]["rows"] == [["3"]]
    jdbc_denied(writer, "execute:2", STATEMENT_CLASS)

    dropped = jdbc_execute(served, version, "ada", [f"DROP VIEW {table}_v", f"DROP TABLE {table}"])
    dropped.value("execute:0")
    dropped.value("execute:1")
