"""The Rust rulepack: installed through the FFI, and visibly at work on plans."""

from __future__ import annotations

import adbc_driver_flightsql.dbapi as flightsql
import datafusion
import pyarrow as pa
import pytest
from adbc_driver_manager import AdbcStatusCode, ProgrammingError
from datafusion import SessionContext

from flightserver import _native
from flightserver.config import ServerConfig
from flightserver.engine.native import ExtensionVersionError, Rulepack, check_ffi_compatibility
from flightserver.engine.policy import build_policy
from tests.clients import query
from tests.conftest import DEMO_CATALOG
from tests.server_process import ServerProcess


def test_extension_matches_the_datafusion_wheel_major() -> None:
    wheel_major = int(datafusion.__version__.split(".")[0])
    assert wheel_major == _native.DATAFUSION_FFI_MAJOR
    check_ffi_compatibility(datafusion.__version__, _native.DATAFUSION_FFI_MAJOR)


def test_version_gate_refuses_another_major() -> None:
    with pytest.raises(
        ExtensionVersionError, match=r"datafusion-ffi 55\.x.*datafusion wheel is 56\.1\.0"
    ):
        check_ffi_compatibility("56.1.0", 55)


def test_rule_runs_on_every_physical_plan_in_process() -> None:
    rulepack = Rulepack(build_policy(ServerConfig()))
    ctx = SessionContext()
    for rule in rulepack.rules():
        ctx.add_physical_optimizer_rule(rule)
    ctx.register_record_batches("t", [[pa.record_batch({"a": [1, 2, 3]})]])
    before = rulepack.counters()["scan_budget_checks"]
    assert ctx.sql("SELECT a FROM t").to_pydict() == {"a": [1, 2, 3]}
    assert rulepack.counters()["scan_budget_checks"] > before


def test_rule_appears_in_the_served_plan(conn: flightsql.Connection) -> None:
    plan = query(conn, "EXPLAIN VERBOSE SELECT * FROM nation WHERE n_regionkey = 1")
    steps = plan.column("plan_type").to_pylist()
    assert "physical_plan after flightserver.rulepack" in steps


def test_scan_budget_refuses_a_large_scan_with_permission_denied() -> None:
    args = ["--catalog-dir", str(DEMO_CATALOG), "--policy-max-scan-rows", "10"]
    with (
        ServerProcess.start(args) as server,
        flightsql.connect(server.uri, autocommit=True) as conn,
    ):
        # region (5 rows) fits the budget of 10 rows; nation (25 rows) does not.
        assert query(conn, "SELECT count(*) AS n FROM region").column("n").to_pylist() == [5]
        with pytest.raises(ProgrammingError) as raised:
            query(conn, "SELECT * FROM nation")
        assert raised.value.status_code == AdbcStatusCode.UNAUTHORIZED
        message = str(raised.value)
        assert "flightserver.scan_budget" in message
        assert "estimated 25 rows, over the limit of 10 rows" in message
