"""The artifact store: a Delta table under the state folder, served as `system.queries`.

Recording only appends to an in-memory list (the query path stays fast); a
writer thread appends what accumulated to the Delta table in small batches and
re-registers the table so SQL sees the new rows. Every `maintain_every` commits
it enforces retention (age and row count), compacts, checkpoints and vacuums.

A crash (SIGKILL) at any moment: each batch is one Delta commit, atomic, and
never retried, so on restart the table opens at its last commit with nothing
duplicated; a half-written batch leaves only unreferenced files. Lost at most:
the artifacts queued and the batch in flight, each at most `max_pending`
(`flightserver_artifacts_unwritten` shows the current figure). The batch in
flight is written down first (`queries.in-flight.json`), so the next start
counts it in `flightserver_artifacts_lost{reason="unclean_shutdown"}` when it
did not commit; a queue already full drops new artifacts (reason="overflow").
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pyarrow as pa
from datafusion import DataFrame, SessionContext, col, lit
from deltalake import CommitProperties, DeltaTable, write_deltalake

from flightserver.artifacts.model import ArtifactType, PlanBundle, QueryArtifact
from flightserver.catalog.delta import DeltaTables
from flightserver.catalog.loader import register_delta
from flightserver.catalog.protected import guarded_vacuum
from flightserver.ops.metrics import ARTIFACTS_LOST, ARTIFACTS_UNWRITTEN

log = logging.getLogger(__name__)

Artifact = QueryArtifact | PlanBundle
# Recorded items are built in the writer thread, off the query path.
PendingArtifact = Callable[[], Artifact]

ARTIFACTS_FOLDER = "artifacts"
IN_FLIGHT_FILE = "queries.in-flight.json"
# In each batch's commitInfo: how the next start tells whether the batch in flight committed.
BATCH_ID_KEY = "flightserver.artifact_batch"
SYSTEM_SCHEMA = "system"
QUERIES_TABLE = "queries"

TABLE_SCHEMA = pa.schema(
    [
        pa.field("artifact_id", pa.string(), nullable=False),
        pa.field("artifact_type", pa.string(), nullable=False),
        pa.field("recorded_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("sql", pa.string()),
        pa.field("target_table", pa.string()),
        pa.field("plan_sha256", pa.string()),
        pa.field("substrait_sha256", pa.string()),
        pa.field("planning_ms", pa.float64(), nullable=False),
        pa.field("execution_ms", pa.float64(), nullable=False),
        pa.field("rows_out", pa.int64(), nullable=False),
        pa.field("bytes_out", pa.int64(), nullable=False),
        pa.field("error", pa.string()),
        pa.field("payload", pa.string(), nullable=False),  # the artifact's JSON
    ]
)


@dataclass(frozen=True)
class Retention:
    max_age: timedelta = timedelta(days=7)
    max_rows: int = 100_000


class ArtifactStore:
    def __init__(
        self,
        ctx: SessionContext,
        delta_tables: DeltaTables,
        state_dir: Path,
        catalog: str,
        *,
        retention: Retention | None = None,
        flush_seconds: float = 0.5,
        batch_size: int = 1000,
        maintain_every: int = 100,
        max_pending: int = 2000,
    ) -> None:
        self.ctx = ctx
        self.delta_tables = delta_tables
        self.location = state_dir / ARTIFACTS_FOLDER / QUERIES_TABLE
        self.catalog = catalog
        self.retention = retention or Retention()
        self.flush_seconds = flush_seconds
        self.batch_size = batch_size
        self.maintain_every = maintain_every
        self.max_pending = max_pending
        self._in_flight = self.location.parent / IN_FLIGHT_FILE
        self._pending: list[PendingArtifact] = []
        self._changed = threading.Condition()
        self._submitted = 0
        self._written = 0
        self._flush_wanted = False
        self._stopping = False
        self._commits = 0
        # A log without a first commit: a crash while creating the table.
        if not DeltaTable.is_deltatable(str(self.location)):
            self.location.mkdir(parents=True, exist_ok=True)
            DeltaTable.create(str(self.location), TABLE_SCHEMA, mode="overwrite")
        self._count_lost_in_flight()
        self._register()
        self._writer = threading.Thread(target=self._write_loop, name="artifacts", daemon=True)
        self._writer.start()
        atexit.register(self.close)

    @property
    def table_name(self) -> str:
        return f"{self.catalog}.{SYSTEM_SCHEMA}.{QUERIES_TABLE}"

    # -- recording (the query path) -----------------------------------------------

    def record(self, pending: PendingArtifact) -> None:
        with self._changed:
            self._submitted += 1
            if len(self._pending) >= self.max_pending:
                # The writer is far behind: dropping keeps memory and the crash loss bounded.
                self._written += 1
                ARTIFACTS_LOST.labels("overflow").inc()
                return
            self._pending.append(pending)
            ARTIFACTS_UNWRITTEN.inc()
            if len(self._pending) >= self.batch_size:
                self._changed.notify_all()

    def flush(self, timeout: float = 60.0) -> None:
        """Returns once everything recorded before the call is in the table."""
        with self._changed:
            target = self._submitted
            self._flush_wanted = True
            self._changed.notify_all()
            self._changed.wait_for(lambda: self._written >= target, timeout)

    def close(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        if self._writer.is_alive():
            self._writer.join(30)

    # -- reading --------------------------------------------------------------------

    def rows(self, artifact_type: ArtifactType | None, limit: int) -> pa.Table:
        """The newest `limit` rows (newest first), without their payloads."""
        self.flush()

        def newest(df: DataFrame) -> DataFrame:
            if artifact_type is not None:
                df = df.filter(col("artifact_type") == lit(artifact_type.value))
            df = df.sort(col("recorded_at").sort(ascending=False)).limit(limit)
            return df.select(*[col(name) for name in TABLE_SCHEMA.names if name != "payload"])

        return self._read(newest)

    def fetch(self, artifact_id: str) -> Artifact | None:
        self.flush()
        found = self._read(
            lambda df: df.filter(col("artifact_id") == lit(artifact_id)).select(
                col("artifact_type"), col("payload")
            )
        ).to_pydict()
        if not found["payload"]:
            return None
        payload_type = (
            PlanBundle
            if found["artifact_type"][0] == ArtifactType.PLAN_BUNDLE.value
            else QueryArtifact
        )
        return msgspec.json.decode(found["payload"][0], type=payload_type)

    def _read(self, query: Callable[[DataFrame], DataFrame]) -> pa.Table:
        """The result of `query` over the table's newest version (a small result)."""
        ctx = SessionContext()  # must outlive the query: the Delta provider refers to it
        ctx.register_table("artifacts", DeltaTable(str(self.location)))
        return query(ctx.table("artifacts")).to_arrow_table()

    # -- the writer thread ---------------------------------------------------------------

    def _write_loop(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(
                    lambda: (
                        self._stopping
                        or self._flush_wanted
                        or len(self._pending) >= self.batch_size
                    ),
                    self.flush_seconds,
                )
                batch, self._pending = self._pending, []
                self._flush_wanted = False
                stopping = self._stopping
            if batch:
                self._write(batch)
            with self._changed:
                self._written += len(batch)
                ARTIFACTS_UNWRITTEN.dec(len(batch))
                self._changed.notify_all()
            if stopping:
                return

    def _write(self, batch: list[PendingArtifact]) -> None:
        batch_id = str(uuid.uuid4())
        try:
            rows = [_row(pending()) for pending in batch]
            self._in_flight.write_text(
                msgspec.json.encode({"batch_id": batch_id, "rows": len(rows)}).decode()
            )
            write_deltalake(
                str(self.location),
                pa.Table.from_pylist(rows, TABLE_SCHEMA),
                mode="append",
                commit_properties=CommitProperties(custom_metadata={BATCH_ID_KEY: batch_id}),
            )
            self._in_flight.unlink(missing_ok=True)
        except Exception:  # a failed write must never stop recording
            log.exception("could not write %d artifacts", len(batch))
            ARTIFACTS_LOST.labels("write_failed").inc(len(batch))
            self._in_flight.unlink(missing_ok=True)
            return
        try:
            self._register()
            self._commits += 1
            if self._commits % self.maintain_every == 0:
                self.maintain()
        except Exception:  # committed; registering or maintenance failed
            log.exception("artifact store: after committing %d artifacts", len(batch))

    def _count_lost_in_flight(self) -> None:
        """Counts the batch a previous process was writing when it died, if it
        never committed (a batch that did is in the table, once)."""
        try:
            marker = msgspec.json.decode(self._in_flight.read_bytes(), type=dict[str, object])
        except FileNotFoundError:
            return
        except (OSError, msgspec.DecodeError):  # torn by the crash: the batch did not commit
            marker = {}
        batch_id, rows = marker.get("batch_id"), marker.get("rows")
        committed = any(
            commit.get(BATCH_ID_KEY) == batch_id
            for commit in DeltaTable(str(self.location)).history(20)
        )
        if not committed and isinstance(rows, int):
            log.warning("artifact store: %d artifacts were lost by an unclean shutdown", rows)
            ARTIFACTS_LOST.labels("unclean_shutdown").inc(rows)
        with contextlib.suppress(OSError):
            self._in_flight.unlink()

    def _register(self) -> None:
        qualified = (self.catalog, SYSTEM_SCHEMA, QUERIES_TABLE)
        register_delta(self.ctx, self.delta_tables, qualified, str(self.location))

    def maintain(self) -> None:
        """Applies retention, then compacts, checkpoints and vacuums the table."""
        table = DeltaTable(str(self.location))
        cutoff = datetime.now(UTC) - self.retention.max_age
        table.delete(f"recorded_at < '{cutoff.isoformat()}'")
        oldest_kept = self._read(
            lambda df: (
                df.sort(col("recorded_at").sort(ascending=False))
                .select(col("recorded_at"))
                .limit(1, offset=self.retention.max_rows - 1)
            )
        ).to_pydict()["recorded_at"]
        if oldest_kept:
            table.delete(f"recorded_at < '{oldest_kept[0].isoformat()}'")
        table.optimize.compact()
        table.create_checkpoint()
        # Readers of the last hour's versions keep their files.
        guarded_vacuum(table, self.delta_tables, retention_hours=1)
        table.cleanup_metadata()
        self._register()


def _row(artifact: Artifact) -> dict[str, object]:
    payload = msgspec.json.encode(artifact).decode()
    if isinstance(artifact, PlanBundle):
        return {
            "artifact_id": artifact.bundle_id,
            "artifact_type": ArtifactType.PLAN_BUNDLE.value,
            "recorded_at": artifact.created_at,
            "kind": "query",
            "status": "ok",
            "sql": artifact.sql,
            "target_table": None,
            "plan_sha256": artifact.plan_sha256,
            "substrait_sha256": artifact.substrait_sha256,
            "planning_ms": artifact.planning_ms,
            "execution_ms": artifact.execution_ms,
            "rows_out": artifact.rows_out,
            "bytes_out": artifact.bytes_out,
            "error": None,
            "payload": payload,
        }
    return {
        "artifact_id": artifact.artifact_id,
        "artifact_type": ArtifactType.QUERY.value,
        "recorded_at": artifact.recorded_at,
        "kind": artifact.kind,
        "status": artifact.status.value,
        "sql": artifact.sql,
        "target_table": artifact.target_table,
        "plan_sha256": artifact.plan_sha256,
        "substrait_sha256": artifact.substrait_sha256,
        "planning_ms": artifact.planning_ms,
        "execution_ms": artifact.execution_ms,
        "rows_out": artifact.rows_out,
        "bytes_out": artifact.bytes_out,
        "error": artifact.error,
        "payload": payload,
    }
