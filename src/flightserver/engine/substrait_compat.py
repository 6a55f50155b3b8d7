"""Adapts Substrait plans from other producers to DataFusion's consumer.

Names: Substrait names tables by the producer's spelling: Isthmus (through
Calcite) upper-cases unquoted identifiers, DataFusion keeps them as written. A
named table that does not resolve exactly is resolved without regard to case
when exactly one table matches; its base schema's column names are then
respelled the same way.

Functions: the standard `extract` takes its unit as an enum argument, which
DataFusion's consumer does not read; it becomes DataFusion's `date_part` with
the unit as a string, which is what DataFusion itself produces.

Consumer errors that do not say what is unsupported get the plan's culprits
named (`describe_unsupported`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TypeVar

from datafusion import SessionContext
from google.protobuf.message import Message
from substrait import proto as substrait_proto

M = TypeVar("M", bound=Message)

_UNSUPPORTED_RELATION = re.compile(r"not implemented: \w+\((\w+Rel) \{")

_TABLES = (
    "SELECT table_catalog, table_schema, table_name FROM information_schema.tables"
    " WHERE table_schema <> 'information_schema'"
)
_DEFAULTS = (
    "SELECT name, value FROM information_schema.df_settings WHERE name IN"
    " ('datafusion.catalog.default_catalog', 'datafusion.catalog.default_schema')"
)


def adapt_plan(ctx: SessionContext, plan: bytes) -> bytes:
    """`plan` with table and column names spelled as in `ctx`, and `extract` as `date_part`."""
    message = substrait_proto.Plan()
    try:
        message.ParseFromString(plan)
    except Exception:  # protobuf's DecodeError; the consumer reports it
        return plan
    _refuse_file_reads(message)
    changed = _extract_as_date_part(message)
    reads = [(read, depth) for read, depth in _named_reads(message, 0)]
    if reads:
        resolver = _Resolver(ctx)
        outer: set[tuple[str, str, str]] = set()
        for read, depth in sorted(reads, key=lambda item: item[1]):
            table = resolver.resolve(read)
            if table is None:
                continue
            # The same table read inside a subquery and outside it: DataFusion's consumer
            # qualifies both scans alike (Substrait has no aliases), and its decorrelation
            # then confuses them. A longer spelling of the inner name tells them apart.
            length = len(read.named_table.names)
            if depth > 0 and table in outer:
                length = 1 + (length - 1 + depth) % 3
            changed |= resolver.respell(read, table, length)
            if depth == 0:
                outer.add(table)
    return message.SerializeToString() if changed else plan


class FileReadRefused(ValueError):
    """A Substrait plan reading files by path (`ReadRel.local_files`)."""


def _refuse_file_reads(plan: substrait_proto.Plan) -> None:
    """Plans read the catalog's tables by name: a read of files by path would go
    around the catalog and the policy's locations."""
    for read in _find(plan, substrait_proto.ReadRel):
        if read.HasField("local_files"):
            paths = [
                item.uri_path or item.uri_file or item.uri_folder for item in read.local_files.items
            ]
            raise FileReadRefused(
                f"Substrait reads of files by path are not supported ({', '.join(paths)}); "
                "read a table of the catalog by name"
            )


def describe_unsupported(plan: bytes, error: Exception) -> str:
    """The consumer's error, naming the functions it may have refused."""
    message = str(error)
    relation = _UNSUPPORTED_RELATION.search(message)
    if relation is not None:  # DataFusion's message would dump the whole relation
        return f"unsupported Substrait relation: {relation.group(1)}"
    if "non-Value type" not in message:
        return message
    parsed = substrait_proto.Plan()
    parsed.ParseFromString(plan)
    names = _function_names(parsed)
    culprits = sorted(
        {
            names.get(function.function_reference, f"#{function.function_reference}")
            for function in _find(parsed, substrait_proto.Expression.ScalarFunction)
            if any(not argument.HasField("value") for argument in function.arguments)
        }
    )
    return f"{message} (functions with enum or type arguments: {', '.join(culprits)})"


def _function_names(plan: substrait_proto.Plan) -> dict[int, str]:
    return {
        extension.extension_function.function_anchor: extension.extension_function.name
        for extension in plan.extensions
        if extension.HasField("extension_function")
    }


def _extract_as_date_part(plan: substrait_proto.Plan) -> bool:
    anchors = {
        anchor for anchor, name in _function_names(plan).items() if name.split(":")[0] == "extract"
    }
    if not anchors:
        return False
    for function in _find(plan, substrait_proto.Expression.ScalarFunction):
        if function.function_reference not in anchors or not function.arguments:
            continue
        unit = function.arguments[0]
        if unit.HasField("enum"):
            unit.value.literal.string = unit.enum  # setting `value` clears the enum
    for extension in plan.extensions:
        if extension.extension_function.function_anchor in anchors:
            extension.extension_function.name = "date_part"
    return True


class _Resolver:
    def __init__(self, ctx: SessionContext) -> None:
        self.ctx = ctx
        tables = ctx.sql(_TABLES).to_pydict()
        self.tables = list(
            zip(tables["table_catalog"], tables["table_schema"], tables["table_name"], strict=True)
        )
        settings = ctx.sql(_DEFAULTS).to_pydict()
        values = dict(zip(settings["name"], settings["value"], strict=True))
        self.default_catalog = str(values["datafusion.catalog.default_catalog"])
        self.default_schema = str(values["datafusion.catalog.default_schema"])

    def resolve(self, read: substrait_proto.ReadRel) -> tuple[str, str, str] | None:
        """The table `read` names: exactly, else the one matching without regard to case."""
        names = list(read.named_table.names)
        if not 1 <= len(names) <= 3:
            return None
        wanted = (*[self.default_catalog, self.default_schema][: 3 - len(names)], *names)
        if wanted in self.tables:
            return (wanted[0], wanted[1], wanted[2])
        matches = [
            table
            for table in self.tables
            if [part.lower() for part in table] == [part.lower() for part in wanted]
        ]
        return matches[0] if len(matches) == 1 else None  # else the consumer reports it

    def respell(
        self, read: substrait_proto.ReadRel, table: tuple[str, str, str], length: int
    ) -> bool:
        """Names `table` in `read` with its last `length` parts; True if that changed it."""
        given = list(read.named_table.names)
        spelled = list(table[3 - length :])
        if given == spelled:
            return False
        del read.named_table.names[:]
        read.named_table.names.extend(spelled)
        if given != list(table[3 - len(given) :]):  # resolved without regard to case
            self._respell_columns(read, table)
        return True

    def _respell_columns(self, read: substrait_proto.ReadRel, table: tuple[str, str, str]) -> None:
        qualified = ".".join('"' + part.replace('"', '""') + '"' for part in table)
        columns = {name.lower(): name for name in self.ctx.table(qualified).schema().names}
        spelled = [columns.get(name.lower(), name) for name in read.base_schema.names]
        del read.base_schema.names[:]
        read.base_schema.names.extend(spelled)


def _named_reads(message: Message, depth: int) -> Iterator[tuple[substrait_proto.ReadRel, int]]:
    """Every ReadRel of a named table, with how many subqueries deep it is."""
    for read, read_depth in _find_with_depth(message, substrait_proto.ReadRel, depth):
        if read.HasField("named_table"):
            yield read, read_depth


def _find(message: Message, kind: type[M]) -> Iterator[M]:
    """Every `kind` message anywhere in `message`, subqueries included."""
    for found, _ in _find_with_depth(message, kind, 0):
        yield found


def _find_with_depth(message: Message, kind: type[M], depth: int) -> Iterator[tuple[M, int]]:
    """Every `kind` message in `message`, with how many subqueries deep it is."""
    if isinstance(message, kind):
        yield message, depth
    if isinstance(message, substrait_proto.Expression.Subquery):
        depth += 1
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.is_repeated:
            if field.message_type.GetOptions().map_entry:
                continue
            for item in value:
                yield from _find_with_depth(item, kind, depth)
        else:
            yield from _find_with_depth(value, kind, depth)
