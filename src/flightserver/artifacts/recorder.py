"""Traces one statement on the query path and records its QueryArtifact when it ends.

The query path pays for two clock reads and one list append (the result stream
counts rows and bytes and tells the trace once, at its end); the artifact (with
its plan hash) is built in the store's writer thread.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from datafusion import DataFrame

from flightserver.artifacts.hashing import plan_sha256, sha256_hex
from flightserver.artifacts.model import (
    DistributedRun,
    DistributedStage,
    PlanManifest,
    QueryArtifact,
    RulepackIdentity,
    StatementStatus,
    WriteOutcome,
)
from flightserver.artifacts.store import ArtifactStore
from flightserver.engine.native import DistributedPlan
from flightserver.engine.statements import (
    PreparedStatement,
    QueryResult,
    StatementResult,
)
from flightserver.engine.streaming import QueryCancelledError, StreamEnd

if TYPE_CHECKING:
    from flightserver.engine.result_cache import CacheDecision


@dataclass(frozen=True)
class PlanIdentity:
    """Which rules and policy a statement was planned under."""

    rulepack: RulepackIdentity | None = None
    policy_sha256: str | None = None


class StatementTrace:
    def __init__(
        self,
        store: ArtifactStore,
        statement: PreparedStatement,
        identity: PlanIdentity | None = None,
    ) -> None:
        self.store = store
        self.statement = statement
        self.identity = identity or PlanIdentity()
        self.recorded_at = datetime.now(UTC)
        self.started = time.perf_counter()
        self.planned = self.started
        self.df: DataFrame | None = None
        self.write: WriteOutcome | None = None
        self.manifest: PlanManifest | None = None
        self.distributed: DistributedPlan | None = None
        self.cache: CacheDecision | None = None
        # A result served as several endpoints is recorded once, when the last ends.
        self._streams = 1
        self._ended = 0
        self._rows = 0
        self._bytes = 0
        self._status = StatementStatus.OK
        self._error: str | None = None
        self._lock = threading.Lock()

    def expect_streams(self, streams: int) -> None:
        self._streams = streams

    def failed(self, exc: Exception) -> None:
        self.planned = time.perf_counter()
        self._record("query", _status(exc), 0, 0, str(exc))

    def planned_result(self, result: StatementResult) -> None:
        """Notes the end of planning; a statement that already ran is recorded now."""
        self.planned = time.perf_counter()
        self.cache = result.cache
        if isinstance(result, QueryResult):
            self.df = result.df
            self.manifest = result.physical.manifest
            self.distributed = result.physical.distributed
            return
        if result.cache is not None:  # a query the result cache answered
            self._record(
                "query", StatementStatus.OK, result.record_count, result.table.nbytes, None
            )
            return
        kind = "update" if result.table.num_columns or result.write else "ddl"
        self.write = result.write
        self._record(kind, StatementStatus.OK, result.record_count, result.table.nbytes, None)

    def stream_ended(self, end: StreamEnd) -> None:
        """One of the result's streams ended; the artifact is recorded when the last does."""
        if end.completed:
            status = StatementStatus.OK
        elif end.error is not None:
            status = _status(end.error)
        else:
            status = StatementStatus.ABANDONED
        error = None if end.error is None else str(end.error)
        self._stream_ended(status, end.rows, end.bytes, error)

    def _stream_ended(
        self, status: StatementStatus, rows: int, size: int, error: str | None
    ) -> None:
        with self._lock:
            self._ended += 1
            self._rows += rows
            self._bytes += size
            if status is not StatementStatus.OK and self._status is StatementStatus.OK:
                self._status, self._error = status, error
            if self._ended < self._streams:
                return
        self._record("query", self._status, self._rows, self._bytes, self._error)

    def _record(
        self, kind: str, status: StatementStatus, rows: int, size: int, error: str | None
    ) -> None:
        finished = time.perf_counter()
        statement = self.statement
        df = self.df
        write = self.write
        manifest = self.manifest
        distributed = self.distributed
        identity = self.identity
        planning_ms = (self.planned - self.started) * 1000
        execution_ms = (finished - self.planned) * 1000
        recorded_at = self.recorded_at
        # Read now: a miss's outcome is final once its stream has ended.
        cache = self.cache.outcome if self.cache is not None else None

        def artifact() -> QueryArtifact:
            return QueryArtifact(
                artifact_id=str(uuid.uuid4()),
                recorded_at=recorded_at,
                kind=kind,
                status=status,
                sql=statement.sql if statement.substrait is None else None,
                substrait_sha256=(
                    sha256_hex(statement.substrait) if statement.substrait is not None else None
                ),
                plan_sha256=plan_sha256(df) if df is not None else None,
                planning_ms=planning_ms,
                execution_ms=execution_ms,
                rows_out=rows,
                bytes_out=size,
                error=error,
                target_table=write.target if write is not None else None,
                write=write,
                scans=manifest.scans if manifest is not None else [],
                endpoints=manifest.endpoints if manifest is not None else 1,
                rulepack=identity.rulepack,
                policy_sha256=identity.policy_sha256,
                result_cache=cache,
                distributed=describe_run(distributed) if distributed is not None else None,
            )

        self.store.record(artifact)


class IngestTrace:
    """Records one bulk ingest: `with IngestTrace(store, table) as trace: trace.rows = ...`."""

    def __init__(self, store: ArtifactStore, table: str) -> None:
        self.store = store
        self.table = table
        self.rows = 0
        self.write: WriteOutcome | None = None

    def __enter__(self) -> IngestTrace:
        self.recorded_at = datetime.now(UTC)
        self.started = time.perf_counter()
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        elapsed_ms = (time.perf_counter() - self.started) * 1000
        status = StatementStatus.OK if exc is None else StatementStatus.ERROR
        artifact = QueryArtifact(
            artifact_id=str(uuid.uuid4()),
            recorded_at=self.recorded_at,
            kind="ingest",
            status=status,
            target_table=self.table,
            planning_ms=0.0,
            execution_ms=elapsed_ms,
            rows_out=self.rows,
            bytes_out=0,
            error=None if exc is None else str(exc),
            write=self.write,
        )
        self.store.record(lambda: artifact)


def _status(exc: Exception) -> StatementStatus:
    cause: BaseException | None = exc
    seen: set[int] = set()  # a cause chain can loop back on itself
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, QueryCancelledError):
            return StatementStatus.CANCELLED
        seen.add(id(cause))
        cause = cause.__cause__
    return StatementStatus.ERROR


def describe_run(plan: DistributedPlan) -> DistributedRun:
    """Where the stages of an executed distributed plan ran."""
    stages = [DistributedStage(head=head, workers=workers) for head, workers in plan.stages()]
    workers = sorted({worker for stage in stages for worker in stage.workers})
    return DistributedRun(plan=plan.display(), stages=stages, workers=workers)
