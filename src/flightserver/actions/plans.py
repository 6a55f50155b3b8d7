"""Plan actions: a query's Substrait plan, EXPLAIN, its plan bundle, and bundle replay.

A query is named by a QueryRequest: SQL text, or a prepared statement's handle.
"""

from __future__ import annotations

import time

from datafusion import DataFrame

from flightserver.actions import ActionContext, CustomAction
from flightserver.artifacts import plans, registry
from flightserver.artifacts.bundle import build_bundle
from flightserver.artifacts.hashing import sha256_hex
from flightserver.artifacts.model import (
    PlanBundle,
    PlanBundleResponse,
    QueryRequest,
    ReplayRequest,
    SubstraitPlanResponse,
)
from flightserver.artifacts.replay import ReplayError, replay
from flightserver.artifacts.tables import KnownTables
from flightserver.engine.session import session_config
from flightserver.engine.statements import substrait_version
from flightserver.protocol.errors import InvalidRequest, NotFound, RequestError, engine_error


def known_tables(context: ActionContext) -> KnownTables:
    engine = context.engine
    store = engine.artifacts
    return KnownTables(engine.catalog, engine.state_dir, {store.table_name: str(store.location)})


def _dataframe(context: ActionContext, request: QueryRequest) -> tuple[DataFrame, str | None]:
    """The request's query planned in the caller's session, and its SQL if it has one."""
    if (request.sql is None) == (request.prepared_statement_handle is None):
        raise InvalidRequest(
            "QueryRequest needs exactly one of `sql` and `prepared_statement_handle`"
        )
    try:
        if request.sql is not None:
            return plans.query_dataframe(context.ctx, request.sql), request.sql
        assert request.prepared_statement_handle is not None
        statement = context.prepared_statement(request.prepared_statement_handle)
        sql = statement.sql if statement.substrait is None else None
        return plans.statement_dataframe(context.ctx, statement), sql
    except RequestError:
        raise
    except Exception as exc:  # DataFusion raises plain exceptions
        raise engine_error(exc) from exc


def substrait_plan(context: ActionContext, body: bytes) -> list[bytes]:
    df, _ = _dataframe(context, registry.decode_request(QueryRequest, body))
    try:
        plan = plans.substrait_bytes(context.ctx, df)
    except Exception as exc:
        raise engine_error(exc) from exc
    response = SubstraitPlanResponse(
        plan=plan, plan_sha256=sha256_hex(plan), substrait_version=substrait_version(context.ctx)
    )
    return [registry.encode(response)]


def explain(context: ActionContext, body: bytes) -> list[bytes]:
    df, _ = _dataframe(context, registry.decode_request(QueryRequest, body))
    try:
        return [registry.encode(plans.explain(df))]
    except Exception as exc:
        raise engine_error(exc) from exc


def plan_bundle(context: ActionContext, body: bytes) -> list[bytes]:
    started = time.perf_counter()
    request = registry.decode_request(QueryRequest, body)
    df, sql = _dataframe(context, request)
    try:
        bundle = build_bundle(
            context.ctx,
            df,
            sql,
            known_tables(context),
            identity=context.governing.plan_identity,
            planning_started=started,
        )
    except Exception as exc:
        raise engine_error(exc) from exc
    context.engine.artifacts.record(lambda: bundle)
    return [registry.encode(PlanBundleResponse(artifact_id=bundle.bundle_id, bundle=bundle))]


def replay_bundle(context: ActionContext, body: bytes) -> list[bytes]:
    request = registry.decode_request(ReplayRequest, body)
    stored = context.engine.artifacts.fetch(request.artifact_id)
    if not isinstance(stored, PlanBundle):
        raise NotFound(f"no plan bundle has artifact_id {request.artifact_id!r}")
    try:
        response = replay(stored, session_config(context.engine.config))
    except ReplayError as exc:
        raise InvalidRequest(f"cannot replay {request.artifact_id}: {exc}") from exc
    except Exception as exc:
        raise engine_error(exc) from exc
    return [registry.encode(response)]


def actions() -> list[CustomAction]:
    return [
        CustomAction(
            "GetSubstraitPlan",
            "The Substrait plan (bytes, base64 in JSON) of a SQL query or prepared statement."
            " Body: QueryRequest JSON; result: SubstraitPlanResponse JSON.",
            substrait_plan,
        ),
        CustomAction(
            "Explain",
            "The logical, optimized and physical plans of a SQL query or prepared statement."
            " Body: QueryRequest JSON; result: ExplainResponse JSON.",
            explain,
        ),
        CustomAction(
            "GetPlanBundle",
            "Plan and run a query; return and store its plan bundle (plans, hashes, Substrait,"
            " Delta pins, DDL, timings). Body: QueryRequest JSON; result: PlanBundleResponse.",
            plan_bundle,
        ),
        CustomAction(
            "ReplayPlanBundle",
            "Re-run a stored plan bundle's Substrait plan over its pinned Delta versions and"
            " compare results. Body: ReplayRequest JSON; result: ReplayResponse JSON.",
            replay_bundle,
        ),
    ]
