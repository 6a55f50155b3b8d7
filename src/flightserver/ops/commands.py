"""Operator commands beyond `serve`: query a server, check its health, write a config.

Each talks to a running server through Flight (pyarrow.flight) only, so it
works against any flightserver it can reach.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    import pyarrow as pa

DEFAULT_URI = "grpc://127.0.0.1:32010"

_uri_option = click.option(
    "--uri",
    default=DEFAULT_URI,
    envvar="FLIGHTSERVER_URI",
    show_envvar=True,
    show_default=True,
    help="The server to talk to.",
)
_user_option = click.option(
    "--user",
    default=None,
    envvar="FLIGHTSERVER_USER",
    show_envvar=True,
    help="Log in as this user (password from FLIGHTSERVER_PASSWORD, else asked for).",
)
_timeout_option = click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Give up after this many seconds (default: wait).",
)


class OutputFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


def _password(user: str | None) -> str | None:
    if user is None:
        return None
    import os

    password = os.environ.get("FLIGHTSERVER_PASSWORD")
    if password is None:
        password = click.prompt(f"password for {user}", hide_input=True, err=True)
    return password


@click.command()
@_uri_option
@_user_option
@_timeout_option
@click.option(
    "--format",
    "output_format",
    type=click.Choice([f.value for f in OutputFormat]),
    default=OutputFormat.TABLE.value,
    show_default=True,
    help="table: a formatted table; csv: CSV with a header; json: one JSON object a line.",
)
@click.option(
    "--max-rows",
    type=click.IntRange(min=0),
    default=100,
    show_default=True,
    help="Rows the table format shows (csv and json print all).",
)
@click.argument("statement")
def query(
    *,
    uri: str,
    user: str | None,
    timeout: float | None,
    output_format: str,
    max_rows: int,
    statement: str,
) -> None:
    """Run STATEMENT (SQL) on a server and print its result.

    Rows stream from the server; a progress line counts them on stderr.
    """
    from flightserver.ops.client import ClientError, connect, query_batches

    try:
        with connect(uri, user, _password(user)) as connection:
            schema, batches = query_batches(connection, statement, timeout)
            counted = _with_progress(batches)
            if OutputFormat(output_format) is OutputFormat.TABLE:
                _print_table(schema, counted, max_rows)
            elif OutputFormat(output_format) is OutputFormat.CSV:
                _print_csv(schema, counted)
            else:
                _print_json(counted)
    except ClientError as exc:
        raise click.ClickException(str(exc)) from exc


def _with_progress(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """`batches`, counted by a transient progress line on stderr."""
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.completed:,} rows received"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task("query", total=None)
        for batch in batches:
            progress.advance(task, batch.num_rows)
            yield batch


def _print_table(schema: pa.Schema, batches: Iterator[pa.RecordBatch], max_rows: int) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(*schema.names)
    total = shown = 0
    for batch in batches:
        total += batch.num_rows
        for row in batch.slice(0, max(0, max_rows - shown)).to_pylist():
            table.add_row(*("NULL" if value is None else str(value) for value in row.values()))
            shown += 1
    console = Console()
    console.print(table)
    more = f", {shown} shown" if shown < total else ""
    console.print(f"({total} row{'s' if total != 1 else ''}{more})")


def _print_csv(schema: pa.Schema, batches: Iterator[pa.RecordBatch]) -> None:
    import pyarrow
    import pyarrow.csv as pacsv

    # pyarrow's CSV writer has no view types; the server sends them to native clients.
    views: dict[pyarrow.DataType, pyarrow.DataType] = {
        pyarrow.string_view(): pyarrow.utf8(),
        pyarrow.binary_view(): pyarrow.binary(),
    }
    classic = pyarrow.schema([field.with_type(_classic(views, field.type)) for field in schema])
    with pacsv.CSVWriter(sys.stdout.buffer, classic) as writer:
        for batch in batches:
            writer.write_batch(batch.cast(classic) if classic != schema else batch)


def _classic(views: dict[pa.DataType, pa.DataType], data_type: pa.DataType) -> pa.DataType:
    return views.get(data_type, data_type)


def _print_json(batches: Iterator[pa.RecordBatch]) -> None:
    import msgspec

    encoder = msgspec.json.Encoder()
    for batch in batches:
        for row in batch.to_pylist():
            sys.stdout.buffer.write(encoder.encode(row) + b"\n")


@click.command()
@_uri_option
@_user_option
@_timeout_option
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

    from flightserver.ops.client import ClientError, action_json, connect

    try:
        with connect(uri, user, _password(user)) as connection:
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


@click.command("config")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    default="-",
    show_default=True,
    help="Where to write the file (-: standard output).",
)
def config_command(output: str) -> None:
    """Write a configuration file (TOML) with every option, described, at its default."""
    from flightserver.ops.config_file import config_template

    with click.open_file(output, "w") as stream:
        stream.write(config_template())


@click.command("user")
@click.argument("name")
@click.option("--role", default="reader", show_default=True, help="The user's role.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input (default: ask for it twice).",
)
def user_command(name: str, role: str, password_stdin: bool) -> None:
    """Print a users-file entry (TOML) for NAME, with an argon2id password hash.

    Append it to the file that `serve --auth-users-file` reads.
    """
    from flightserver.auth.users import User, hash_password

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt(
            f"password for {name}", hide_input=True, confirmation_prompt=True, err=True
        )
    if not password:
        raise click.UsageError("the password is empty")
    entry = User(name=name, password_hash=hash_password(password), role=role)
    click.echo("[[users]]")
    for key in ("name", "password_hash", "role"):
        click.echo(f"{key} = {json.dumps(getattr(entry, key))}")


@click.command()
@_uri_option
@_user_option
@_timeout_option
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    default="-",
    show_default=True,
    help="Where to write the bundle JSON (-: standard output).",
)
@click.argument("statement")
def bundle(
    *, uri: str, user: str | None, timeout: float | None, output: str, statement: str
) -> None:
    """Plan STATEMENT (SQL) on a server and export its plan bundle (JSON).

    The server also stores the bundle as an artifact; its id is printed on stderr.
    """
    from flightserver.ops.client import ClientError, action_json, connect

    body = json.dumps({"sql": statement}).encode()
    try:
        with connect(uri, user, _password(user)) as connection:
            response = action_json(connection, "GetPlanBundle", timeout, body)
    except ClientError as exc:
        raise click.ClickException(str(exc)) from exc
    with click.open_file(output, "w") as stream:
        json.dump(response["bundle"], stream, indent=2, sort_keys=True)
        stream.write("\n")
    click.echo(f"artifact {response['artifact_id']}", err=True)


# -- catalog ------------------------------------------------------------------


@click.group("catalog")
def catalog_group() -> None:
    """Catalog health, refresh and Delta re-pinning on a running server."""


def _catalog_action(
    uri: str, user: str | None, timeout: float | None, name: str, body: dict[str, object]
) -> dict[str, object]:
    from flightserver.ops.client import ClientError, action_json, connect

    try:
        with connect(uri, user, _password(user)) as connection:
            return action_json(connection, name, timeout or 60.0, json.dumps(body).encode())
    except ClientError as exc:
        raise click.ClickException(str(exc)) from exc


def _dicts(value: object) -> list[dict[str, object]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


@catalog_group.command("health")
@_uri_option
@_user_option
@_timeout_option
@click.option("--json", "as_json", is_flag=True, help="Print the CatalogHealth response as JSON.")
def catalog_health(uri: str, user: str | None, timeout: float | None, as_json: bool) -> None:
    """Show every table definition and autoload folder, and every Delta table's pin.

    Exits 1 when an entry failed to load.
    """
    from rich.console import Console
    from rich.table import Table

    report = _catalog_action(uri, user, timeout, "CatalogHealth", {})
    if as_json:
        click.echo(json.dumps(report, indent=2, sort_keys=True))
    else:
        console = Console(width=200)
        entries = Table("entry", "table", "format", "status", "detail", title="catalog")
        for entry in _dicts(report["entries"]):
            error, warning = entry.get("error"), entry.get("warning")
            status = "error" if error else "warning" if warning else "loaded"
            tables = entry.get("tables")
            detail = (
                error
                or warning
                or (f"tables: {', '.join(map(str, tables))}" if isinstance(tables, list) else "")
            )
            entries.add_row(
                Path(str(entry["source"])).name,
                str(entry.get("name") or ""),
                str(entry.get("format") or ""),
                status,
                str(detail),
            )
        console.print(entries)
        pins = Table("table", "provider", "version", "files", "file set sha256", title="Delta pins")
        for pin in _dicts(report["delta_tables"]):
            pins.add_row(
                str(pin["table"]),
                str(pin["provider"]),
                str(pin["table_version"]) + (" (fixed)" if pin.get("fixed") else ""),
                str(pin["file_count"]),
                str(pin.get("file_set_sha256") or "-"),
            )
        console.print(pins)
        console.print(
            f"{report['loaded']} loaded, {report['failed']} failed, {report['warnings']} warnings"
        )
    if report["failed"]:
        sys.exit(1)


@catalog_group.command("refresh")
@_uri_option
@_user_option
@_timeout_option
def catalog_refresh(uri: str, user: str | None, timeout: float | None) -> None:
    """Re-read the server's catalog folder: added, changed and removed files take effect."""
    report = _catalog_action(uri, user, timeout, "RefreshCatalog", {})
    for key in ("added", "changed", "removed", "failed"):
        value = report[key]
        for source in value if isinstance(value, list) else []:
            click.echo(f"{key}: {source}")
    click.echo(f"refreshed in {report['seconds']} s")


@catalog_group.command("repin")
@_uri_option
@_user_option
@_timeout_option
@click.option(
    "--version",
    "table_version",
    type=click.IntRange(min=0),
    default=None,
    help="Pin this version (needs TABLE); default: the newest.",
)
@click.argument("table", required=False)
def catalog_repin(
    uri: str, user: str | None, timeout: float | None, table_version: int | None, table: str | None
) -> None:
    """Move TABLE (a Delta table), or every Delta table not pinned to a chosen
    version, to its newest version."""
    if table_version is not None and table is None:
        raise click.UsageError("--version needs a TABLE")
    body: dict[str, object] = {"table": table, "table_version": table_version}
    report = _catalog_action(uri, user, timeout, "RepinDelta", body)
    moved = _dicts(report["repinned"])
    for entry in moved:
        click.echo(f"{entry['table']}: version {entry['from_version']} -> {entry['to_version']}")
    if not moved:
        click.echo("every Delta table is at its newest version")


# Shared with the operator command modules beside this one.
uri_option, user_option, timeout_option = _uri_option, _user_option, _timeout_option
password = _password


def operator_commands() -> list[click.Command]:
    from flightserver.ops.maintenance_command import maintenance

    return [query, health, config_command, user_command, bundle, catalog_group, maintenance]
