"""Table constraints, declared once in a table's catalog definition.

`[constraints]` in a definition file declares a primary key, NOT NULL columns
and named CHECK expressions (SQL). They become the Delta table's own
constraints when the server creates or loads the table (non-nullable fields,
`delta.constraints.<name>` CHECKs) and are enforced on every write the server
commits (`writes.checks`), which names the constraint a write breaks.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

Identifier = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class TableConstraints(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A table's declared constraints."""

    primary_key: Annotated[
        list[Identifier],
        msgspec.Meta(description="Key columns: each NOT NULL, and together unique."),
    ] = msgspec.field(default_factory=list)
    not_null: Annotated[
        list[Identifier], msgspec.Meta(description="Columns that may not hold NULL.")
    ] = msgspec.field(default_factory=list)
    checks: Annotated[
        dict[Identifier, str],
        msgspec.Meta(description="Named CHECK constraints: a SQL boolean expression each."),
    ] = msgspec.field(default_factory=dict)

    @property
    def required_columns(self) -> list[str]:
        """Columns that must hold a value: the key's and the NOT NULL ones, once each."""
        return list(dict.fromkeys([*self.primary_key, *self.not_null]))

    @property
    def primary_key_name(self) -> str:
        return "pk"

    def is_empty(self) -> bool:
        return not (self.primary_key or self.not_null or self.checks)


def not_null_name(column: str) -> str:
    """The name a NOT NULL constraint is reported (and stored in Delta) under."""
    return f"{column}_not_null"


def delta_check_constraints(
    constraints: TableConstraints, nullable_columns: set[str]
) -> dict[str, str]:
    """The Delta CHECK constraints (`delta.constraints.<name>`) for `constraints`.

    A required column is a non-nullable field in a table the server creates;
    in an existing table whose field is nullable (`nullable_columns`; Delta
    cannot change that) it gets an `IS NOT NULL` CHECK instead.
    """
    required = {
        not_null_name(column): f"{column} IS NOT NULL"
        for column in constraints.required_columns
        if column in nullable_columns
    }
    return {**required, **constraints.checks}
