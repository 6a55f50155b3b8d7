"""The engine: one DataFusion session with our rulepack and the catalog loaded."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
from datafusion import DataFrame, SessionConfig, SessionContext

from flightserver.catalog.loader import TableStatus, load_catalog
from flightserver.config import ServerConfig
from flightserver.engine.client_types import with_client_types
from flightserver.engine.native import Policy, Rulepack
from flightserver.engine.policy import build_policy, sql_options


def session_config(config: ServerConfig) -> SessionConfig:
    """DataFusion settings every session gets."""
    settings = {
        "datafusion.catalog.information_schema": "true",
        # Both drivers read Utf8/Binary; the JDBC driver (18.x) fails on view types.
        "datafusion.sql_parser.map_string_types_to_utf8view": "false",
        "datafusion.execution.parquet.schema_force_view_types": "false",
        "datafusion.execution.target_partitions": str(
            config.target_partitions or os.cpu_count() or 1
        ),
        # The policy parses requests as the engine does only with these.
        **Policy.engine_settings(),
    }
    return SessionConfig(settings)


class Engine:
    """Owns the session that every query of this server runs in."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        Path(config.state_dir).mkdir(parents=True, exist_ok=True)
        self.policy = build_policy(config)
        self.sql_options = sql_options(self.policy)
        self.ctx = SessionContext(session_config(config))
        self.rulepack = Rulepack(self.policy)
        for rule in self.rulepack.rules():
            self.ctx.add_physical_optimizer_rule(rule)
        self.catalog = load_catalog(self.ctx, Path(config.catalog_dir))

    @property
    def failed_tables(self) -> list[TableStatus]:
        return [status for status in self.catalog if not status.loaded]

    def plan(self, query: str) -> tuple[DataFrame, pa.Schema]:
        """Plans `query` for a client: the DataFrame to run and the schema it yields.

        DDL takes effect here, as DataFusion runs it eagerly, so the policy
        checks the request first (raising PolicyViolation or SqlSyntaxError).
        """
        self.policy.check_sql(query)
        df = self.ctx.sql_with_options(query, self.sql_options)
        df = with_client_types(df, df.schema())
        return df, df.schema()
