"""Replays a plan bundle: its Substrait plan, over the Delta versions it pinned."""

from __future__ import annotations

from datafusion import SessionConfig, SessionContext
from deltalake import DeltaTable

from flightserver.artifacts import hashing
from flightserver.artifacts.model import DeltaPin, PlanBundle, ReplayResponse
from flightserver.artifacts.tables import TableName, log_paths
from flightserver.catalog.loader import ensure_schema
from flightserver.engine.native import DeltaProvider
from flightserver.engine.statements import substrait_dataframe


class ReplayError(ValueError):
    """The bundle cannot be replayed (for example, a pinned version was vacuumed)."""


def replay_context(bundle: PlanBundle, config: SessionConfig) -> SessionContext:
    """A context holding only the bundle's tables, Delta ones at their pinned versions."""
    ctx = SessionContext(
        config.with_default_catalog_and_schema(bundle.default_catalog, bundle.default_schema)
    )
    for pin in bundle.delta_pins:
        name = _table_name(pin.table)
        ensure_schema(ctx, name.catalog, name.schema)
        schema = ctx.catalog(name.catalog).schema(name.schema)
        schema.register_table(name.table, _pinned_table(pin))
    for external in bundle.external_tables:
        name = _table_name(external.table)
        ensure_schema(ctx, name.catalog, name.schema)
        ctx.sql(external.ddl)
    return ctx


def _pinned_table(pin: DeltaPin) -> DeltaProvider | DeltaTable:
    """The table at the pin's version, restricted to exactly the files the plan read."""
    try:
        provider = DeltaProvider(pin.location, pin.table_version)
        if provider.unsupported_features:  # read by deltalake's provider: the whole version
            table = DeltaTable(pin.location, version=pin.table_version)
            if hashing.sha256_hex("\n".join(log_paths(table))) != pin.file_set_sha256:
                raise ReplayError(f"{pin.table} version {pin.table_version} has other files now")
            return table
        return provider.pin_files(pin.files)
    except ReplayError:
        raise
    except Exception as exc:  # a vacuumed version or file, an unreadable log
        raise ReplayError(f"{pin.table} version {pin.table_version}: {exc}") from exc


def replay(bundle: PlanBundle, config: SessionConfig) -> ReplayResponse:
    ctx = replay_context(bundle, config)
    df = substrait_dataframe(ctx, bundle.substrait)
    result_sha256, rows, _ = hashing.result_sha256(df)
    return ReplayResponse(
        artifact_id=bundle.bundle_id,
        identical=result_sha256 == bundle.result_sha256,
        rows_out=rows,
        result_sha256=result_sha256,
        expected_result_sha256=bundle.result_sha256,
    )


def _table_name(qualified: str) -> TableName:
    catalog, schema, table = qualified.split(".", 2)
    return TableName(catalog, schema, table)
