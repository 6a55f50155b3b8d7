"""The rows an UPDATE or MERGE would leave, previewed in DataFusion so declared
constraints can be checked before `deltalake` commits anything.

A preview is SQL over `__target` (the table's newest version) and, for MERGE,
`__source` (its source rows): every row the statement leaves, with the table's
columns and `__changed` (true for rows it updates or inserts). MERGE clauses
apply first match first, as in SQL.
"""

from __future__ import annotations

import pyarrow as pa
from datafusion import SessionContext

from flightserver.catalog.constraints import TableConstraints, not_null_name
from flightserver.engine.native import MergeClause, WriteStatement
from flightserver.writes.checks import ConstraintViolation
from flightserver.writes.delta import WriteRejected


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def update_preview(ctx: SessionContext, write: WriteStatement) -> str:
    columns = ctx.table("__target").schema().names
    predicate = f"({write.predicate})" if write.predicate else "TRUE"
    assigned = dict(write.assignments)
    unknown = [column for column in assigned if column not in columns]
    if unknown:
        raise WriteRejected(f"UPDATE: the table has no columns {', '.join(unknown)}")
    values = [
        f"CASE WHEN {predicate} THEN ({assigned[column]}) ELSE {_quoted(column)} END "
        f"AS {_quoted(column)}"
        if column in assigned
        else _quoted(column)
        for column in columns
    ]
    return (
        f"SELECT {', '.join(values)}, COALESCE({predicate}, FALSE) AS __changed, "
        "NULL AS __rid FROM __target"
    )


def merge_preview(ctx: SessionContext, write: WriteStatement, columns: list[str]) -> str:
    target, source = _quoted(write.target_alias), _quoted(write.source_alias or "source")
    numbered = list(enumerate(write.clauses, start=1))

    def chooser(matched: str) -> str:
        whens = [
            f"WHEN {f'({clause.predicate})' if clause.predicate else 'TRUE'} THEN {index}"
            for index, clause in numbered
            if clause.matched == matched
        ]
        return f"CASE {' '.join(whens)} ELSE 0 END" if whens else "0"

    clause_id = (
        f"CASE WHEN {target}.__rid IS NOT NULL AND {source}.__present IS NOT NULL "
        f"THEN {chooser('matched')} "
        f"WHEN {source}.__present IS NULL THEN {chooser('not_matched_by_source')} "
        f"ELSE {chooser('not_matched')} END"
    )
    inner = [f"{clause_id} AS __clause", f"{target}.__rid AS __rid"]
    inner += [f"{target}.{_quoted(column)} AS {_quoted('__t_' + column)}" for column in columns]
    assigned: dict[int, dict[str, str]] = {}
    for index, clause in numbered:
        if clause.action == "delete":
            continue
        assigned[index] = _assigned(clause, columns)
        inner += [
            f"({value}) AS {_quoted(f'__{index}_{column}')}"
            for column, value in assigned[index].items()
        ]
    outer: list[str] = []
    for column in columns:
        whens: list[str] = []
        for index, clause in numbered:
            if index not in assigned:
                continue
            if column in assigned[index]:
                whens.append(f"WHEN {index} THEN {_quoted(f'__{index}_{column}')}")
            elif clause.action == "insert":
                whens.append(f"WHEN {index} THEN NULL")
        fallback = _quoted("__t_" + column)
        outer.append(
            f"CASE __clause {' '.join(whens)} ELSE {fallback} END AS {_quoted(column)}"
            if whens
            else f"{fallback} AS {_quoted(column)}"
        )
    changing = [str(index) for index in assigned] or ["-1"]
    inserting = [str(i) for i, c in numbered if c.action == "insert"] or ["-1"]
    deleting = [str(i) for i, c in numbered if c.action == "delete"] or ["-1"]
    joined = (
        f"SELECT {', '.join(inner)} "
        "FROM (SELECT *, row_number() OVER () AS __rid FROM __target) AS " + target + " "
        "FULL OUTER JOIN (SELECT *, TRUE AS __present FROM __source) AS " + source + " "
        f"ON {write.predicate}"
    )
    listed = ", ".join(_quoted(column) for column in columns)
    return (
        f"SELECT {listed}, __changed, __rid FROM ("
        f"SELECT {', '.join(outer)}, __clause IN ({', '.join(changing)}) AS __changed, __rid, "
        f"__clause FROM ({joined})) "
        f"WHERE (__rid IS NOT NULL AND __clause NOT IN ({', '.join(deleting)})) "
        f"OR __clause IN ({', '.join(inserting)})"
    )


def _assigned(clause: MergeClause, columns: list[str]) -> dict[str, str]:
    if clause.action == "insert" and clause.assignments and not clause.assignments[0][0]:
        return {
            column: value for column, (_, value) in zip(columns, clause.assignments, strict=False)
        }
    return dict(clause.assignments)


def check_preview(
    ctx: SessionContext, table: str, preview: str, constraints: TableConstraints
) -> None:
    """Raises ConstraintViolation, naming the constraint, if the previewed rows
    break one."""
    counts = [
        f"count(*) FILTER (WHERE {_quoted(column)} IS NULL) AS {_quoted(not_null_name(column))}"
        for column in constraints.required_columns
    ] + [
        f"count(*) FILTER (WHERE NOT ({expression})) AS {_quoted(name)}"
        for name, expression in constraints.checks.items()
    ]
    if counts:
        failed = ctx.sql(
            f"WITH __preview AS ({preview}) SELECT {', '.join(counts)} "
            "FROM __preview WHERE __changed"
        ).to_pydict()
        for column in constraints.required_columns:
            count = failed[not_null_name(column)][0]
            if count:
                raise ConstraintViolation(
                    table, not_null_name(column), f"{count} rows would have NULL in {column}"
                )
        for name, expression in constraints.checks.items():
            count = failed[name][0]
            if count:
                raise ConstraintViolation(
                    table, name, f"{count} rows would fail CHECK ({expression})"
                )
    key = constraints.primary_key
    if not key:
        return
    listed = ", ".join(_quoted(column) for column in key)
    # Target rows a MERGE leaves untouched may repeat in the join (several
    # source rows matched them, no clause acting): count each once.
    repeated: pa.Table = ctx.sql(
        f"WITH __preview AS ({preview}), __final AS ("
        f"SELECT DISTINCT {listed}, __rid FROM __preview WHERE __rid IS NOT NULL "
        f"UNION ALL SELECT {listed}, __rid FROM __preview WHERE __rid IS NULL) "
        f"SELECT {listed} FROM __final GROUP BY {listed} HAVING count(*) > 1 LIMIT 1"
    ).to_arrow_table()
    if repeated.num_rows:
        row = repeated.to_pylist()[0]
        shown = ", ".join(f"{column}={row[column]!r}" for column in key)
        raise ConstraintViolation(
            table,
            constraints.primary_key_name,
            f"primary key ({', '.join(key)}) would repeat: {shown}",
        )
