"""Scale-out: the server as coordinator of `flightserver worker` processes.

With workers configured, a query whose largest scan is beyond the threshold
(`distributed.bytes_per_partition` times the target partitions) is planned by
the Rust extension's coordinator session, where datafusion-distributed splits it
into stages that run on the workers; everything else runs on the local path
unchanged. The coordinator's catalog is registered by the same calls that
register the local one (`catalog.schemas.MIRRORS`), its sessions carry the
same rulepack, and the policy checks every statement before either plans it.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
from datafusion import SessionContext

from flightserver.artifacts.model import PlanManifest
from flightserver.catalog.schemas import MIRRORS
from flightserver.config import ServerConfig
from flightserver.engine.client_types import client_schema
from flightserver.engine.native import (
    DeltaProvider,
    DistributedCoordinator,
    DistributedPlan,
    DistributedSession,
    take_manifest,
)
from flightserver.engine.physical import PhysicalQuery
from flightserver.engine.policy import GoverningPolicy
from flightserver.engine.statements import CompletedResult, QueryResult

log = logging.getLogger(__name__)

# Plain EXPLAIN of a query (EXPLAIN ANALYZE and VERBOSE run on the local path).
_EXPLAIN = re.compile(r"\s*EXPLAIN\s+(?!ANALYZE\b|VERBOSE\b|FORMAT\b)", re.IGNORECASE)

EXPLAIN_SCHEMA = pa.schema([("plan_type", pa.string()), ("plan", pa.string())])


@dataclass(frozen=True)
class Route:
    """Where a statement runs, and why (shown by EXPLAIN)."""

    distributable: bool
    largest_scan_bytes: int
    threshold_bytes: int
    workers_up: int
    reason: str

    def describe(self, distributed: bool) -> str:
        where = "distributed" if distributed else "local"
        return f"{where}: {self.reason}"


def read_secret(path: str | None) -> str | None:
    """The shared secret in `path` (surrounding whitespace ignored)."""
    if path is None:
        return None
    secret = Path(path).read_text().strip()
    if not secret:
        raise ValueError(f"the secret file {path} is empty")
    return secret


def worker_list(workers: str | None) -> list[str]:
    return [worker.strip() for worker in (workers or "").split(",") if worker.strip()]


class Distribution:
    """The coordinator: its sessions (one per rulepack), routing, and the mirror of
    the engine's catalog."""

    def __init__(self, config: ServerConfig, settings: dict[str, str], ctx: SessionContext) -> None:
        options = config.distributed
        self.coordinator = DistributedCoordinator(
            settings,
            workers=worker_list(config.workers),
            workers_file=options.workers_file,
            secret=read_secret(options.secret_file),
            bytes_per_partition=options.bytes_per_partition,
            connect_timeout=options.connect_timeout_seconds,
            keepalive_timeout=options.keepalive_timeout_seconds,
            probe_interval=options.probe_interval_seconds,
            max_endpoints=config.max_endpoints,
        )
        self._sessions: dict[int, tuple[GoverningPolicy, DistributedSession]] = {}
        self._lock = threading.Lock()
        MIRRORS.append(_Mirror(self.coordinator, ctx))

    def session(self, governing: GoverningPolicy) -> DistributedSession:
        """The coordinator session carrying `governing`'s rulepack."""
        with self._lock:
            held = self._sessions.get(id(governing))
            if held is None:
                held = (governing, self.coordinator.session(governing.rulepack.rule()))
                self._sessions[id(governing)] = held
            return held[1]

    def route(self, sql: str) -> Route:
        return Route(*self.coordinator.route(sql))

    def plan(self, governing: GoverningPolicy, sql: str) -> DistributedPlan | None:
        """`sql` planned by the coordinator when it distributes it; None to run it on the
        local path (kept local, or a plan the coordinator cannot make: the local path then
        answers, refusals included, as it would without workers)."""
        try:
            plan = self.session(governing).plan(sql)
        except Exception as exc:  # DataFusion raises plain exceptions
            take_manifest()  # a refused plan's manifest, if any, is not this query's
            log.info("not distributed (the local path runs it): %s", exc)
            return None
        if not plan.distributed:
            take_manifest()
            return None
        return plan

    def query(
        self, scope_ctx: SessionContext, governing: GoverningPolicy, sql: str, java: bool
    ) -> QueryResult | None:
        """`sql` planned by the coordinator when it distributes it; None to run it on the
        local path. `java`: the result takes the JDBC driver's types."""
        route = self.route(sql)
        if not route.distributable:
            return None
        plan = self.plan(governing, sql)
        if plan is None:
            return None
        manifest_json = take_manifest()
        manifest = None
        if manifest_json is not None:
            manifest = msgspec.structs.replace(
                msgspec.json.decode(manifest_json, type=PlanManifest), endpoints=plan.endpoints
            )
        # pa.schema reads the Arrow C schema capsule; pyarrow-stubs 20 do not declare it.
        engine_schema = pa.schema(plan)  # pyright: ignore[reportArgumentType]
        schema = client_schema(engine_schema, java)
        # The local path's logical plan, for the artifact's plan hash (not planned further).
        df = scope_ctx.sql(sql)
        physical = PhysicalQuery(scope_ctx, df, None, manifest, plan, schema)
        return QueryResult(df, schema, physical)

    def explain(self, governing: GoverningPolicy, sql: str, ctx: SessionContext) -> pa.Table:
        """EXPLAIN of a query with the routing decision: the coordinator's stages when it
        distributes it, else the local path's plan."""
        route = self.route(sql)
        plan = self.plan(governing, _EXPLAIN.sub("", sql, count=1)) if route.distributable else None
        if plan is not None:
            take_manifest()
            return pa.table(
                [["distribution", "distributed_plan"], [route.describe(True), plan.display()]],
                schema=EXPLAIN_SCHEMA,
            )
        table = ctx.sql(sql, options=governing.sql_options).to_arrow_table()
        if table.schema.names != EXPLAIN_SCHEMA.names:
            return table
        row = pa.table([["distribution"], [route.describe(False)]], schema=EXPLAIN_SCHEMA)
        return pa.concat_tables([table.cast(EXPLAIN_SCHEMA), row])

    def run(
        self, ctx: SessionContext, governing: GoverningPolicy, sql: str, java: bool
    ) -> CompletedResult | QueryResult | None:
        """`sql` (resolving names in the default catalog and schema) as the coordinator
        serves it: EXPLAIN with the routing decision, or a query it distributes; None to
        run it on the local path as is."""
        if _EXPLAIN.match(sql):
            table = self.explain(governing, sql, ctx)
            return CompletedResult(table, table.num_rows)
        return self.query(ctx, governing, sql, java)


class _Mirror:
    """Registers in the coordinator what the engine's context registers; never fails
    the registration it follows (a table it cannot hold stays local)."""

    def __init__(self, coordinator: DistributedCoordinator, ctx: SessionContext) -> None:
        self._coordinator = coordinator
        self._ctx = ctx

    def registered(self, ctx: SessionContext, qualified: tuple[str, str, str], table: Any) -> None:
        if ctx is not self._ctx:
            return
        try:
            if isinstance(table, DeltaProvider):
                self._coordinator.register_delta(qualified, table)
            else:  # deltalake's own provider, datasets, batches: not for workers
                self._coordinator.deregister(qualified)
        except Exception as exc:
            log.warning("coordinator cannot serve %s: %s", ".".join(qualified), exc)

    def created(self, ctx: SessionContext, qualified: tuple[str, str, str], ddl: str) -> None:
        if ctx is not self._ctx:
            return
        try:
            self._coordinator.register_ddl(qualified, ddl)
        except Exception as exc:
            self._coordinator.deregister(qualified)
            log.warning("coordinator cannot serve %s: %s", ".".join(qualified), exc)

    def dropped(self, ctx: SessionContext, qualified: tuple[str, str, str]) -> None:
        if ctx is self._ctx:
            self._coordinator.deregister(qualified)
