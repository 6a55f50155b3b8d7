"""Builds a query's plan bundle: plans, hashes, pins, DDL, and its measured result."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

from datafusion import DataFrame, SessionContext

from flightserver.artifacts import hashing, plans, tables
from flightserver.artifacts.model import PlanBundle, RulepackIdentity
from flightserver.artifacts.recorder import PlanIdentity
from flightserver.engine.native import Rulepack
from flightserver.engine.physical import plan_physical


def build_bundle(
    ctx: SessionContext,
    df: DataFrame,
    sql: str | None,
    known: tables.KnownTables,
    *,
    identity: PlanIdentity,
    planning_started: float,
) -> PlanBundle:
    """Plans and runs `df` (its result is hashed, not kept) and describes both."""
    explained = plans.explain(df)
    substrait = plans.substrait_bytes(ctx, df)
    defaults = tables.session_defaults(ctx)
    scanned = tables.scanned_tables(df.logical_plan(), defaults)
    manifest = plan_physical(ctx, df).manifest
    pins, external = tables.pins_and_ddl(known, scanned, manifest)
    planned = time.perf_counter()
    result_sha256, rows, size = hashing.result_sha256(df)
    finished = time.perf_counter()
    return PlanBundle(
        bundle_id=str(uuid.uuid4()),
        created_at=datetime.now(UTC),
        sql=sql,
        default_catalog=defaults[0],
        default_schema=defaults[1],
        normalized_sql=plans.normalized_sql(df),
        logical_plan=explained.logical_plan,
        optimized_plan=explained.optimized_plan,
        physical_plan=explained.physical_plan,
        plan_sha256=hashing.plan_sha256(df),
        substrait=substrait,
        substrait_sha256=hashing.sha256_hex(substrait),
        substrait_round_trip=plans.substrait_round_trip(ctx, substrait, result_sha256),
        rulepack=identity.rulepack
        or RulepackIdentity(name=Rulepack.name, rulepack_version=Rulepack.version),
        policy_sha256=identity.policy_sha256,
        information_schema_sha256=hashing.information_schema_sha256(ctx),
        delta_pins=pins,
        external_tables=external,
        planning_ms=(planned - planning_started) * 1000,
        execution_ms=(finished - planned) * 1000,
        rows_out=rows,
        bytes_out=size,
        result_sha256=result_sha256,
    )
