"""`flightserver maintenance run|status`: the Delta maintenance policy of a
running server, over Flight (the RunMaintenance and MaintenanceStatus actions)."""

from __future__ import annotations

import click
import msgspec

from flightserver.cli.options import password, timeout_option, uri_option, user_option

_table_option = click.option(
    "--table", default=None, help="One table, catalog.schema.table (default: every table)."
)


@click.group()
def maintenance() -> None:
    """Delta table maintenance on a running server."""


@maintenance.command()
@uri_option
@user_option
@timeout_option
@_table_option
def run(uri: str, user: str | None, timeout: float | None, table: str | None) -> None:
    """Apply the maintenance policy now, table by table, with a progress bar."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from flightserver.artifacts.model import RunMaintenanceResponse
    from flightserver.cli.client import ClientError, action_json, connect

    console = Console()
    try:
        with connect(uri, user, password(user)) as connection:
            names = [table] if table else _table_names(connection, timeout)
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                console=Console(stderr=True),
                transient=True,
            ) as progress:
                task = progress.add_task("maintenance", total=len(names))
                for name in names:
                    progress.update(task, description=name)
                    body = msgspec.json.encode({"table": name})
                    answer = action_json(connection, "RunMaintenance", timeout, body)
                    response = msgspec.convert(answer, RunMaintenanceResponse)
                    for done in response.runs:
                        checkpoint = done.checkpoint_version
                        console.print(
                            f"{done.table}: version {done.adoption.table_version}, "
                            f"{done.files_compacted} files compacted into {done.files_added}, "
                            f"{done.files_vacuumed} vacuumed, "
                            f"checkpoint {'-' if checkpoint is None else checkpoint}, "
                            f"properties set {done.properties_set or '{}'} "
                            f"({done.duration_ms:.0f} ms)"
                        )
                    progress.advance(task)
    except ClientError as exc:
        raise click.ClickException(str(exc)) from exc


@maintenance.command()
@uri_option
@user_option
@timeout_option
@_table_option
def status(uri: str, user: str | None, timeout: float | None, table: str | None) -> None:
    """Show each table's adoption of the maintenance policy."""
    from rich.console import Console
    from rich.table import Table

    from flightserver.artifacts.model import MaintenanceStatusResponse
    from flightserver.cli.client import ClientError, action_json, connect

    try:
        with connect(uri, user, password(user)) as connection:
            body = msgspec.json.encode({"table": table})
            answer = action_json(connection, "MaintenanceStatus", timeout, body)
    except ClientError as exc:
        raise click.ClickException(str(exc)) from exc
    response = msgspec.convert(answer, MaintenanceStatusResponse)
    shown = Table(
        "table",
        "version",
        "protocol",
        "features",
        "checkpoint",
        "last vacuum",
        "files",
        "adopted",
        title="Delta maintenance",
    )
    for row in response.tables:
        shown.add_row(
            row.table,
            str(row.table_version),
            f"{row.min_reader_version}/{row.min_writer_version}",
            ", ".join(row.writer_features) or "-",
            str(row.last_checkpoint_version) if row.last_checkpoint_version is not None else "-",
            row.last_vacuum.isoformat() if row.last_vacuum else "-",
            f"{row.file_count} ({row.small_file_count} small)",
            "yes" if row.policy_adopted else "no",
        )
    Console(width=200).print(shown)


def _table_names(connection: object, timeout: float | None) -> list[str]:
    from flightserver.artifacts.model import MaintenanceStatusResponse
    from flightserver.cli.client import Connection, action_json

    assert isinstance(connection, Connection)
    answer = action_json(connection, "MaintenanceStatus", timeout, b"{}")
    return [row.table for row in msgspec.convert(answer, MaintenanceStatusResponse).tables]
