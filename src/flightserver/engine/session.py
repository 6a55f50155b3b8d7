"""The engine: DataFusion contexts with our rulepack, and the catalog loaded."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa
from datafusion import RuntimeEnvBuilder, SessionConfig, SessionContext

from flightserver.artifacts.store import ArtifactStore
from flightserver.catalog.delta import DeltaTables
from flightserver.catalog.ingest import register_managed_tables
from flightserver.catalog.loader import TableStatus, load_catalog
from flightserver.config import ServerConfig
from flightserver.engine import statements
from flightserver.engine.admission import Admission
from flightserver.engine.native import Policy, Rulepack
from flightserver.engine.parameters import operator_count
from flightserver.engine.policy import build_policy, sql_options
from flightserver.engine.statements import PreparedStatement, StatementResult

DEFAULT_CATALOG = "datafusion"
DEFAULT_SCHEMA = "public"


def session_config(config: ServerConfig) -> SessionConfig:
    """DataFusion settings every context gets."""
    settings = {
        "datafusion.catalog.information_schema": "true",
        # Both drivers read Utf8/Binary; the JDBC driver (18.x) fails on view types.
        "datafusion.sql_parser.map_string_types_to_utf8view": "false",
        "datafusion.execution.parquet.schema_force_view_types": "false",
        # Correctness: with round-robin repartitioning, a projection over a sort
        # (the client-type casts) gets a RepartitionExec above the sort's merge,
        # and the streamed result loses its ORDER BY (seen on TPC-H Q16).
        "datafusion.optimizer.enable_round_robin_repartition": "false",
        # Filters (and the join's dynamic filters) applied while decoding Parquet: TPC-H
        # SF1 in process, 0.92x-0.94x wall time in geometric mean, much faster where a
        # join's filter prunes lineitem (Q7, Q17, Q18, Q21), slower on plain scans (Q6,
        # Q9); docs/benchmarks/README.md has the per-query table.
        "datafusion.execution.parquet.pushdown_filters": "true",
        "datafusion.execution.parquet.reorder_filters": "true",
        "datafusion.execution.target_partitions": str(
            config.target_partitions or os.cpu_count() or 1
        ),
        # The policy parses requests as the engine does only with these.
        **Policy.engine_settings(),
    }
    return SessionConfig(settings)


def runtime_config(config: ServerConfig) -> RuntimeEnvBuilder:
    """Memory pool and spilling; without a limit, DataFusion's unbounded pool."""
    runtime = RuntimeEnvBuilder().with_disk_manager_os()
    limit = config.limits.memory_limit_bytes
    return runtime if limit is None else runtime.with_fair_spill_pool(limit)


class StatementTooLarge(ValueError):
    """The statement is beyond the configured size or complexity limits."""


class Engine:
    """Owns the shared context every query runs in, unless its session chose other defaults."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        Path(config.state_dir).mkdir(parents=True, exist_ok=True)
        self.policy = build_policy(config)
        self.sql_options = sql_options(self.policy)
        self.rulepack = Rulepack(self.policy)
        limits = config.limits
        self.admission = Admission(
            limits.max_concurrent_queries,
            limits.max_queued_queries,
            limits.admission_timeout_seconds,
        )
        self.ctx = self._new_context(DEFAULT_CATALOG, DEFAULT_SCHEMA)
        # The Delta tables' pins (snapshot versions, file sets), for artifacts and re-pinning.
        self.delta_tables = DeltaTables()
        self.catalog = load_catalog(self.ctx, Path(config.catalog_dir), self.delta_tables)
        self.state_dir = Path(config.state_dir)
        register_managed_tables(self.ctx, self.delta_tables, self.state_dir)
        self.artifacts = ArtifactStore(self.ctx, self.delta_tables, self.state_dir, DEFAULT_CATALOG)

    def _new_context(self, catalog: str, schema: str) -> SessionContext:
        settings = session_config(self.config).with_default_catalog_and_schema(catalog, schema)
        ctx = SessionContext(settings, runtime_config(self.config))
        for rule in self.rulepack.rules():
            ctx.add_physical_optimizer_rule(rule)
        return ctx

    def session_context(self, catalog: str, schema: str) -> SessionContext:
        """A context resolving unqualified names in `catalog.schema`, sharing all tables."""
        ctx = self._new_context(catalog, schema)
        for name in self.ctx.catalog_names():
            ctx.register_catalog_provider(name, self.ctx.catalog(name))
        return ctx

    @property
    def failed_tables(self) -> list[TableStatus]:
        return [status for status in self.catalog if not status.loaded]

    def check_size(self, sql: str) -> None:
        """Refuses SQL too large, or nested too deeply, for DataFusion to plan safely.

        DataFusion plans expressions recursively: an expression thousands of
        operators deep overflows the thread's stack and kills the process.
        """
        limits = self.config.limits
        if len(sql) > limits.max_sql_bytes:
            raise StatementTooLarge(
                f"SQL text of {len(sql)} characters exceeds {limits.max_sql_bytes}"
            )
        operators = operator_count(sql)
        if operators > limits.max_sql_operators:
            raise StatementTooLarge(
                f"statement applies {operators} operators, "
                f"more than the {limits.max_sql_operators} allowed"
            )

    def admit(self, sql: str) -> None:
        """Checks `sql` before DataFusion sees it: its size, then the Rust policy
        (DDL runs inside DataFusion's planning, so this is the last chance)."""
        self.check_size(sql)
        self.policy.check_sql(sql)

    def prepare(self, ctx: SessionContext, sql: str) -> PreparedStatement:
        """Analyses `sql` without running it (for prepared statements)."""
        self.admit(sql)
        return statements.prepare(ctx, sql)

    def prepare_substrait(self, ctx: SessionContext, plan: bytes) -> PreparedStatement:
        return statements.prepare_substrait(ctx, plan)

    def execute(
        self,
        ctx: SessionContext,
        statement: PreparedStatement,
        parameters: Mapping[str, pa.Scalar] | None = None,
    ) -> StatementResult:
        """Runs `statement`: queries are planned to stream, everything else completes now."""
        if statement.substrait is None:
            self.admit(statement.sql)
        return statements.execute(ctx, statement, parameters, self.sql_options)
