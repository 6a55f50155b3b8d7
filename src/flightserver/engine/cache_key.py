"""The result cache's key: everything a query's answer depends on, read from its
logical plan before it is physically planned.

The key holds the plan's identity (its unoptimized logical plan with schemas,
client-type casts included: DataFusion's optimizer is deterministic given the
same plan, settings and tables, so the optimized and physical plans add
nothing), the bound parameter values, the session's settings (default catalog
and schema among them), the governing policy's identity, and each table's state:
a Delta table's pinned version and file set, a listing table's serialized
provider and the files (path, size, modification time) under its paths, and
every table's catalog generation (`catalog.changes`). A query whose answer may
change without any of these changing (non-deterministic functions, tables whose
state has no name, EXPLAIN and other non-query nodes) raises `Uncacheable`.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
import pyarrow as pa
from datafusion import DataFrame, SessionContext
from datafusion.plan import LogicalPlan

from flightserver.artifacts.hashing import sha256_hex
from flightserver.catalog.changes import CatalogChanges
from flightserver.catalog.delta import DeltaTableEntry
from flightserver.writes.files import list_files, local_path

INFORMATION_SCHEMA = "information_schema"
_TABLE_SCAN = "TableScan"
# A scan's line in `display_indent`: its table reference.
_SCANNED = re.compile(r"TableScan: ([^\n]+)")
# Logical nodes whose output depends only on their inputs (and expressions).
_QUERY_NODES = frozenset(
    {
        "Aggregate",
        "CrossJoin",
        "Distinct",
        "EmptyRelation",
        "Filter",
        "Join",
        "Limit",
        "Projection",
        "Repartition",
        "Sort",
        "Subquery",
        "SubqueryAlias",
        _TABLE_SCAN,
        "Union",
        "Unnest",
        "Values",
        "Window",
    }
)


class Uncacheable(Exception):
    """The query's answer cannot be named exactly; the message says why."""


@dataclass(frozen=True)
class ListedFiles:
    """The files under a listing table's paths when the key was made."""

    paths: tuple[str, ...]
    files: tuple[tuple[str, int, int], ...]  # (path, size, modification time in ns)

    def still_current(self) -> bool:
        return _listing(self.paths) == self.files


@dataclass(frozen=True)
class CacheKey:
    sha256: str
    tables: tuple[str, ...]  # qualified names of the tables read
    listings: tuple[ListedFiles, ...]  # to check again when the result is stored


@dataclass(frozen=True)
class ScopeIdentity:
    """What a call's scope contributes: its policy and whether results take client types."""

    policy: tuple[str | None, ...]
    client_types: bool


def volatile_functions(ctx: SessionContext) -> re.Pattern[str]:
    """A pattern finding calls of the functions DataFusion's registry marks as not
    deterministic (`now`, `random`, `uuid`, `current_date`, ...) in a plan's text."""
    rows = ctx.sql(
        "SELECT DISTINCT routine_name FROM information_schema.routines"
        " WHERE is_deterministic IS NULL OR NOT is_deterministic"
    ).to_pydict()
    names = sorted({str(name) for name in rows["routine_name"]}, key=len, reverse=True)
    return re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\(", re.IGNORECASE)


class SessionSettings:
    """Each context's DataFusion settings (default catalog and schema among them),
    read once per context and catalog generation: a SET is a change of any table."""

    def __init__(self, changes: CatalogChanges) -> None:
        self._changes = changes
        self._known: weakref.WeakKeyDictionary[SessionContext, tuple[int, str, str, str]] = (
            weakref.WeakKeyDictionary()
        )

    def of(self, ctx: SessionContext) -> tuple[str, str, str]:
        """(settings hash, default catalog, default schema)."""
        generation = self._changes.stamps(())[-1]
        known = self._known.get(ctx)
        if known is not None and known[0] == generation:
            return known[1:]
        rows = ctx.sql("SELECT name, value FROM information_schema.df_settings").to_pydict()
        settings = dict(zip(rows["name"], rows["value"], strict=True))
        found = (
            sha256_hex(msgspec.json.encode(sorted(settings.items()))),
            str(settings["datafusion.catalog.default_catalog"]),
            str(settings["datafusion.catalog.default_schema"]),
        )
        self._known[ctx] = (generation, *found)
        return found


def query_key(
    ctx: SessionContext,
    df: DataFrame,
    scope: ScopeIdentity,
    parameters: Mapping[str, pa.Scalar] | None,
    *,
    settings: SessionSettings,
    delta_tables: Mapping[str, DeltaTableEntry],
    volatile: re.Pattern[str],
    changes: CatalogChanges,
) -> CacheKey:
    """The key of `df`'s answer; raises `Uncacheable`."""
    plan = df.logical_plan()
    text = plan.display_indent_schema()
    # Searched without the schemas, a third as long.
    expressions = plan.display_indent()
    called = volatile.search(expressions)
    if called is not None:
        raise Uncacheable(f"nondeterministic: {called.group(1)}")
    settings_hash, *defaults = settings.of(ctx)
    scans = {_qualified(scan.fqn(), defaults): scan_plan for scan_plan, scan in _scans(plan)}
    # Scans inside expressions (IN, EXISTS, scalar subqueries) are no node's inputs;
    # the plan's text shows them. One statement resolves each name to one provider.
    for reference in _SCANNED.findall(expressions):
        name = _qualified(_reference_parts(reference), defaults)
        if name not in scans:
            scans[name] = ctx.table(reference).logical_plan()
    tables: list[Any] = []
    listings: list[ListedFiles] = []
    for name, scan_plan in sorted(scans.items()):
        state, listed = _table_state(name, scan_plan, delta_tables)
        tables.append(state)
        if listed is not None:
            listings.append(listed)
    unique = tuple(sorted(scans))
    material = [
        1,  # the key's format
        text,
        settings_hash,
        list(scope.policy),
        scope.client_types,
        _parameter_values(parameters),
        tables,
        list(changes.stamps(unique)),
    ]
    return CacheKey(
        sha256_hex(msgspec.json.encode(material)), unique, tuple(dict.fromkeys(listings))
    )


def _parameter_values(parameters: Mapping[str, pa.Scalar] | None) -> list[list[str]]:
    return [
        [name, str(value.type), repr(value.as_py())]
        for name, value in sorted((parameters or {}).items())
    ]


def _qualified(parts: tuple[str | None, ...], defaults: list[str]) -> str:
    catalog, schema, table = (None,) * (3 - len(parts)) + parts
    return f"{catalog or defaults[0]}.{schema or defaults[1]}.{table}"


def _reference_parts(reference: str) -> tuple[str | None, ...]:
    """A table reference as the plan's text shows it, split into its names."""
    parts = tuple(part.strip() for part in reference.split("."))
    if '"' in reference or not 1 <= len(parts) <= 3 or not all(parts):
        raise Uncacheable(f"a scan of {reference!r} in a subquery")
    return parts


def _scans(plan: LogicalPlan) -> Iterator[tuple[LogicalPlan, Any]]:
    try:
        variant = plan.to_variant()
    except Exception as exc:  # a node kind the bindings cannot convert
        raise Uncacheable(f"plan node: {exc}") from None
    kind = type(variant).__name__
    if kind not in _QUERY_NODES:
        raise Uncacheable(f"plan node {kind}")
    if kind == _TABLE_SCAN:
        yield plan, variant
    for child in plan.inputs():
        yield from _scans(child)


def _table_state(
    name: str, plan: LogicalPlan, delta_tables: Mapping[str, DeltaTableEntry]
) -> tuple[list[Any], ListedFiles | None]:
    if name.split(".")[1] == INFORMATION_SCHEMA:
        raise Uncacheable(f"{name}: the catalog's own tables")
    try:
        # DataFusion serializes its listing tables (paths, format, options, schema),
        # exactly as this plan holds them; other providers refuse.
        provider = plan.to_bytes()
    except Exception:
        provider = None
    if provider is not None:
        listed = _listed_files(name, provider)
        return [name, "listing", sha256_hex(provider), listed.files], listed
    entry = delta_tables.get(name)
    if entry is None:
        raise Uncacheable(f"{name}: a table without versions (memory, system, or function)")
    pin = entry.pin
    return [name, "delta", entry.location, pin.provider, pin.version, pin.files_hash], None


def _listed_files(name: str, provider: bytes) -> ListedFiles:
    paths: list[str] = []
    for number, value in _fields(provider):
        if number == 1 and isinstance(value, bytes):  # LogicalPlanNode.listing_scan
            paths = [
                path.decode()
                for field, path in _fields(value)
                if field == 2 and isinstance(path, bytes)  # ListingTableScanNode.paths
            ]
    if not paths:
        raise Uncacheable(f"{name}: a serialized provider that is no listing table")
    for path in paths:
        if local_path(path) is None:
            raise Uncacheable(f"{name}: files at {path} are not listed (remote)")
    return ListedFiles(tuple(paths), _listing(tuple(paths)))


def _listing(paths: tuple[str, ...]) -> tuple[tuple[str, int, int], ...]:
    files: dict[str, tuple[str, int, int]] = {}
    for path in paths:
        for file, state in list_files(local_path(path)).items():
            files[file] = (file, state.size, state.modified_ns)
    return tuple(sorted(files.values()))


def _fields(message: bytes) -> Iterator[tuple[int, bytes | int]]:
    """The fields of a serialized protobuf message: (number, bytes or integer)."""
    position = 0
    while position < len(message):
        tag, position = _varint(message, position)
        number, wire_type = tag >> 3, tag & 7
        if wire_type == 0:
            value, position = _varint(message, position)
            yield number, value
        elif wire_type == 2:
            length, position = _varint(message, position)
            yield number, message[position : position + length]
            position += length
        elif wire_type in (1, 5):
            position += 8 if wire_type == 1 else 4
        else:
            raise Uncacheable(f"unreadable serialized provider (wire type {wire_type})")


def _varint(data: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if position >= len(data):
            raise Uncacheable("truncated serialized provider")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, position
