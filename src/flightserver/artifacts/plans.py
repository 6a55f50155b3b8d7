"""A query's plans: its DataFrame, EXPLAIN texts, Substrait bytes and their round trip."""

from __future__ import annotations

from typing import Any

from datafusion import DataFrame, SessionContext, SQLOptions, substrait
from substrait import proto as substrait_proto

from flightserver.artifacts.hashing import result_sha256
from flightserver.artifacts.model import ExplainResponse, SubstraitRoundTrip
from flightserver.engine.statements import PreparedStatement, plan_sql, substrait_dataframe

# Plans are made for queries only; nothing here may change data.
_QUERIES_ONLY = (
    SQLOptions().with_allow_ddl(False).with_allow_dml(False).with_allow_statements(False)
)


def query_dataframe(ctx: SessionContext, sql: str) -> DataFrame:
    """`sql` planned, refusing DDL, DML and statements before anything runs."""
    return ctx.sql_with_options(sql, _QUERIES_ONLY)


def statement_dataframe(ctx: SessionContext, statement: PreparedStatement) -> DataFrame:
    if statement.substrait is not None:
        return substrait_dataframe(ctx, statement.substrait)
    return query_dataframe(ctx, statement.sql)


def substrait_bytes(ctx: SessionContext, df: DataFrame) -> bytes:
    """`df`'s Substrait plan, canonical: the same plan always gives the same bytes.

    DataFusion 55 cannot write correlated subqueries (outer references) as
    Substrait; such a query is written from its optimized plan, where the
    subqueries have become joins.
    """
    try:
        produced = substrait.Producer.to_substrait_plan(df.logical_plan(), ctx)
    except Exception as exc:
        if "OuterReferenceColumn" not in str(exc):
            raise
        produced = substrait.Producer.to_substrait_plan(df.optimized_logical_plan(), ctx)
    return canonical(produced.encode())


def canonical(plan: bytes) -> bytes:
    """`plan` with its extension declarations in anchor order.

    DataFusion lists a plan's extension declarations in hash-map order, so the
    same plan serializes differently from run to run; hashes and diffs need one
    spelling.
    """
    message = substrait_proto.Plan()
    message.ParseFromString(plan)
    for field in ("extension_uris", "extension_urns"):
        if hasattr(message, field):
            declared = sorted(getattr(message, field), key=_anchor)
            message.ClearField(field)  # pyright: ignore[reportArgumentType]
            getattr(message, field).extend(declared)
    extensions = sorted(message.extensions, key=_extension_key)
    message.ClearField("extensions")
    message.extensions.extend(extensions)
    return message.SerializeToString(deterministic=True)


def _anchor(declaration: Any) -> int:
    for field in ("extension_uri_anchor", "extension_urn_anchor"):
        if hasattr(declaration, field):
            return int(getattr(declaration, field))
    return 0


def _extension_key(declaration: Any) -> tuple[str, int, str]:
    kind = declaration.WhichOneof("mapping_type") or ""
    mapping = getattr(declaration, kind) if kind else None
    if mapping is None:
        return (kind, 0, "")
    anchor = next(
        (
            getattr(mapping, name)
            for name in ("function_anchor", "type_anchor", "type_variation_anchor")
            if hasattr(mapping, name)
        ),
        0,
    )
    return (kind, int(anchor), str(mapping.name))


def explain(df: DataFrame) -> ExplainResponse:
    return ExplainResponse(
        logical_plan=df.logical_plan().display_indent(),
        optimized_plan=df.optimized_logical_plan().display_indent(),
        physical_plan=df.execution_plan().display_indent(),
    )


def normalized_sql(df: DataFrame) -> str | None:
    """The logical plan written back as SQL: one spelling for equivalent texts."""
    try:
        return plan_sql(df)
    except Exception:  # DataFusion's unparser does not cover every plan
        return None


def substrait_round_trip(
    ctx: SessionContext, plan: bytes, expected_result_sha256: str | None = None
) -> SubstraitRoundTrip:
    """Reads `plan` back into a plan, writes it again (twice), and runs it when a
    result hash to compare with is given."""
    try:
        back = substrait_dataframe(ctx, plan)
        again = substrait_bytes(ctx, back)
        third = substrait_bytes(ctx, substrait_dataframe(ctx, again))
    except Exception as exc:  # DataFusion's Substrait consumer refuses what it lacks
        return SubstraitRoundTrip(
            identical=False, stable=False, detail=f"plan -> bytes -> plan failed: {exc}"
        )
    same_result = None
    if expected_result_sha256 is not None:
        same_result = result_sha256(back)[0] == expected_result_sha256
    if again == plan:
        detail = "written again, the plan gives the same bytes"
    else:
        detail = f"written again, the plan differs ({len(plan)} bytes, then {len(again)} bytes)"
    return SubstraitRoundTrip(
        identical=again == plan, stable=third == again, same_result=same_result, detail=detail
    )
