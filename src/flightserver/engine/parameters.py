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


_OPERATOR = re.compile(r"\b(?:AND|OR)\b|[-+*/%<>=|&^]+", re.IGNORECASE)


def code_outside_literals(sql: str) -> str:
    """`sql` with string literals, quoted identifiers and comments blanked out."""
    return _SKIPPED.sub(" ", sql)


def operator_count(sql: str) -> int:
    """How many operators `sql` applies: a bound on how deep its expressions nest."""
    return len(_OPERATOR.findall(code_outside_literals(sql)))


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
    found = _placeholder_types(df.logical_plan())
    if not found:
        return pa.schema([])
    return pa.schema(
        [
            pa.field(f"${index}", found.get(index, UNTYPED_PARAMETER))
            for index in range(1, max(found) + 1)
        ]
    )


def _placeholder_types(plan: Any) -> dict[int, pa.DataType]:
    # Iterative: a BI tool's OR chain of thousands of terms nests that deep.
    found: dict[int, pa.DataType] = {}
    plans: list[Any] = [plan]
    exprs: list[Any] = []
    while plans or exprs:
        if exprs:
            _visit_expr(exprs.pop(), found, plans, exprs)
            continue
        current = plans.pop()
        exprs.extend(_plan_exprs(current))
        plans.extend(current.inputs())
    return found


def _plan_exprs(plan: Any) -> list[Any]:
    node = plan.to_variant()
    exprs: list[Any] = []
    for accessor in _PLAN_EXPRESSIONS:
        method = getattr(node, accessor, None)
        if method is None:
            continue
        try:
            value = method()
        except Exception:  # accessor not meaningful for this node kind
            continue
        exprs.extend(_exprs(value))
    return exprs


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


def _visit_expr(
    expr: Any, found: dict[int, pa.DataType], plans: list[Any], exprs: list[Any]
) -> None:
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
            plans.append(subquery)
        else:  # datafusion.expr.Subquery: its plan is reached through input() (55.x)
            plans.extend(subquery.input())
        if kind == "InSubquery":
            exprs.append(variant.expr())
        return
    if str(expr.rex_type()) in _CALL_LIKE:
        exprs.extend(expr.rex_call_operands())


def parameter_values(batch: pa.RecordBatch, row: int) -> dict[str, pa.Scalar]:
    """Row `row` of a bound parameter batch, as DataFusion's `param_values` ($1 -> "1")."""
    return {str(index + 1): batch.column(index)[row] for index in range(batch.num_columns)}
