"""`flightserver catalog health|refresh|repin`: the catalog of a running server."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from flightserver.cli.options import password, timeout_option, uri_option, user_option


@click.group("catalog")
def catalog_group() -> None:
    """Catalog health, refresh and Delta re-pinning on a running server."""


def _catalog_action(
    uri: str, user: str | None, timeout: float | None, name: str, body: dict[str, object]
) -> dict[str, object]:
    from flightserver.cli.client import ClientError, action_json, connect

    try:
        with connect(uri, user, password(user)) as connection:
            return action_json(connection, name, timeout or 60.0, json.dumps(body).encode())
    except ClientError as exc:
        raise click.ClickException(str(exc)) from exc


def _dicts(value: object) -> list[dict[str, object]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


@catalog_group.command("health")
@uri_option
@user_option
@timeout_option
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
@uri_option
@user_option
@timeout_option
def catalog_refresh(uri: str, user: str | None, timeout: float | None) -> None:
    """Re-read the server's catalog folder: added, changed and removed files take effect."""
    report = _catalog_action(uri, user, timeout, "RefreshCatalog", {})
    for key in ("added", "changed", "removed", "failed"):
        value = report[key]
        for source in value if isinstance(value, list) else []:
            click.echo(f"{key}: {source}")
    click.echo(f"refreshed in {report['seconds']} s")


@catalog_group.command("repin")
@uri_option
@user_option
@timeout_option
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
