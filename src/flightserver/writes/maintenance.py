"""Applies the Delta maintenance policy to the tables the server writes.

A run brings one table to the policy: table properties and features
(checkpoint interval, deletion vectors), small-file compaction (optimize) when
enough small files gathered, a checkpoint when one is due, else compaction of
the log written since the last checkpoint, and vacuum. Runs happen after every
commit of the server (when `after_commit` is on) and on demand (the
RunMaintenance action, `flightserver maintenance run`). Each table's adoption
state is kept in `system.maintenance`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from datafusion import SessionContext
from deltalake import DeltaTable, TableFeatures

from flightserver.artifacts.model import TableAdoption, TableMaintenanceRun
from flightserver.catalog.delta import DeltaTables
from flightserver.catalog.loader import ensure_schema
from flightserver.catalog.protected import guarded_vacuum
from flightserver.engine.memory_tables import memory_table
from flightserver.engine.native import DeltaProvider
from flightserver.writes.maintenance_config import MaintenancePolicy
from flightserver.writes.rewrite_lock import rewrite_lock

log = logging.getLogger(__name__)

SYSTEM_SCHEMA = "system"
MAINTENANCE_TABLE = "maintenance"

CHECKPOINT_INTERVAL = "delta.checkpointInterval"
DELETION_VECTORS = "delta.enableDeletionVectors"
CHECKPOINT_POLICY = "delta.checkpointPolicy"
_DV_FEATURE = "deletionVectors"
_V2_CHECKPOINT_FEATURE = "v2Checkpoint"
_HISTORY_DEPTH = 500  # commits searched for the last optimize and vacuum


class UnknownTable(KeyError):
    """No Delta table the server maintains has this name."""


class Maintainer:
    def __init__(
        self,
        policy: MaintenancePolicy,
        delta_tables: DeltaTables,
        ctx: SessionContext,
        catalog: str,
    ) -> None:
        self.policy = policy
        self.delta_tables = delta_tables
        self.ctx = ctx
        self.catalog = catalog
        self._lock = threading.Lock()  # one run at a time: runs commit to the tables
        self._errors: dict[str, str] = {}
        self._adoption: dict[str, TableAdoption] = {}

    def tables(self) -> list[str]:
        """The Delta tables under the policy: all but the server's own system tables."""
        return sorted(
            name
            for name, entry in self.delta_tables.entries.items()
            if entry.schema != SYSTEM_SCHEMA
        )

    def _location(self, name: str) -> str:
        if name not in self.tables():
            raise UnknownTable(f"no Delta table {name!r} is maintained; known: {self.tables()}")
        return self.delta_tables.entries[name].location

    # -- running -----------------------------------------------------------------

    def after_commit(self, name: str) -> None:
        """Applies the policy after a commit; a failure is logged, never raised
        (the commit already happened)."""
        if not self.policy.for_table(name).after_commit or name not in self.tables():
            return
        try:
            self.run(name)
        except Exception as exc:
            log.exception("maintenance of %s after a commit failed", name)
            self._errors[name] = str(exc)
            self.refresh(name)

    def run(self, name: str) -> TableMaintenanceRun:
        location = self._location(name)
        policy = self.policy.for_table(name)
        started = time.perf_counter()
        with self._lock, rewrite_lock(location):  # not while an overwrite commits
            try:
                run = _Run(DeltaTable(location), policy, self.delta_tables)
                run.apply()
            except Exception as exc:
                self._errors[name] = str(exc)
                raise
            self._errors.pop(name, None)
            entry = self.delta_tables.entries[name]
            if run.table.version() != entry.pin.version:
                self.delta_tables.repin(self.ctx, name)  # queries read what maintenance wrote
        adoption = self.refresh(name)
        return TableMaintenanceRun(
            table=name,
            properties_set=run.properties_set,
            features_added=run.features_added,
            files_compacted=run.files_compacted,
            files_added=run.files_added,
            log_compacted=run.log_compacted,
            checkpoint_version=run.checkpoint_version,
            files_vacuumed=run.files_vacuumed,
            duration_ms=(time.perf_counter() - started) * 1000,
            adoption=adoption,
        )

    # -- adoption state ------------------------------------------------------------------

    def status(self, name: str) -> TableAdoption:
        return self._adoption.get(name) or self.refresh(name)

    def refresh(self, name: str) -> TableAdoption:
        """Reads `name`'s adoption state again and republishes `system.maintenance`."""
        adoption = adoption_of(
            name, self._location(name), self.policy.for_table(name), self._errors.get(name)
        )
        self._adoption[name] = adoption
        self.publish()
        return adoption

    def refresh_all(self) -> None:
        for name in self.tables():
            try:
                self._adoption[name] = adoption_of(
                    name, self._location(name), self.policy.for_table(name), None
                )
            except Exception:  # an unreadable table must not stop the server
                log.exception("cannot read the maintenance state of %s", name)
        self.publish()

    def publish(self) -> None:
        rows = [
            msgspec_row(adoption)
            for name, adoption in sorted(self._adoption.items())
            if name in self.delta_tables.entries
        ]
        ensure_schema(self.ctx, self.catalog, SYSTEM_SCHEMA)
        schema = self.ctx.catalog(self.catalog).schema(SYSTEM_SCHEMA)
        table = pa.Table.from_pylist(rows, TABLE_SCHEMA)
        schema.register_table(MAINTENANCE_TABLE, memory_table(table))


TABLE_SCHEMA = pa.schema(
    [
        pa.field("table_name", pa.string(), nullable=False),
        pa.field("location", pa.string(), nullable=False),
        pa.field("table_version", pa.int64(), nullable=False),
        pa.field("min_reader_version", pa.int32(), nullable=False),
        pa.field("min_writer_version", pa.int32(), nullable=False),
        pa.field("reader_features", pa.list_(pa.string()), nullable=False),
        pa.field("writer_features", pa.list_(pa.string()), nullable=False),
        pa.field("deletion_vectors", pa.bool_(), nullable=False),
        pa.field("v2_checkpoints", pa.bool_(), nullable=False),
        pa.field("deletion_vector_files", pa.int64(), nullable=False),
        pa.field("checkpoint_interval", pa.int64()),
        pa.field("last_checkpoint_version", pa.int64()),
        pa.field("last_log_compaction", pa.string()),
        pa.field("last_optimize", pa.timestamp("ms", tz="UTC")),
        pa.field("last_vacuum", pa.timestamp("ms", tz="UTC")),
        pa.field("file_count", pa.int64(), nullable=False),
        pa.field("small_file_count", pa.int64(), nullable=False),
        pa.field("policy_adopted", pa.bool_(), nullable=False),
        pa.field("last_error", pa.string()),
    ]
)


def msgspec_row(adoption: TableAdoption) -> dict[str, object]:
    return {
        "table_name": adoption.table,
        **{
            field: getattr(adoption, field) for field in TABLE_SCHEMA.names if field != "table_name"
        },
    }


class _Run:
    """One maintenance run over one table, and what it did."""

    def __init__(
        self, table: DeltaTable, policy: MaintenancePolicy, delta_tables: DeltaTables
    ) -> None:
        self.table = table
        self.policy = policy
        self.delta_tables = delta_tables  # whose pins and readers vacuum keeps
        self.properties_set: dict[str, str] = {}
        self.features_added: list[str] = []
        self.files_compacted = 0
        self.files_added = 0
        self.log_compacted: str | None = None
        self.checkpoint_version: int | None = None
        self.files_vacuumed = 0

    def apply(self) -> None:
        self._properties()
        if self.policy.optimize:
            self._optimize()
        self._log()
        if self.policy.vacuum_retention_hours is not None:
            removed = guarded_vacuum(
                self.table, self.delta_tables, self.policy.vacuum_retention_hours
            )
            self.files_vacuumed = len(removed)

    def _properties(self) -> None:
        policy = self.policy
        features = [
            (policy.deletion_vectors, _DV_FEATURE, TableFeatures.DeletionVectors),
            (policy.v2_checkpoints, _V2_CHECKPOINT_FEATURE, TableFeatures.V2Checkpoint),
        ]
        for wanted_on, name, feature in features:
            if wanted_on and name not in (self.table.protocol().reader_features or []):
                self.table.alter.add_feature(feature, allow_protocol_versions_increase=True)
                self.features_added.append(name)
        wanted = {
            CHECKPOINT_INTERVAL: str(policy.checkpoint_interval),
            DELETION_VECTORS: str(policy.deletion_vectors).lower(),
        }
        if policy.v2_checkpoints:
            # Features are never removed: turning the policy off leaves the table as it is.
            wanted[CHECKPOINT_POLICY] = "v2"
        present = self.table.metadata().configuration
        defaults = {DELETION_VECTORS: "false", CHECKPOINT_POLICY: "classic"}
        changed = {
            key: value
            for key, value in wanted.items()
            if present.get(key, defaults.get(key)) != value
        }
        if changed:
            self.table.alter.set_table_properties(changed)
            self.properties_set = changed

    def _optimize(self) -> None:
        sizes = _file_sizes(self.table)
        small = sum(size < self.policy.target_file_bytes for size in sizes)
        purge = _purgeable_bytes(self.table, self.policy.purge_deleted_fraction)
        if small < self.policy.optimize_min_small_files and not purge:
            return
        # Files whose deletion vectors pass the threshold become compaction
        # candidates (deltalake compacts files below the target size, applying
        # their vectors); deltalake skips a file with no other to compact with.
        target = max([self.policy.target_file_bytes, *(size + 1 for size in purge)])
        metrics = self.table.optimize.compact(target_size=target)
        self.files_compacted = int(metrics.get("numFilesRemoved", 0))
        self.files_added = int(metrics.get("numFilesAdded", 0))
        self._purge_lone_files()

    def _purge_lone_files(self) -> None:
        """Rewrites the partitions whose purgeable files compaction skipped.

        deltalake's compaction leaves a file alone in its bin as it is; its Z-order
        rewrites every file of a partition (by one column: a plain sort), applying
        their deletion vectors.
        """
        table = DeltaTable(self.table.table_uri)
        partitions = _purgeable_partitions(table, self.policy.purge_deleted_fraction)
        if not partitions:
            return
        partition_columns = set(table.metadata().partition_columns)
        column = next(f.name for f in table.schema().fields if f.name not in partition_columns)
        for filters in partitions:
            metrics = table.optimize.z_order([column], partition_filters=filters or None)
            self.files_compacted += int(metrics.get("numFilesRemoved", 0))
            self.files_added += int(metrics.get("numFilesAdded", 0))
        self.table = DeltaTable(self.table.table_uri)

    def _log(self) -> None:
        """A checkpoint when one is due; otherwise the commits since the last one compacted."""
        version = self.table.version()
        last = last_checkpoint_version(self.table.table_uri)
        since = version - (last if last is not None else -1)
        if since >= self.policy.checkpoint_interval:
            self.table.create_checkpoint()
            self.checkpoint_version = version
            return
        start = (last if last is not None else -1) + 1
        if self.policy.log_compaction and version - start >= 1:
            span = f"{start}.{version}"
            if span != last_log_compaction(self.table.table_uri):
                self.table.compact_logs(start, version)
                self.log_compacted = span


def adoption_of(
    name: str, location: str, policy: MaintenancePolicy, error: str | None
) -> TableAdoption:
    table = DeltaTable(location)
    protocol = table.protocol()
    configuration = table.metadata().configuration
    sizes = _file_sizes(table)
    deletion_vectors = configuration.get(DELETION_VECTORS) == "true"
    v2_checkpoints = (
        _V2_CHECKPOINT_FEATURE in (protocol.reader_features or [])
        and configuration.get(CHECKPOINT_POLICY) == "v2"
    )
    interval = configuration.get(CHECKPOINT_INTERVAL)
    last_optimize: datetime | None = None
    last_vacuum: datetime | None = None
    for commit in table.history(_HISTORY_DEPTH):  # newest first
        moment = datetime.fromtimestamp(commit["timestamp"] / 1000, UTC)
        if commit.get("operation") == "OPTIMIZE" and last_optimize is None:
            last_optimize = moment
        if commit.get("operation") == "VACUUM END" and last_vacuum is None:
            last_vacuum = moment
    return TableAdoption(
        table=name,
        location=location,
        table_version=table.version(),
        min_reader_version=protocol.min_reader_version,
        min_writer_version=protocol.min_writer_version,
        reader_features=list(protocol.reader_features or []),
        writer_features=list(protocol.writer_features or []),
        deletion_vectors=deletion_vectors,
        v2_checkpoints=v2_checkpoints,
        deletion_vector_files=len(_deletion_vectors(location))
        if _DV_FEATURE in (protocol.reader_features or [])
        else 0,
        checkpoint_interval=int(interval) if interval is not None else None,
        last_checkpoint_version=last_checkpoint_version(table.table_uri),
        last_log_compaction=last_log_compaction(table.table_uri),
        last_optimize=last_optimize,
        last_vacuum=last_vacuum,
        file_count=len(sizes),
        small_file_count=sum(size < policy.target_file_bytes for size in sizes),
        policy_adopted=deletion_vectors == policy.deletion_vectors
        and (v2_checkpoints or not policy.v2_checkpoints)
        and interval == str(policy.checkpoint_interval),
        last_error=error,
    )


def _deletion_vectors(location: str) -> dict[str, tuple[int, int]]:
    """Files with a deletion vector: path -> (rows deleted, rows in the file), read
    by our provider (deltalake's add actions do not show vectors)."""
    return DeltaProvider(location).deletion_vectors


def _purgeable_paths(table: DeltaTable, fraction: float) -> set[str]:
    """The files whose deletion vector deletes at least `fraction` of their rows."""
    if _DV_FEATURE not in (table.protocol().reader_features or []):
        return set()
    return {
        path
        for path, (deleted, rows) in _deletion_vectors(table.table_uri).items()
        if rows and deleted / rows >= fraction
    }


def _purgeable_actions(table: DeltaTable, fraction: float) -> list[dict[str, Any]]:
    """The add actions (flattened) of the files `_purgeable_paths` names."""
    purgeable = _purgeable_paths(table, fraction)
    if not purgeable:
        return []
    actions = pa.table(table.get_add_actions(flatten=True))  # pyright: ignore[reportArgumentType]
    return [row for row in actions.to_pylist() if row["path"] in purgeable]


def _purgeable_bytes(table: DeltaTable, fraction: float) -> list[int]:
    """The sizes of the files whose deletion vector deletes at least `fraction` of their rows."""
    return [int(row["size_bytes"] or 0) for row in _purgeable_actions(table, fraction)]


def _purgeable_partitions(table: DeltaTable, fraction: float) -> list[list[tuple[str, str, str]]]:
    """The partitions (as deltalake partition filters; [] for an unpartitioned table)
    holding a file whose deletion vector deletes at least `fraction` of its rows."""
    columns = table.metadata().partition_columns
    found: list[list[tuple[str, str, str]]] = []
    for row in _purgeable_actions(table, fraction):
        filters = [(name, "=", str(row[f"partition.{name}"])) for name in columns]
        if filters not in found:
            found.append(filters)
    return found


def _file_sizes(table: DeltaTable) -> list[int]:
    actions = pa.table(table.get_add_actions(flatten=True))  # pyright: ignore[reportArgumentType]
    return [int(size or 0) for size in actions.column("size_bytes").to_pylist()]


def _log_dir(table_uri: str) -> Path:
    return Path(table_uri.removeprefix("file://")) / "_delta_log"


def last_checkpoint_version(table_uri: str) -> int | None:
    try:
        return int(json.loads((_log_dir(table_uri) / "_last_checkpoint").read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


def last_log_compaction(table_uri: str) -> str | None:
    """The newest compacted log's version span, `start.end`."""
    spans = [
        tuple(int(part) for part in path.name.split(".")[:2])
        for path in _log_dir(table_uri).glob("*.*.compacted.json")
    ]
    if not spans:
        return None
    start, end = max(spans, key=lambda span: (span[1], span[0]))
    return f"{start}.{end}"
