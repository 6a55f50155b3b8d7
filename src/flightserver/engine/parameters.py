"""Statement parameters: `?` markers, their inferred types, and binding values.

JDBC and ODBC clients write `?`; DataFusion numbers its placeholders `$1, $2,
...`. Parameter types are the ones DataFusion infers while planning, read from
the placeholders in the logical plan.
"""

from __future__ import annotations

import functools
import logging
import re
from typing import Any

import pyarrow as pa
from datafusion import DataFrame, SessionContext
from datafusion.expr import Expr

from flightserver.engine.client_types import client_type

log = logging.getLogger(__name__)

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
)
# LIMIT and OFFSET take row counts.
_ROW_COUNTS = ("skip", "fetch")
_CALL_LIKE = {"RexType.Alias", "RexType.Call"}
_CASTS = {"Cast", "TryCast"}
_PLACEHOLDER_NAME = re.compile(r"\$(\d+)\b")
# Marks a parameter DataFusion could not type: the type the client binds decides.
UNTYPED_KEY = b"flightserver.untyped"


def parameter_schema(df: DataFrame, client_types: bool = True) -> pa.Schema:
    """One nullable field per placeholder ($1, $2, ...), typed as DataFusion inferred.

    A placeholder without an inferred type is typed by a CAST around it, a
    LIMIT/OFFSET count as Int64, and otherwise announced as Utf8 and marked
    untyped (`is_untyped`). Finding the types is best effort: an expression the
    Python bindings cannot take apart leaves its placeholders untyped; it never
    fails the statement.
    """
    found = _placeholder_types(df.logical_plan())
    if not found:
        return pa.schema([])
    return pa.schema(
        [
            _parameter_field(index, found.get(index), client_types)
            for index in range(1, max(found) + 1)
        ]
    )


def _parameter_field(index: int, data_type: pa.DataType | None, client_types: bool) -> pa.Field:
    if data_type is None:
        return pa.field(f"${index}", UNTYPED_PARAMETER, metadata={UNTYPED_KEY: b"true"})
    announced = client_type(data_type)
    if client_types and isinstance(announced, pa.TimestampType):
        # The JDBC driver (18.x) writes setTimestamp's milliseconds into the vector
        # whatever its unit: announced in milliseconds, they arrive right.
        announced = pa.timestamp("ms", announced.tz)
    return pa.field(f"${index}", announced)


def is_untyped(parameter: pa.Field) -> bool:
    """Whether the server announced `parameter` without knowing its type."""
    return bool(parameter.metadata and parameter.metadata.get(UNTYPED_KEY) == b"true")


# An expression to visit, and the type an untyped placeholder directly in it takes.
_Pending = tuple[Any, pa.DataType | None]


def _placeholder_types(plan: Any) -> dict[int, pa.DataType | None]:
    # Iterative: a BI tool's OR chain of thousands of terms nests that deep.
    found: dict[int, pa.DataType | None] = {}
    plans: list[Any] = [plan]
    exprs: list[_Pending] = []
    while plans or exprs:
        if exprs:
            expr, hint = exprs.pop()
            try:
                _visit_expr(expr, hint, found, plans, exprs)
            except Exception:  # a kind the bindings cannot convert
                _undescribed(expr, found)
            continue
        current = plans.pop()
        exprs.extend(_plan_exprs(current))
        try:
            plans.extend(current.inputs())
        except Exception:  # pragma: no cover - inputs() of every node kind converts today
            log.debug("cannot list the inputs of a plan node; its placeholders stay untyped")
    return found


def _plan_exprs(plan: Any) -> list[_Pending]:
    try:
        node = plan.to_variant()
    except Exception:  # a node kind the bindings cannot convert: described as untyped
        _undescribed_plan(plan)
        return []
    exprs: list[_Pending] = []
    for accessor in (*_PLAN_EXPRESSIONS, *_ROW_COUNTS):
        method = getattr(node, accessor, None)
        if method is None:
            continue
        try:
            value = method()
        except Exception:  # accessor not meaningful for this node kind
            continue
        hint = pa.int64() if accessor in _ROW_COUNTS else None
        exprs.extend((expr, hint) for expr in _exprs(value))
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
    expr: Any,
    hint: pa.DataType | None,
    found: dict[int, pa.DataType | None],
    plans: list[Any],
    exprs: list[_Pending],
) -> None:
    kind = expr.variant_name()
    if kind == "Placeholder":
        placeholder = expr.to_variant()
        name: str = placeholder.id()
        if name.startswith("$") and name[1:].isdigit():
            field = placeholder.field()
            index = int(name[1:])
            if field is not None and field.type != pa.null():
                found[index] = field.type
            elif found.get(index) is None:
                found[index] = hint
        return
    if kind in _CASTS:
        # DataFusion does not type a placeholder from the CAST around it; the
        # cast's target type is what the client means to send.
        inner = expr.to_variant().expr()
        exprs.append(
            (inner, _expression_type(expr) if inner.variant_name() == "Placeholder" else None)
        )
        return
    if kind in {"ScalarSubquery", "InSubquery", "Exists"}:
        variant = expr.to_variant()
        subquery = variant.subquery()
        if hasattr(subquery, "to_variant"):  # a LogicalPlan
            plans.append(subquery)
        else:  # datafusion.expr.Subquery: its plan is reached through input() (55.x)
            plans.extend(subquery.input())
        if kind == "InSubquery":
            exprs.append((variant.expr(), None))
        return
    if str(expr.rex_type()) in _CALL_LIKE:
        exprs.extend((operand, None) for operand in expr.rex_call_operands())


def _expression_type(expr: Any) -> pa.DataType | None:
    """The type DataFusion gives `expr` (one without columns), or None."""
    try:
        typed = _types_context().sql("SELECT 1").select(Expr(expr).alias("t"))
        return typed.schema().field(0).type
    except Exception:  # not computable on its own: the placeholder stays untyped
        return None


@functools.cache
def _types_context() -> SessionContext:
    return SessionContext()


def _undescribed(expr: Any, found: dict[int, pa.DataType | None]) -> None:
    """An expression the bindings cannot take apart (such as ROLLUP in 55.x): its
    placeholders, read from its name, are counted untyped."""
    try:
        name = str(expr.canonical_name())
    except Exception:
        name = ""
    log.debug("cannot take apart the expression %s; its placeholders stay untyped", name)
    for match in _PLACEHOLDER_NAME.finditer(name):
        found.setdefault(int(match.group(1)), None)


def _undescribed_plan(plan: Any) -> None:
    log.debug("cannot convert a plan node for parameter types: %s", plan.display())


def parameter_values(batch: pa.RecordBatch, row: int) -> dict[str, pa.Scalar]:
    """Row `row` of a bound parameter batch, as DataFusion's `param_values` ($1 -> "1")."""
    return {str(index + 1): batch.column(index)[row] for index in range(batch.num_columns)}
