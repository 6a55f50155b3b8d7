"""The version-exact result cache, through a real server and real ADBC clients.

Each query carries a marker in a comment: the comment is not in the plan (so not
in the cache key) but is in the SQL its artifact records, which says whether
the answer came from the cache.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake
from pyarrow import flight

from flightserver.protocol.generated import flight_session_pb2 as fs
from tests.conftest import DEMO_CATALOG
from tests.server_process import ServerProcess
from tests.test_limits import CookieJar, prepare, run_prepared, scrape
from tests.test_roles import PASSWORD, users_toml


@dataclass(frozen=True)
class Served:
    server: ServerProcess
    catalog: Path
    users: bool = False

    def connect(self, user: str | None = None) -> flightsql.Connection:
        kwargs = {} if user is None else {"username": user, "password": PASSWORD}
        return flightsql.connect(self.server.uri, db_kwargs=kwargs, autocommit=True)

    def action(self, name: str, body: dict[str, Any] | None = None) -> Any:
        with flight.connect(self.server.uri) as client:
            token = [client.authenticate_basic_token("ada", PASSWORD)] if self.users else []
            options = flight.FlightCallOptions(headers=token)
            action = flight.Action(name, json.dumps(body or {}).encode())
            [result] = client.do_action(action, options)
        return json.loads(result.body.to_pybytes())

    def run(
        self, sql: str, user: str | None = None, parameters: tuple[Any, ...] | None = None
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Runs `sql` (marked); returns its rows, sorted, and its result_cache outcome."""
        marker = f"m{uuid.uuid4().hex[:12]}"
        with self.connect(user) as conn, conn.cursor() as cur:
            cur.execute(f"/* {marker} */ {sql}", parameters)
            rows = cur.fetch_arrow_table().to_pylist()
        return sorted(rows, key=repr), self.outcome(marker, user)

    def outcome(self, marker: str, user: str | None = None) -> dict[str, Any]:
        self.action("ListArtifacts", {"limit": 1})  # waits for recorded artifacts
        with self.connect(user) as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT payload FROM system.queries WHERE artifact_type = 'query'"
                f" AND sql LIKE '%{marker}%'"
            )
            [payload] = cur.fetch_arrow_table().column("payload").to_pylist()
        return json.loads(str(payload))["result_cache"]


def start(folder: Path, *flags: str) -> Served:
    catalog = folder / "catalog"
    shutil.copytree(DEMO_CATALOG, catalog)
    args = ["--catalog-dir", str(catalog), "--state-dir", str(folder / "state")]
    return Served(ServerProcess.start([*args, "--http-port", "0", *flags]), catalog)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    flags = ["--result-cache-max-entry-bytes", "200000", "--result-cache-max-bytes", "600000"]
    served = start(tmp_path_factory.mktemp("result_cache"), *flags)
    with served.server:
        yield served


def fresh(name: str) -> str:
    return f"{name}_{uuid.uuid4().hex[:8]}"


JOIN = (
    "SELECT r_name, count(*) AS customers FROM customer"
    " JOIN nation ON c_nationkey = n_nationkey JOIN region ON n_regionkey = r_regionkey"
    " WHERE c_custkey IN (SELECT c_custkey FROM customer WHERE c_acctbal > 0)"
    " GROUP BY r_name"
)


def test_a_repeated_query_is_answered_from_the_cache(served: Served) -> None:
    first, missed = served.run(JOIN)
    second, hit = served.run(JOIN)
    assert missed["status"] == "miss"
    assert hit["status"] == "hit" and hit["key_sha256"] == missed["key_sha256"]
    assert second == first and len(first) == 5


def test_delta_writes_change_the_key(served: Served) -> None:
    table = fresh("cache_delta")
    served.run(f"CREATE TABLE {table} AS SELECT 1 AS v")
    query = f"SELECT v FROM {table}"
    assert served.run(query)[1]["status"] == "miss"
    assert served.run(query)[1]["status"] == "hit"
    served.run(f"INSERT INTO {table} VALUES (2)")
    rows, outcome = served.run(query)
    assert outcome["status"] == "miss" and rows == [{"v": 1}, {"v": 2}]
    served.run(f"DELETE FROM {table} WHERE v = 1")
    rows, outcome = served.run(query)
    assert outcome["status"] == "miss" and rows == [{"v": 2}]
    assert served.run(query)[1]["status"] == "hit"


def test_repins_and_time_travel_change_the_key(served: Served) -> None:
    location = served.catalog / "data" / fresh("growing")
    write_deltalake(location, pa.table({"v": [10]}))
    name = location.name
    (served.catalog / "tables" / f"{name}.toml").write_text(
        f'name = "{name}"\nformat = "delta"\nlocation = "data/{name}"\n'
    )
    served.action("RefreshCatalog")
    query = f"SELECT v FROM {name}"
    assert served.run(query)[1]["status"] == "miss"
    rows, outcome = served.run(query)
    assert outcome["status"] == "hit" and rows == [{"v": 10}]
    write_deltalake(location, pa.table({"v": [11]}), mode="append")
    served.action("RepinDelta", {"table": name})
    rows, outcome = served.run(query)
    assert outcome["status"] == "miss" and rows == [{"v": 10}, {"v": 11}]
    served.action("RepinDelta", {"table": name, "table_version": 0})
    rows, outcome = served.run(query)
    assert outcome["status"] == "miss" and rows == [{"v": 10}]


def test_a_new_file_in_a_listing_table_changes_the_key(served: Served) -> None:
    name = fresh("files")
    folder = served.catalog / "data" / name
    folder.mkdir()
    pq.write_table(pa.table({"v": [1]}), folder / "1.parquet")
    definition = served.catalog / "tables" / f"{name}.toml"
    definition.write_text(f'name = "{name}"\nformat = "parquet"\nlocation = "data/{name}/"\n')
    served.action("RefreshCatalog")
    query = f"SELECT v FROM {name}"
    assert served.run(query)[1]["status"] == "miss"
    assert served.run(query)[1]["status"] == "hit"
    pq.write_table(pa.table({"v": [2]}), folder / "2.parquet")
    # The key changed, and the scan lists the folder again (DataFusion's list-files
    # cache is off): the new file's rows are read, then served from the cache.
    rows, outcome = served.run(query)
    assert outcome["status"] == "miss"
    assert rows == [{"v": 1}, {"v": 2}]
    assert served.run(query) == (rows, {**outcome, "status": "hit"})
    definition.write_text(definition.read_text() + "# changed\n")
    served.action("RefreshCatalog")  # a new provider: a new stamp
    assert served.run(query)[1]["status"] == "miss"


def test_ddl_replacing_a_table_changes_the_key(served: Served) -> None:
    name = fresh("replaced")
    for number in (1, 2):
        folder = served.catalog / "data" / f"{name}_{number}"
        folder.mkdir()
        pq.write_table(pa.table({"v": [number]}), folder / "part.parquet")
    create = "CREATE EXTERNAL TABLE {name} STORED AS PARQUET LOCATION '{folder}/'"
    served.run(create.format(name=name, folder=served.catalog / "data" / f"{name}_1"))
    query = f"SELECT v FROM {name}"
    assert served.run(query)[1]["status"] == "miss"
    rows, outcome = served.run(query)
    assert outcome["status"] == "hit" and rows == [{"v": 1}]
    served.run(f"DROP TABLE {name}")
    served.run(create.format(name=name, folder=served.catalog / "data" / f"{name}_2"))
    rows, outcome = served.run(query)
    assert outcome["status"] == "miss" and rows == [{"v": 2}]


@pytest.mark.parametrize(
    ("query", "function"),
    [("SELECT CAST(now() AS VARCHAR) AS t", "now"), ("SELECT random() AS r FROM region", "random")],
)
def test_nondeterministic_queries_bypass_the_cache(
    served: Served, query: str, function: str
) -> None:
    for _ in range(2):
        outcome = served.run(query)[1]
        assert (outcome["status"], outcome["reason"]) == ("bypass", f"nondeterministic: {function}")


def test_results_over_the_entry_limit_are_not_stored(served: Served) -> None:
    query = "SELECT c.* FROM customer c CROSS JOIN region r"  # about 1 MB
    for _ in range(2):
        rows, outcome = served.run(query)
        assert outcome == {**outcome, "status": "bypass", "reason": "result over max_entry_bytes"}
        assert len(rows) == 7500


def test_eviction_keeps_the_cache_within_max_bytes(served: Served) -> None:
    evictions = scrape(served.server, "flightserver_result_cache_evictions_total")
    for number in range(8):  # about 120 kB each, 600 kB allowed
        served.run(f"SELECT c_comment, {number} AS n FROM customer")
    assert scrape(served.server, "flightserver_result_cache_evictions_total") > evictions
    assert scrape(served.server, "flightserver_result_cache_bytes") <= 600_000
    assert scrape(served.server, "flightserver_result_cache_lookups_total", outcome="hit") > 0


def test_bound_parameters_are_part_of_the_key(served: Served) -> None:
    query = "SELECT n_name FROM nation WHERE n_nationkey = ?"
    algeria, missed = served.run(query, parameters=(0,))
    argentina, _ = served.run(query, parameters=(1,))
    again, hit = served.run(query, parameters=(0,))
    assert algeria == again == [{"n_name": "ALGERIA"}] and argentina == [{"n_name": "ARGENTINA"}]
    assert hit["status"] == "hit" and hit["key_sha256"] == missed["key_sha256"]


def test_a_session_option_turns_the_cache_off(served: Served) -> None:
    query = "SELECT count(*) AS n FROM nation"
    with flight.connect(served.server.uri, middleware=[CookieJar()]) as client:
        request = fs.SetSessionOptionsRequest()
        request.session_options["result_cache"].string_value = "off"
        [result] = client.do_action(flight.Action("SetSessionOptions", request.SerializeToString()))
        assert not fs.SetSessionOptionsResult.FromString(result.body.to_pybytes()).errors
        markers = [f"m{uuid.uuid4().hex[:12]}" for _ in range(2)]
        for marker in markers:
            table = run_prepared(client, prepare(client, f"/* {marker} */ {query}"))
            assert table.to_pylist() == [{"n": 25}]
    for marker in markers:
        outcome = served.outcome(marker)
        assert outcome == {**outcome, "status": "bypass", "reason": "disabled for the session"}


def test_the_configuration_turns_the_cache_off(tmp_path: Path) -> None:
    served = start(tmp_path, "--result-cache-enabled", "false")
    with served.server:
        for _ in range(2):
            outcome = served.run("SELECT count(*) FROM nation")[1]
            assert (outcome["status"], outcome["reason"]) == ("bypass", "disabled by configuration")


def test_roles_with_different_policies_do_not_share_entries(tmp_path: Path) -> None:
    users = tmp_path / "users.toml"
    users.write_text(users_toml({"rita": "reader", "ada": "admin"}))
    served = replace(start(tmp_path, "--auth-users-file", str(users)), users=True)
    with served.server:
        assert served.run(JOIN, user="rita")[1]["status"] == "miss"
        assert served.run(JOIN, user="rita")[1]["status"] == "hit"
        rows, outcome = served.run(JOIN, user="ada")
        assert outcome["status"] == "miss" and len(rows) == 5
