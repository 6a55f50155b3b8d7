"""`flightserver health`: is a server serving, and how did its catalog load."""

from __future__ import annotations

import sys
from typing import Any

import click

from flightserver.cli.options import password, timeout_option, uri_option, user_option


@click.command()
@uri_option
@user_option
@timeout_option
@click.option(
    "--grpc-health",
    "health_address",
    metavar="HOST:PORT",
    default=None,
    help="Ask the gRPC health service at HOST:PORT instead of the Flight `health` action.",
)
def health(uri: str, user: str | None, timeout: float | None, health_address: str | None) -> None:
    """Check that a server is serving, and show how its catalog loaded.

    Exits 0 when serving, 1 otherwise (usable as a container health check).
    """
    if health_address is not None:
        _grpc_health(health_address, timeout or 10.0)
        return
    from rich.console import Console
    from rich.table import Table

    from flightserver.cli.client import ClientError, action_json, connect

    try:
        with connect(uri, user, password(user)) as connection:
            report = action_json(connection, "health", timeout or 10.0)
    except ClientError as exc:
        raise click.ClickException(f"not serving: {exc}") from exc
    console = Console()
    console.print(
        f"{report['status']} (flightserver {report['version']}): "
        f"{report['tables_loaded']} tables loaded, {report['tables_failed']} failed"
    )
    failed = report["failed"]
    if isinstance(failed, list) and failed:
        table = Table("definition", "error", title="tables not loaded")
        for entry in failed:
            if isinstance(entry, dict):
                table.add_row(str(entry.get("source")), str(entry.get("error")))
        console.print(table)


def _grpc_health(address: str, timeout: float) -> None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(address) as channel:
        # grpcio's generated stub adds its methods at runtime: untyped.
        stub: Any = health_pb2_grpc.HealthStub(channel)
        try:
            response = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
        except grpc.RpcError as exc:
            raise click.ClickException(f"health service at {address}: {exc}") from exc
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    click.echo(status)
    if response.status != health_pb2.HealthCheckResponse.SERVING:
        sys.exit(1)
