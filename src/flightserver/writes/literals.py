"""Bound parameter values as SQL literal text.

`deltalake` evaluates DELETE/UPDATE/MERGE predicates and SET expressions as SQL
text, without parameters, so a prepared statement's values are written into
the statement (by the Rust `bind_parameters`, which accepts only constants).
"""

from __future__ import annotations

import math

import pyarrow as pa

from flightserver.writes.delta import WriteRejected


def sql_literal(value: pa.Scalar) -> str:
    """`value` as a SQL constant of its type."""
    kind = value.type
    python = value.as_py()
    if python is None:
        return "NULL"
    if pa.types.is_boolean(kind):
        return "TRUE" if python else "FALSE"
    if pa.types.is_integer(kind):
        return str(int(python))
    if pa.types.is_floating(kind):
        number = float(python)
        if math.isnan(number) or math.isinf(number):
            return f"CAST('{number}' AS DOUBLE)"
        return repr(number)
    if pa.types.is_decimal(kind):
        return f"CAST('{python}' AS DECIMAL({kind.precision}, {kind.scale}))"  # pyright: ignore[reportAttributeAccessIssue]
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _quoted(str(python))
    if pa.types.is_date(kind):
        return f"DATE '{python.isoformat()}'"
    if pa.types.is_timestamp(kind):
        timestamp = "TIMESTAMP" if kind.tz is None else "TIMESTAMPTZ"  # pyright: ignore[reportAttributeAccessIssue]
        return f"CAST({_quoted(python.isoformat())} AS {timestamp})"
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return f"X'{bytes(python).hex()}'"
    raise WriteRejected(f"a parameter of type {kind} cannot be bound in DELETE, UPDATE or MERGE")


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
