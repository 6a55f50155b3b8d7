"""Enforcing a table's declared constraints on the rows a write streams in.

This is the one place constraints are checked before a commit: each batch is
checked as it passes to `deltalake` (NOT NULL and CHECK expressions, evaluated
by DataFusion), and the primary key's uniqueness once the stream ends, against
the rows written and the table's current version. A violation raises inside
the stream, so `deltalake` aborts the write and commits nothing. (Delta's own
CHECK constraints on the table stay in force for any other writer.)
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
from datafusion import SessionContext

from flightserver.catalog.constraints import TableConstraints, not_null_name
from flightserver.engine.native import DeltaProvider

_INCOMING = "incoming"
_EXISTING = "existing"


class ConstraintViolation(ValueError):
    """A write breaks a declared constraint; nothing was committed."""

    def __init__(self, table: str, constraint: str, detail: str) -> None:
        super().__init__(f"write to {table} violates constraint {constraint}: {detail}")
        self.constraint = constraint


def missing_columns(constraints: TableConstraints, schema: pa.Schema) -> list[str]:
    """Constrained columns `schema` lacks."""
    return [column for column in constraints.required_columns if column not in schema.names]


class ConstraintChecker:
    """Checks the batches of one write against `constraints`."""

    def __init__(
        self, table: str, constraints: TableConstraints, existing_location: str | None
    ) -> None:
        self.table = table
        self.constraints = constraints
        self._ctx = SessionContext()
        # The table's current version, for the key's uniqueness (None: a new or
        # replaced table). Opened here: the checks run inside deltalake's runtime,
        # where opening a table cannot block.
        self._has_existing = False
        if existing_location is not None and constraints.primary_key:
            # Our provider: it reads deletion vectors (deltalake's, across the FFI, fails on them).
            self._ctx.register_table(_EXISTING, DeltaProvider(existing_location))
            self._has_existing = True
        self._keys: list[pa.Table] = []
        self._check_sql = (
            "SELECT "
            + ", ".join(
                f'count(*) FILTER (WHERE NOT ({expression})) AS "{name}"'
                for name, expression in constraints.checks.items()
            )
            + f" FROM {_INCOMING}"
        )

    def checked(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            self._check_batch(batch)
            yield batch
        self._check_primary_key()

    def _check_batch(self, batch: pa.RecordBatch) -> None:
        for column in self.constraints.required_columns:
            nulls = batch.column(column).null_count
            if nulls:
                raise ConstraintViolation(
                    self.table, not_null_name(column), f"{nulls} rows have NULL in {column}"
                )
        if self.constraints.checks and batch.num_rows:
            self._ctx.register_record_batches(_INCOMING, [[batch]])
            try:
                failed = self._ctx.sql(self._check_sql).to_pydict()
            finally:
                self._ctx.deregister_table(_INCOMING)
            for name, expression in self.constraints.checks.items():
                count = failed[name][0]
                if count:
                    raise ConstraintViolation(
                        self.table, name, f"{count} rows fail CHECK ({expression})"
                    )
        if self.constraints.primary_key:
            self._keys.append(pa.Table.from_batches([batch]).select(self.constraints.primary_key))

    def _check_primary_key(self) -> None:
        key = self.constraints.primary_key
        if not key or not self._keys:
            return
        keys = pa.concat_tables(self._keys)
        name = self.constraints.primary_key_name
        counts = keys.group_by(key).aggregate([([], "count_all")])
        repeated = counts.filter(pa.compute.greater(counts["count_all"], 1))  # pyright: ignore[reportAttributeAccessIssue]
        if repeated.num_rows:
            raise ConstraintViolation(
                self.table,
                name,
                f"primary key ({', '.join(key)}) repeats within the write: "
                f"{_first_key(repeated, key)}",
            )
        if not self._has_existing:
            return
        self._ctx.register_record_batches(_INCOMING, [keys.to_batches()])
        on = " AND ".join(f'i."{column}" = e."{column}"' for column in key)
        columns = ", ".join(f'i."{column}"' for column in key)
        query = self._ctx.sql(
            f"SELECT {columns} FROM {_INCOMING} i JOIN {_EXISTING} e ON {on} LIMIT 1"
        )
        try:
            # This runs on deltalake's runtime thread, where the Delta scan's FFI
            # future cannot run: run the join on a thread of its own.
            with ThreadPoolExecutor(1) as pool:
                clash = pool.submit(query.to_arrow_table).result()
        finally:
            self._ctx.deregister_table(_INCOMING)
        if clash.num_rows:
            raise ConstraintViolation(
                self.table,
                name,
                f"primary key ({', '.join(key)}) already in the table: {_first_key(clash, key)}",
            )


def _first_key(table: pa.Table, key: list[str]) -> str:
    row = table.slice(0, 1).to_pylist()[0]
    return ", ".join(f"{column}={row[column]!r}" for column in key)
