"""Reliability while tables change (the short run; scripts/reliability.sh runs the
long one): readers over ADBC and JDBC never fail or see a torn table while the
server's tables are written, re-pinned, refreshed and maintained; after a
SIGKILL mid-run the restarted server serves every table at its last committed
version, the interrupted ingest left nothing visible and system.queries holds
no duplicate."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.jdbc.probe import ProbeRunner
from tests.jdbc.toolchain import compile_probe, fetch_driver
from tests.reliability.lake import EVENTS, EXTERNAL, POINTS
from tests.reliability.run import Load, run

JDBC_DRIVER = "18.3.0"


@pytest.fixture(scope="module")
def jdbc_runner() -> Callable[[int], ProbeRunner]:
    driver, classes = fetch_driver(JDBC_DRIVER), compile_probe()
    return lambda port: ProbeRunner(driver, classes, port)


def test_readers_see_committed_versions_only_and_a_killed_server_recovers(
    tmp_path: Path, jdbc_runner: Callable[[int], ProbeRunner]
) -> None:
    report = run(tmp_path, Load(seconds=15.0, adbc_readers=2, jdbc_rounds=1), jdbc_runner)
    summary = (
        f"{report.adbc_queries} ADBC and {report.jdbc_queries} JDBC queries, "
        f"{report.retried} retried, commits {report.commits}, control {report.control}, "
        f"longest stall {report.longest_stall_ms} ms"
    )
    assert not report.failures, f"{summary}\n" + "\n".join(report.failures[:20])
    assert not report.inconsistent, f"{summary}\n" + "\n".join(report.inconsistent[:20])
    # Not vacuous: every table was read by both drivers while it changed.
    for table in (EVENTS, EXTERNAL, POINTS):
        assert {f"{table}/adbc", f"{table}/jdbc"} <= set(report.read_by), summary
    assert report.commits.get(EVENTS, 0) > 0 and report.commits.get(EXTERNAL, 0) > 0, summary
    assert {"repin", "refresh", "maintenance"} <= set(report.control), summary
    assert report.restart_checks == dict.fromkeys(report.restart_checks, "ok"), (
        report.restart_checks
    )
    assert set(report.restart_checks) == {
        EVENTS,
        EXTERNAL,
        POINTS,
        "made",
        "half",
        "system.queries",
    }
