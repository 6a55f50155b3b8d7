"""`flightserver query`: run a statement on a server and print its result."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from enum import StrEnum
from typing import TYPE_CHECKING

import click

from flightserver.cli.options import password, timeout_option, uri_option, user_option

if TYPE_CHECKING:
    import pyarrow as pa


class OutputFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


@click.command()
@uri_option
@user_option
@timeout_option
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
    from flightserver.cli.client import ClientError, connect, query_batches

    try:
        with connect(uri, user, password(user)) as connection:
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
    classic = pyarrow.schema([field.with_type(_classic(field.type)) for field in schema])
    with pacsv.CSVWriter(sys.stdout.buffer, classic) as writer:
        for batch in batches:
            writer.write_batch(batch.cast(classic) if classic != schema else batch)


def _classic(data_type: pa.DataType) -> pa.DataType:
    import pyarrow

    if data_type == pyarrow.string_view():
        return pyarrow.utf8()
    if data_type == pyarrow.binary_view():
        return pyarrow.binary()
    return data_type


def _print_json(batches: Iterator[pa.RecordBatch]) -> None:
    import msgspec

    encoder = msgspec.json.Encoder()
    for batch in batches:
        for row in batch.to_pylist():
            sys.stdout.buffer.write(encoder.encode(row) + b"\n")
