"""Writes catalog folders for the catalog tests: data files of every format,
table definitions and autoload declarations."""

from __future__ import annotations

import json
from pathlib import Path

import fastavro
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from pyarrow import ipc

PEOPLE = pa.table(
    {
        "id": pa.array([3, 1, 2], pa.int64()),
        "name": pa.array(["carol", "alice", "bob"], pa.string()),
    }
)


def write_parquet(path: Path, table: pa.Table = PEOPLE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def write_csv(path: Path, table: pa.Table = PEOPLE, delimiter: str = ",") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(table, path, pacsv.WriteOptions(delimiter=delimiter))


def write_ndjson(path: Path, table: pa.Table = PEOPLE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in table.to_pylist()))


def write_arrow(path: Path, table: pa.Table = PEOPLE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with ipc.new_file(str(path), table.schema) as writer:
        writer.write_table(table)


def write_avro(path: Path, table: pa.Table = PEOPLE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    schema = {
        "type": "record",
        "name": "person",
        "fields": [{"name": "id", "type": "long"}, {"name": "name", "type": "string"}],
    }
    with path.open("wb") as stream:
        fastavro.writer(stream, fastavro.parse_schema(schema), table.to_pylist())


def write_toml(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def define(catalog: Path, file_name: str, text: str) -> Path:
    """Writes `catalog/tables/<file_name>.toml`."""
    return write_toml(catalog / "tables" / f"{file_name}.toml", text)


def declare_autoload(catalog: Path, file_name: str, text: str) -> Path:
    """Writes `catalog/autoload/<file_name>.toml`."""
    return write_toml(catalog / "autoload" / f"{file_name}.toml", text)
