"""The engine: DataFusion contexts with our rulepack, and the catalog loaded."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

import msgspec
import pyarrow as pa
from datafusion import RuntimeEnvBuilder, SessionConfig, SessionContext

from flightserver.artifacts.hashing import sha256_hex
from flightserver.artifacts.model import RulepackIdentity
from flightserver.artifacts.recorder import PlanIdentity
from flightserver.artifacts.store import ArtifactStore, Retention
from flightserver.catalog.delta import DeltaTables
from flightserver.catalog.ingest import register_managed_tables
from flightserver.catalog.loader import CatalogLoader, TableStatus
from flightserver.catalog.polling import catalog_poller
from flightserver.catalog.time_travel import register_time_travel
from flightserver.config import ServerConfig
from flightserver.engine import statements
from flightserver.engine.admission import Admission
from flightserver.engine.native import Policy, Rulepack, write_statement
from flightserver.engine.parameters import operator_count
from flightserver.engine.policy import build_policy, sql_options
from flightserver.engine.statements import PreparedStatement, StatementResult
from flightserver.writes.constraints_table import (
    apply_declared_constraints,
    register_constraints_table,
)
from flightserver.writes.declared import declared_tables
from flightserver.writes.delta import DeltaCommit
from flightserver.writes.maintenance import Maintainer
from flightserver.writes.sql import SqlWrites

log = logging.getLogger(__name__)

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
        self.rulepack = Rulepack(self.policy, config.max_endpoints)
        self.plan_identity = PlanIdentity(
            RulepackIdentity(
                name=Rulepack.name,
                rulepack_version=Rulepack.version,
                config_sha256=self.rulepack.config_hash,
            ),
            sha256_hex(self.policy.config_json()),
        )
        limits = config.limits
        self.admission = Admission(
            limits.max_concurrent_queries,
            limits.max_queued_queries,
            limits.admission_timeout_seconds,
        )
        # The Delta tables' pins (snapshot versions, file sets), for artifacts and re-pinning.
        self.delta_tables = DeltaTables()
        self.ctx = self._new_context(DEFAULT_CATALOG, DEFAULT_SCHEMA)
        self.catalog_loader = CatalogLoader(self.ctx, Path(config.catalog_dir), self.delta_tables)
        self.catalog_loader.refresh()
        self.catalog_poller = catalog_poller(config, self.ctx, self.catalog_loader).start()
        self.state_dir = Path(config.state_dir)
        register_managed_tables(self.ctx, self.delta_tables, self.state_dir)
        self.declared = declared_tables(Path(config.catalog_dir))
        self._apply_constraints()
        self.writes = SqlWrites(
            self.delta_tables, self.state_dir, self.declared, self.catalog, self.after_commit
        )
        retention = Retention(
            timedelta(days=config.artifacts.retention_days), config.artifacts.max_rows
        )
        self.artifacts = ArtifactStore(
            self.ctx, self.delta_tables, self.state_dir, DEFAULT_CATALOG, retention=retention
        )
        register_constraints_table(self.ctx, DEFAULT_CATALOG, list(self.declared.values()))
        self.maintainer = Maintainer(
            config.maintenance, self.delta_tables, self.ctx, DEFAULT_CATALOG
        )
        self.maintainer.refresh_all()

    def _apply_constraints(self) -> None:
        """Declared constraints onto the catalog's Delta tables; a table whose rows
        break them is not served."""
        self.catalog, changed = apply_declared_constraints(
            list(self.declared.values()), self.catalog
        )
        for name in changed:
            self.delta_tables.repin(self.ctx, name)
        for status in self.catalog:
            entry = self.delta_tables.entries.get(status.name or "")
            if status.error is not None and entry is not None:
                self.ctx.catalog(entry.catalog).schema(entry.schema).deregister_table(entry.name)
                del self.delta_tables.entries[status.name or ""]

    def _new_context(self, catalog: str, schema: str) -> SessionContext:
        settings = session_config(self.config).with_default_catalog_and_schema(catalog, schema)
        ctx = SessionContext(settings, runtime_config(self.config))
        for rule in self.rulepack.rules():
            ctx.add_physical_optimizer_rule(rule)
        register_time_travel(ctx, self.delta_tables)
        return ctx

    def session_context(self, catalog: str, schema: str) -> SessionContext:
        """A context resolving unqualified names in `catalog.schema`, sharing all tables."""
        ctx = self._new_context(catalog, schema)
        for name in self.ctx.catalog_names():
            ctx.register_catalog_provider(name, self.ctx.catalog(name))
        return ctx

    @property
    def catalog(self) -> list[TableStatus]:
        """How every catalog file loaded, as of the last refresh."""
        return self.catalog_loader.statuses

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
        write = write_statement(sql)
        if write is None:
            return statements.prepare(ctx, sql)
        self.writes.check(ctx, write)
        # DataFusion plans the write against the catalog: not while a commit swaps a table.
        with self.delta_tables.lock:
            return statements.prepare(ctx, sql)

    def prepare_substrait(self, ctx: SessionContext, plan: bytes) -> PreparedStatement:
        """Analyses a Substrait plan, which answers to the SQL policy as SQL does."""
        statement = statements.prepare_substrait(ctx, plan)
        self.admit_substrait(ctx, plan)
        return statement

    def admit_substrait(self, ctx: SessionContext, plan: bytes) -> None:
        """Checks a Substrait plan, written back as SQL, with the Rust policy (plans
        read only the catalog's tables by name: see `substrait_compat`)."""
        self.admit(statements.substrait_sql(ctx, plan))

    def execute(
        self,
        ctx: SessionContext,
        statement: PreparedStatement,
        parameters: Mapping[str, pa.Scalar] | None = None,
    ) -> StatementResult:
        """Runs `statement`: queries are planned to stream, everything else completes now."""
        if statement.substrait is None:
            self.admit(statement.sql)
            write = write_statement(statement.sql)
            if write is not None:
                return self.writes.execute(ctx, statement, write, parameters, self.sql_options)
        return statements.execute(ctx, statement, parameters, self.sql_options)

    def after_commit(self, commit: DeltaCommit) -> None:
        """Runs after every Delta commit of the server (SQL writes and ingest)."""
        log.info(
            "committed %s version %d: %d rows, %d files",
            commit.table,
            commit.version,
            commit.rows,
            commit.files_added,
        )
        self._created(commit.table)
        self.maintainer.after_commit(commit.table)

    def _created(self, name: str) -> None:
        """A declared Delta table a write just created is loaded now (its location
        held no table when the catalog loaded)."""
        entry = self.delta_tables.entries.get(name)
        for index, status in enumerate(self.catalog):
            if status.name == name and status.error is not None and entry is not None:
                self.catalog[index] = msgspec.structs.replace(
                    status, error=None, delta=entry.pin, warning=entry.pin.warning
                )
