"""Health: the gRPC health service, the `health` action, and readiness after the catalog."""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pyarrow import flight

from flightserver.ops.health import FLIGHT_SERVICE, HealthServer
from tests.conftest import DEMO_CATALOG
from tests.server_process import ServerProcess

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.fixture(scope="module")
def ops_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    state_dir = tmp_path_factory.mktemp("ops-health-state")
    args = ["--catalog-dir", str(DEMO_CATALOG), "--state-dir", str(state_dir)]
    args += ["--health-port", "0", "--http-port", "0"]
    with ServerProcess.start(args) as process:
        yield process


def _health_address(server: ServerProcess) -> str:
    return server.announced("health").removeprefix("grpc://")


def test_health_service_starts_not_serving_and_flips() -> None:
    """The service the server starts before loading its catalog, on a real port."""
    service = HealthServer("127.0.0.1", 0)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            # grpcio's generated stub adds its methods at runtime: untyped.
            stub: Any = health_pb2_grpc.HealthStub(channel)
            request = health_pb2.HealthCheckRequest(service="")
            assert stub.Check(request, timeout=10).status == NOT_SERVING
            watch = stub.Watch(request)
            assert next(watch).status == NOT_SERVING
            service.set_serving(True)
            assert next(watch).status == SERVING
            assert stub.Check(request, timeout=10).status == SERVING
            watch.cancel()
    finally:
        service.stop()


def test_server_reports_serving_only_after_catalog_load(ops_server: ServerProcess) -> None:
    with grpc.insecure_channel(_health_address(ops_server)) as channel:
        stub: Any = health_pb2_grpc.HealthStub(channel)
        for service in ("", FLIGHT_SERVICE):
            request = health_pb2.HealthCheckRequest(service=service)
            assert stub.Check(request, timeout=10).status == SERVING
        with pytest.raises(grpc.RpcError) as raised:
            stub.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=10)
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    # The health port was up before the catalog loaded; readiness came after it.
    log = ops_server.log
    health_line = log.index("flightserver health on ")
    catalog_line = log.index("tables loaded")
    ready_line = log.index(" ready")
    listening_line = log.index("flightserver listening on ")
    assert health_line < catalog_line < ready_line < listening_line
    http = ops_server.announced("http")
    with urllib.request.urlopen(f"{http}/ready") as response:
        assert response.status == 200


def test_health_action(ops_server: ServerProcess) -> None:
    with flight.FlightClient(ops_server.uri) as client:
        names = {action.type for action in client.list_actions()}
        assert "health" in names
        results = list(client.do_action(flight.Action("health", b"")))
    report = json.loads(results[0].body.to_pybytes())
    assert report["status"] == "SERVING"
    assert report["tables_loaded"] == 3
    assert report["tables_failed"] == 0


def test_health_action_reports_failed_tables(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    shutil.copytree(DEMO_CATALOG, catalog)
    (catalog / "tables" / "broken.toml").write_text(
        'name = "broken"\nformat = "parquet"\nlocation = "data/missing.parquet"\n'
    )
    args = ["--catalog-dir", str(catalog), "--state-dir", str(tmp_path / "state")]
    with ServerProcess.start(args) as server, flight.FlightClient(server.uri) as client:
        results = list(client.do_action(flight.Action("health", b"")))
    report = json.loads(results[0].body.to_pybytes())
    assert report["tables_loaded"] == 3
    assert report["tables_failed"] == 1
    assert report["failed"][0]["source"].endswith("broken.toml")
