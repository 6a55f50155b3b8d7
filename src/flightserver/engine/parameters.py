"""Statement parameters: `?` markers, their inferred types, and binding values.

JDBC and ODBC clients write `?`; DataFusion numbers its placeholders `$1, $2,
...`. Parameter types are the ones DataFusion infers while planning, read from
the placeholders in the logical plan.
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa
from datafusion import DataFrame

from flightserver.engine.client_types import client_type

# Type announced for a parameter whose type DataFusion cannot infer (`SELECT ?`).
UNTYPED_PARAMETER = pa.utf8()

# Tokens that may contain a `?` which is not a parameter marker.
_SKIPPED = re.compile(
    r"""
    '(?:[^']|'')*'            # string literal
    | "(?:[^"]|"")*"          # quoted identifier
    | --[^\n]*                # line comment
    | /\*.*?\*/               # block comment
    | \$\$.*?\$\$             # dollar-quoted string
    """,
    re.VERBOSE | re.DOTALL,
)


def number_question_marks(sql: str) -> str:
    """Rewrites each `?` parameter marker outside literals and comments as `$n`."""
    pieces: list[str] = []
    count = 0
    position = 0
    for skipped in _SKIPPED.finditer(sql):
        count = _replace_markers(sql[position : skipped.start()], pieces, count)
        pieces.append(skipped.group())
        position = skipped.end()
    _replace_markers(sql[position:], pieces, count)
    return "".join(pieces)


def _replace_markers(text: str, pieces: list[str], count: int) -> int:
    parts = text.split("?")
    pieces.append(parts[0])
    for part in parts[1:]:
        count += 1
        pieces.append(f"${count}{part}")
    return count


# Accessors of logical plan nodes that return the node's expressions.
_PLAN_EXPRESSIONS = (
    "projections",
    "predicate",
    "group_by_exprs",
    "aggregate_exprs",
    "sort_exprs",
    "window_exprs",
    "on",
    "filter",
    "filters",
    "values",
    "skip",
    "fetch",
)
_CALL_LIKE = {"RexType.Alias", "RexType.Call"}


def parameter_schema(df: DataFrame) -> pa.Schema:
    """One nullable field per placeholder ($1, $2, ...), typed as DataFusion inferred."""
    found: dict[int, pa.DataType] = {}
    _walk_plan(df.logical_plan(), found)
    if not found:
        return pa.schema([])
    return pa.schema(
        [
            pa.field(f"${index}", found.get(index, UNTYPED_PARAMETER))
            for index in range(1, max(found) + 1)
        ]
    )


def _walk_plan(plan: Any, found: dict[int, pa.DataType]) -> None:
    node = plan.to_variant()
    for accessor in _PLAN_EXPRESSIONS:
        method = getattr(node, accessor, None)
        if method is None:
            continue
        try:
            value = method()
        except Exception:  # accessor not meaningful for this node kind
            continue
        for expr in _exprs(value):
            _walk_expr(expr, found)
    for child in plan.inputs():
        _walk_plan(child, found)


def _exprs(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [expr for item in value for expr in _exprs(item)]
    if hasattr(value, "rex_call_operands"):
        return [value]
    if hasattr(value, "expr"):  # SortExpr
        return [value.expr()]
    return []


def _walk_expr(expr: Any, found: dict[int, pa.DataType]) -> None:
    kind = expr.variant_name()
    if kind == "Placeholder":
        placeholder = expr.to_variant()
        name: str = placeholder.id()
        if name.startswith("$") and name[1:].isdigit():
            field = placeholder.field()
            index = int(name[1:])
            if field is not None and field.type != pa.null():
                found[index] = client_type(field.type)
            else:
                found.setdefault(index, UNTYPED_PARAMETER)
        return
    if kind in {"ScalarSubquery", "InSubquery", "Exists"}:
        variant = expr.to_variant()
        subquery = variant.subquery()
        if hasattr(subquery, "to_variant"):  # a LogicalPlan
            _walk_plan(subquery, found)
        else:  # datafusion.expr.Subquery: its plan is not reachable from Python (55.x)
            for plan in subquery.input():
                _walk_plan(plan, found)
        if kind == "InSubquery":
            _walk_expr(variant.expr(), found)
        return
    if str(expr.rex_type()) in _CALL_LIKE:
        for operand in expr.rex_call_operands():
            _walk_expr(operand, found)


def parameter_values(batch: pa.RecordBatch, row: int) -> dict[str, pa.Scalar]:
    """Row `row` of a bound parameter batch, as DataFusion's `param_values` ($1 -> "1")."""
    return {str(index + 1): batch.column(index)[row] for index in range(batch.num_columns)}
