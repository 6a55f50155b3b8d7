"""The engine: DataFusion contexts with our rulepack, and the catalog loaded."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import msgspec
import pyarrow as pa
from datafusion import DataFrame, RuntimeEnvBuilder, SessionConfig, SessionContext

from flightserver.artifacts.store import ArtifactStore, Retention
from flightserver.catalog.changes import CATALOG_CHANGES
from flightserver.catalog.delta import DeltaTables
from flightserver.catalog.ingest import register_managed_tables
from flightserver.catalog.loader import CatalogLoader, TableStatus
from flightserver.catalog.polling import catalog_poller
from flightserver.catalog.schemas import deregister_table
from flightserver.catalog.time_travel import register_time_travel
from flightserver.config import ServerConfig
from flightserver.engine import statements
from flightserver.engine.admission import Admission
from flightserver.engine.distributed import Distribution
from flightserver.engine.native import Policy, write_statement
from flightserver.engine.parameters import operator_count
from flightserver.engine.plan_cache import PlanCache
from flightserver.engine.policy import DEFAULT_POLICY, GoverningPolicy, governing_policy
from flightserver.engine.result_cache import CacheDecision, ResultCache
from flightserver.engine.statements import (
    CompletedResult,
    PreparedStatement,
    QueryResult,
    StatementResult,
    planned_query,
)
from flightserver.ops import metrics
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
    return SessionConfig(session_settings(config))


def session_settings(config: ServerConfig) -> dict[str, str]:
    """The DataFusion settings of `session_config`, as text (a native session
    of the Rust extension takes the same ones)."""
    return {
        "datafusion.catalog.information_schema": "true",
        # Both drivers read Utf8/Binary; the JDBC driver (18.x) fails on view types.
        "datafusion.sql_parser.map_string_types_to_utf8view": "false",
        "datafusion.execution.parquet.schema_force_view_types": "false",
        # Filters (and the join's dynamic filters) applied while decoding Parquet: TPC-H
        # SF1 in process, 0.92x-0.94x wall time in geometric mean, much faster where a
        # join's filter prunes lineitem (Q7, Q17, Q18, Q21), slower on plain scans (Q6,
        # Q9); docs/benchmarks/README.md has the per-query table.
        "datafusion.execution.parquet.pushdown_filters": "true",
        # Pushed filters in the query's order, not DataFusion's smallest-columns-first
        # guess: TPC-H SF1 in process 0.93x-0.97x wall, 0.97x-1.01x CPU (three runs; CPU
        # Q6 0.72x-0.79x, Q8 0.63x-0.84x, Q9 0.66x-0.91x, Q4 1.24x-1.37x slower);
        # docs/benchmarks/README.md, "TPC-H tuning".
        "datafusion.execution.parquet.reorder_filters": "false",
        "datafusion.execution.target_partitions": str(
            config.target_partitions or os.cpu_count() or 1
        ),
        # The policy parses requests as the engine does only with these.
        **Policy.engine_settings(),
    }


# Runtime settings a SessionConfig cannot carry: set with SET on every context made.
RUNTIME_SETTINGS = {
    # DataFusion 55 keeps each listing table's file list with no expiry (1M entries by
    # default), so files added to a listing table's folder were never read, even after a
    # re-registration. Off: every scan lists its folder, as the result cache's key does.
    "datafusion.runtime.list_files_cache_limit": "0",
}


def apply_runtime_settings(ctx: SessionContext) -> None:
    for name, value in RUNTIME_SETTINGS.items():
        ctx.sql(f"SET {name} = '{value}'").collect()


def runtime_config(config: ServerConfig) -> RuntimeEnvBuilder:
    """Memory pool and spilling; without a limit, DataFusion's unbounded pool."""
    runtime = RuntimeEnvBuilder().with_disk_manager_os()
    limit = config.limits.memory_limit_bytes
    return runtime if limit is None else runtime.with_fair_spill_pool(limit)


class StatementTooLarge(ValueError):
    """The statement is beyond the configured size or complexity limits."""


class UnknownRole(ValueError):
    """A caller's role names no configured policy."""


@dataclass(frozen=True)
class Scope:
    """Where a call's statements run: a DataFusion context carrying the plan rules
    of `governing`, whose Rust policy checks every statement first."""

    ctx: SessionContext
    governing: GoverningPolicy
    # Results in the types the JDBC driver reads (`client_types`); native Arrow otherwise.
    client_types: bool = True
    # The result cache may answer (a session option turns it off for its session).
    result_cache: bool = True


class Engine:
    """Owns the shared context every query runs in, unless its session chose other defaults."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        Path(config.state_dir).mkdir(parents=True, exist_ok=True)
        self.default_policy = governing_policy(config, DEFAULT_POLICY, config.policy)
        # One Rust policy, rulepack and context per role (see `scope`).
        self.role_policies = {
            name: governing_policy(config, name, policy) for name, policy in config.roles.items()
        }
        self._role_scopes: dict[str, Scope] = {}
        policies = [self.default_policy, *self.role_policies.values()]
        metrics.PHYSICAL_PLANS.set_function(
            lambda: sum(p.rulepack.counters()["scan_budget_checks"] for p in policies)
        )
        self._role_scopes_lock = threading.Lock()
        limits = config.limits
        self.admission = Admission(
            limits.max_concurrent_queries,
            limits.max_queued_queries,
            limits.admission_timeout_seconds,
        )
        self.plans = PlanCache(config.plan_cache_size)
        # The Delta tables' pins (snapshot versions, file sets), for artifacts and re-pinning.
        self.delta_tables = DeltaTables()
        # Statuses learned after loading, by definition file (constraint checks, writes).
        self._status_overrides: dict[str, TableStatus] = {}
        self.ctx = self._new_context(DEFAULT_CATALOG, DEFAULT_SCHEMA, self.default_policy)
        self.default_scope = Scope(self.ctx, self.default_policy)
        # Contexts resolving names in the default catalog and schema (the default one, one
        # per role): their queries may be distributed. Added to, never iterated.
        self._default_name_contexts = {id(self.ctx)}
        # Before the catalog loads: the coordinator mirrors every registration.
        self.distribution = (
            Distribution(config, self.native_settings(), self.ctx)
            if config.workers or config.distributed.workers_file
            else None
        )
        self.catalog_loader = CatalogLoader(self.ctx, Path(config.catalog_dir), self.delta_tables)
        self.catalog_loader.refresh()
        self.catalog_poller = catalog_poller(config, self.ctx, self.catalog_loader).start()
        self.state_dir = Path(config.state_dir)
        register_managed_tables(self.ctx, self.delta_tables, self.state_dir)
        self.declared = declared_tables(Path(config.catalog_dir))
        self._apply_constraints()
        self.writes = SqlWrites(
            self.delta_tables,
            self.state_dir,
            self.declared,
            lambda: self.catalog,
            self.after_commit,
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
        self.result_cache = ResultCache(config.result_cache, self.ctx, self.delta_tables)

    def native_settings(self) -> dict[str, str]:
        """The settings of the default context, for the coordinator's sessions."""
        return {
            **session_settings(self.config),
            **RUNTIME_SETTINGS,
            "datafusion.catalog.default_catalog": DEFAULT_CATALOG,
            "datafusion.catalog.default_schema": DEFAULT_SCHEMA,
        }

    def _apply_constraints(self) -> None:
        """Declared constraints onto the catalog's Delta tables; a table whose rows
        break them is not served."""
        checked, changed = apply_declared_constraints(list(self.declared.values()), self.catalog)
        for name in changed:
            self.delta_tables.repin(self.ctx, name)
        for status in checked:
            entry = self.delta_tables.entries.get(status.name or "")
            if status.error is not None and entry is not None:
                self._status_overrides[status.source] = status
                deregister_table(self.ctx, (entry.catalog, entry.schema, entry.name))
                del self.delta_tables.entries[status.name or ""]
                CATALOG_CHANGES.changed([status.name or ""])

    def _new_context(self, catalog: str, schema: str, governing: GoverningPolicy) -> SessionContext:
        settings = session_config(self.config).with_default_catalog_and_schema(catalog, schema)
        ctx = SessionContext(settings, runtime_config(self.config))
        apply_runtime_settings(ctx)
        ctx.add_physical_optimizer_rule(governing.rulepack.rule())
        register_time_travel(ctx, self.delta_tables)
        return ctx

    def session_context(
        self, catalog: str, schema: str, governing: GoverningPolicy | None = None
    ) -> SessionContext:
        """A context resolving unqualified names in `catalog.schema`, sharing all tables,
        with the plan rules of `governing` (default: the server's policy)."""
        ctx = self._new_context(catalog, schema, governing or self.default_policy)
        for name in self.ctx.catalog_names():
            ctx.register_catalog_provider(name, self.ctx.catalog(name))
        return ctx

    def governing(self, role: str | None) -> GoverningPolicy:
        """The policy of `role`; None (a server without users): the default policy."""
        if role is None:
            return self.default_policy
        governing = self.role_policies.get(role)
        if governing is None:
            configured = sorted(self.role_policies)
            raise UnknownRole(f"role {role!r} is not configured (roles: {configured})")
        return governing

    def scope(
        self,
        role: str | None,
        catalog: str = DEFAULT_CATALOG,
        schema: str = DEFAULT_SCHEMA,
    ) -> Scope:
        """Where a call of `role` runs, resolving unqualified names in `catalog.schema`.

        Contexts on the default catalog and schema are made once per role.
        """
        governing = self.governing(role)
        if (catalog, schema) != (DEFAULT_CATALOG, DEFAULT_SCHEMA):
            return Scope(self.session_context(catalog, schema, governing), governing)
        if role is None:
            return self.default_scope
        with self._role_scopes_lock:
            scope = self._role_scopes.get(role)
            if scope is None:
                ctx = self.session_context(catalog, schema, governing)
                scope = self._role_scopes[role] = Scope(ctx, governing)
                self._default_name_contexts.add(id(ctx))
            return scope

    @property
    def catalog(self) -> list[TableStatus]:
        """How every catalog file loaded, as of the last refresh (and what the
        constraint checks and writes since have learned of them)."""
        return [
            self._status_overrides.get(status.source, status)
            for status in self.catalog_loader.statuses
        ]

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

    def admit(self, sql: str, governing: GoverningPolicy | None = None) -> None:
        """Checks `sql` before DataFusion sees it: its size, then the Rust policy
        (DDL runs inside DataFusion's planning, so this is the last chance)."""
        self.check_size(sql)
        (governing or self.default_policy).policy.check_sql(sql)

    def prepare(self, scope: Scope, sql: str) -> PreparedStatement:
        """Analyses `sql` without running it (for prepared statements); a query
        prepared before in the same scope and catalog generation is not planned again."""
        mark = CATALOG_CHANGES.mark()  # before the plan resolves its tables
        self.admit(sql, scope.governing)
        key = self.plans.key(sql, scope.ctx, scope.governing, scope.client_types, mark)
        planned = self.plans.get(key)
        if planned is not None:
            return planned
        write = write_statement(sql)
        if write is None:
            prepared = replace(
                statements.prepare(scope.ctx, sql, scope.client_types), catalog_mark=mark
            )
            self.plans.put(key, scope.ctx, scope.governing, prepared)
            return prepared
        self.writes.check(scope.ctx, write)
        # DataFusion plans the write against the catalog: not while a commit swaps a table.
        with self.delta_tables.lock:
            prepared = statements.prepare(scope.ctx, sql, scope.client_types)
        return self.writes.all_parameters(prepared) if write.kind == "merge" else prepared

    def prepare_substrait(self, scope: Scope, plan: bytes) -> PreparedStatement:
        """Analyses a Substrait plan, which answers to the SQL policy as SQL does."""
        statement = statements.prepare_substrait(scope.ctx, plan, scope.client_types)
        self.admit_substrait(scope, plan)
        return statement

    def admit_substrait(self, scope: Scope, plan: bytes) -> None:
        """Checks a Substrait plan, written back as SQL, with the Rust policy (plans
        read only the catalog's tables by name: see `substrait_compat`)."""
        self.admit(statements.substrait_sql(scope.ctx, plan), scope.governing)

    def execute(
        self,
        scope: Scope,
        statement: PreparedStatement,
        parameters: Mapping[str, pa.Scalar] | None = None,
    ) -> StatementResult:
        """Runs `statement`: queries are planned to stream (or answered from the result
        cache), everything else completes now. A query without parameters whose text
        was planned before in this scope and catalog generation (`plans`) is only
        planned physically."""
        mark = CATALOG_CHANGES.mark()  # before the plan resolves its tables

        def lookup(df: DataFrame, schema: pa.Schema) -> CacheDecision:
            return self.result_cache.lookup(scope, df, schema, parameters, mark)

        key = None
        if statement.substrait is None:  # a Substrait plan is planned by its consumer each time
            self.admit(statement.sql, scope.governing)
            key = self.plans.key(
                statement.sql, scope.ctx, scope.governing, scope.client_types, mark
            )
            distributed = self._distributed(scope, statement.sql, parameters)
            if distributed is not None:
                return distributed
            planned = None if parameters else self.plans.get(key)
            if planned is not None and planned.plan is not None:
                return self._stream_planned(scope, planned, planned.plan)
            write = write_statement(statement.sql)
            if write is not None:
                return _changed_catalog(
                    self.writes.execute(
                        scope.ctx, statement, write, parameters, scope.governing.sql_options
                    )
                )
        result = statements.execute(
            scope.ctx,
            statement,
            parameters,
            scope.governing.sql_options,
            scope.client_types,
            lookup=lookup,
        )
        if key is not None and isinstance(result, QueryResult) and not parameters:
            prepared = statements.as_prepared(statement, result, mark)
            self.plans.put(key, scope.ctx, scope.governing, prepared)
        return _changed_catalog(result)

    def run_planned(
        self, scope: Scope, statement: PreparedStatement, plan: DataFrame
    ) -> StatementResult:
        """Streams `plan`, the query `statement` planned before (its schema is the
        plan's), or answers it from the result cache."""
        if statement.substrait is None:
            distributed = self._distributed(scope, statement.sql, None)
            if distributed is not None:
                return distributed
        return self._stream_planned(scope, statement, plan)

    def _stream_planned(
        self, scope: Scope, statement: PreparedStatement, plan: DataFrame
    ) -> StatementResult:
        """`run_planned` once the statement is known to run locally."""
        return planned_query(
            scope.ctx,
            plan,
            statement.dataset_schema,
            lambda df, schema: self.result_cache.lookup(
                scope, df, schema, None, statement.catalog_mark
            ),
        )

    def _distributed(
        self, scope: Scope, sql: str, parameters: Mapping[str, pa.Scalar] | None
    ) -> StatementResult | None:
        """`sql` as the coordinator runs it (distributed, or EXPLAIN with the routing
        decision); None without workers, with parameters, or to run it locally."""
        if self.distribution is None or parameters or not sql:
            return None
        # Names resolve in the default catalog and schema there, as in the coordinator.
        if id(scope.ctx) not in self._default_name_contexts:
            return None
        return self.distribution.run(scope.ctx, scope.governing, sql, scope.client_types)

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
        for status in self.catalog:
            if status.name == name and status.error is not None and entry is not None:
                self._status_overrides[status.source] = msgspec.structs.replace(
                    status, error=None, delta=entry.pin, warning=entry.pin.warning
                )


def _changed_catalog(result: StatementResult) -> StatementResult:
    """`result`, after stamping the change a statement other than a query made.

    A Delta write re-pins its table, which stamps it; DDL, SET and DataFusion's own
    writes may change any table (or setting) the cache's keys hold.
    """
    if isinstance(result, CompletedResult) and result.cache is None:
        write = result.write
        if write is None or write.format != "delta":
            CATALOG_CHANGES.changed()
    return result
