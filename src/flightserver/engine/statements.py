"""Preparing and running SQL statements: queries stream, everything else runs now.

DataFusion executes DDL inside `ctx.sql()` and DML lazily when its plan runs.
A client executing a statement must see its effect at once, so updates are
run to completion here, and only queries are left to stream.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING

import pyarrow as pa
from datafusion import DataFrame, SessionContext, SQLOptions, substrait
from datafusion.expr import CopyTo, DmlStatement, EmptyRelation
from datafusion.unparser import Dialect, Unparser
from substrait import proto as substrait_proto

from flightserver.artifacts.model import WriteOutcome
from flightserver.engine.client_types import client_schema, with_client_types
from flightserver.engine.parameters import number_question_marks, parameter_schema
from flightserver.engine.physical import PhysicalQuery, plan_physical
from flightserver.engine.result_schema import result_schema
from flightserver.engine.substrait_compat import adapt_plan, describe_unsupported

if TYPE_CHECKING:
    from flightserver.engine.result_cache import CacheDecision

EMPTY_SCHEMA = pa.schema([])

# Planning with these options refuses anything with side effects before it runs:
# DataFusion checks them on the logical plan, ahead of executing DDL.
_QUERIES_ONLY = (
    SQLOptions().with_allow_ddl(False).with_allow_dml(False).with_allow_statements(False)
)
_NO_DDL = SQLOptions().with_allow_ddl(False).with_allow_statements(False)
_NO_DDL_OR_DML = SQLOptions().with_allow_ddl(False).with_allow_dml(False)
_EXECUTE = re.compile(r"\s*EXECUTE\b", re.IGNORECASE)
# DataFusion's messages for the refusals above (datafusion 55).
_DML_REFUSED = "DML not supported"
_DDL_REFUSED = ("DDL not supported", "Statement not supported")


class StatementKind(StrEnum):
    QUERY = "query"  # returns rows; runs as the client reads them
    UPDATE = "update"  # DML and COPY: returns a row count
    DDL = "ddl"  # DDL and session statements: no result


@dataclass(frozen=True)
class PreparedStatement:
    """A statement analysed without running it."""

    sql: str  # with `?` markers numbered as DataFusion placeholders
    kind: StatementKind
    dataset_schema: pa.Schema  # empty unless kind is QUERY
    parameter_schema: pa.Schema
    substrait: bytes | None = None  # set for a Substrait plan instead of SQL
    # A query without parameters as planned when prepared (client types applied):
    # clients that prepare every query (ADBC, JDBC) execute it right away.
    plan: DataFrame | None = field(default=None, compare=False, repr=False)
    # The catalog generation before `plan` was made (the result cache's check).
    catalog_mark: int | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class QueryResult:
    """A query planned (down to its physical plan) and ready to stream."""

    df: DataFrame
    schema: pa.Schema
    physical: PhysicalQuery
    cache: CacheDecision | None = None  # a miss to fill, or why the cache was bypassed


@dataclass(frozen=True)
class CompletedResult:
    """A statement that has already run; `table` is what it returned."""

    table: pa.Table
    record_count: int
    write: WriteOutcome | None = None  # what a write statement wrote, for its artifact
    cache: CacheDecision | None = None  # set when the result cache answered a query


# Looks a query's client DataFrame (and its schema) up in the result cache.
CacheLookup = Callable[[DataFrame, pa.Schema], "CacheDecision"]


StatementResult = QueryResult | CompletedResult


def prepare(ctx: SessionContext, sql: str, client_types: bool = True) -> PreparedStatement:
    """Classifies and plans `sql` without side effects; planning errors raise.
    With `client_types`, results take the types the JDBC driver reads."""
    numbered = number_question_marks(sql)
    try:
        df = ctx.sql_with_options(numbered, _QUERIES_ONLY)
    except Exception as exc:
        message = str(exc)
        if _DML_REFUSED in message:
            df = ctx.sql_with_options(numbered, _NO_DDL)
            return PreparedStatement(
                numbered, StatementKind.UPDATE, EMPTY_SCHEMA, parameter_schema(df, client_types)
            )
        if _EXECUTE.match(numbered):
            # EXECUTE of a SQL-level prepared plan is a query: planning it has no effect.
            df = ctx.sql_with_options(numbered, _NO_DDL_OR_DML)
        elif any(refused in message for refused in _DDL_REFUSED):
            return PreparedStatement(numbered, StatementKind.DDL, EMPTY_SCHEMA, EMPTY_SCHEMA)
        else:
            raise
    parameters = parameter_schema(df, client_types)
    client_df, schema = _client_result(ctx, df, client_types, bound=not len(parameters))
    return PreparedStatement(
        numbered,
        StatementKind.QUERY,
        schema,
        parameters,
        plan=None if len(parameters) else client_df,
    )


def prepare_substrait(
    ctx: SessionContext, plan: bytes, client_types: bool = True
) -> PreparedStatement:
    """Analyses a serialized Substrait plan; unsupported parts raise."""
    df = substrait_dataframe(ctx, plan)
    _, schema = _client_result(ctx, df, client_types, bound=True)
    return PreparedStatement("", StatementKind.QUERY, schema, EMPTY_SCHEMA, plan)


def substrait_version(ctx: SessionContext) -> str:
    """The Substrait version this DataFusion produces (and so reads)."""
    produced = substrait.Producer.to_substrait_plan(ctx.sql("SELECT 1").logical_plan(), ctx)
    plan = substrait_proto.Plan()
    plan.ParseFromString(produced.encode())
    version = plan.version
    return f"{version.major_number}.{version.minor_number}.{version.patch_number}"


class UncheckablePlan(ValueError):
    """A Substrait plan that cannot be written as SQL, and so not checked by the policy."""


def plan_sql(df: DataFrame) -> str:
    """`df`'s logical plan written as SQL (DataFusion's unparser; not every plan)."""
    return Unparser(Dialect.default()).plan_to_sql(df.logical_plan())


def substrait_sql(ctx: SessionContext, plan: bytes) -> str:
    """The Substrait `plan` written back as SQL."""
    try:
        return plan_sql(substrait_dataframe(ctx, plan))
    except Exception as exc:  # the unparser does not cover every plan
        raise UncheckablePlan(
            f"the Substrait plan cannot be checked against the SQL policy: {exc}"
        ) from exc


def substrait_dataframe(ctx: SessionContext, plan: bytes) -> DataFrame:
    adapted = adapt_plan(ctx, plan)
    try:
        logical_plan = substrait.Consumer.from_substrait_plan(
            ctx, substrait.Serde.deserialize_bytes(adapted)
        )
    except Exception as exc:  # DataFusion raises plain exceptions
        raise ValueError(describe_unsupported(adapted, exc)) from exc
    return ctx.create_dataframe_from_logical_plan(logical_plan)


def execute(
    ctx: SessionContext,
    statement: PreparedStatement,
    parameters: Mapping[str, pa.Scalar] | None = None,
    options: SQLOptions | None = None,
    client_types: bool = True,
    *,
    lookup: CacheLookup | None = None,
) -> StatementResult:
    """Runs `statement`: a query is planned to stream (unless `lookup` finds its
    result), anything else runs to completion before this returns."""
    if statement.substrait is not None:
        df = substrait_dataframe(ctx, statement.substrait)
    else:
        # DDL runs here; `options` (the policy's statement switches) refuse it first.
        df = ctx.sql(statement.sql, options=options, param_values=dict(parameters or {}))
    plan = _top_node(df)
    if isinstance(plan, DmlStatement | CopyTo):
        table = df.to_arrow_table()  # the write happens here; one row: its count
        return CompletedResult(
            table, sum(value or 0 for value in table.column("count").to_pylist())
        )
    if isinstance(plan, EmptyRelation) and not df.schema().names:
        return CompletedResult(EMPTY_SCHEMA.empty_table(), 0)  # DDL or SET, already done
    df, schema = _client_result(ctx, df, client_types, bound=True)
    return planned_query(ctx, df, schema, lookup)


def planned_query(
    ctx: SessionContext, df: DataFrame, schema: pa.Schema, lookup: CacheLookup | None
) -> StatementResult:
    """The query `df` planned to stream, or its result when the cache has it."""
    decision = lookup(df, schema) if lookup is not None else None
    if decision is not None and decision.hit is not None:
        return CompletedResult(decision.hit, decision.hit.num_rows, cache=decision)
    physical = plan_physical(ctx, df)
    if decision is not None and decision.fill is not None and physical.endpoints > 1:
        decision.bypass("served as several endpoints")
    return QueryResult(df, schema, physical, cache=decision)


def as_prepared(
    statement: PreparedStatement, result: QueryResult, catalog_mark: int
) -> PreparedStatement:
    """`statement`, run without parameters, as if prepared: the plan `result` ran,
    made after the catalog generation `catalog_mark`."""
    return replace(
        statement,
        kind=StatementKind.QUERY,
        dataset_schema=result.schema,
        plan=result.df,
        catalog_mark=catalog_mark,
    )


def _client_result(
    ctx: SessionContext, df: DataFrame, client_types: bool, bound: bool
) -> tuple[DataFrame, pa.Schema]:
    """`df` with client types, and the schema its batches will have.

    `bound`: `df` has no unbound parameters. With parameters the analyzer may
    not type the plan before they are bound; the unanalyzed schema is then the
    best known, and the execution announces the real one.
    """
    if not bound:
        client_df = with_client_types(df, df.schema(), client_types)
        try:
            return client_df, result_schema(ctx, client_df)
        except Exception:  # DataFusion raises plain exceptions for untyped parameters
            return client_df, client_df.schema()
    schema = result_schema(ctx, df)
    # The casts' result types are known: no second optimization to learn them.
    return with_client_types(df, schema, client_types), client_schema(schema, client_types)


def _top_node(df: DataFrame) -> object:
    """The plan's top node as the bindings' class; None for a kind they cannot convert
    (always a query then: DML, COPY and DDL convert)."""
    try:
        return df.logical_plan().to_variant()
    except Exception:  # datafusion-python lacks a class for this node kind
        return None


def adhoc(sql: str) -> PreparedStatement:
    """An unprepared statement: its kind is found when it runs."""
    return PreparedStatement(
        number_question_marks(sql), StatementKind.QUERY, EMPTY_SCHEMA, EMPTY_SCHEMA
    )
