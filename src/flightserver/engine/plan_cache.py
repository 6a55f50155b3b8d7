"""Statements as prepared, reused for the same text while the catalog is unchanged.

Preparing a query (parsing, planning, the optimizer pass that gives its result
schema, its parameters' types) costs more than running a point query, and texts
repeat: ADBC prepares every new text, then executes it; dashboards and drivers'
metadata probes send the same texts again and again. A kept statement holds its
logical plan, which holds the table providers it resolved, so entries are keyed
by the catalog generation read before planning (`catalog.changes`): any table
registered, replaced or removed since, or any DDL, makes them
unreachable, and they age out of the LRU. Each execution still plans its
physical plan afresh (listing tables list their files then; plan rules run).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from datafusion import SessionContext

from flightserver.engine.statements import PreparedStatement, StatementKind
from flightserver.ops.metrics import PLAN_CACHE_LOOKUPS

_HITS = PLAN_CACHE_LOOKUPS.labels("hit")
_MISSES = PLAN_CACHE_LOOKUPS.labels("miss")


@dataclass(frozen=True)
class PlanKey:
    """What a prepared statement depends on besides its text."""

    sql: str
    context: int  # id() of the context planned in (the entry holds it: the id stays its)
    policy: int  # id() of the governing policy, held likewise
    client_types: bool
    generation: int


@dataclass(frozen=True)
class _Entry:
    statement: PreparedStatement
    # Kept alive with the entry, so that the ids in its key name them.
    context: SessionContext
    policy: object


class PlanCache:
    """The last `capacity` queries prepared, by text and what they were planned against."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[PlanKey, _Entry] = OrderedDict()
        self._generation = 0  # of every entry held
        self._lock = threading.Lock()

    @staticmethod
    def key(
        sql: str, ctx: SessionContext, policy: object, client_types: bool, generation: int
    ) -> PlanKey:
        """The key of `sql` planned in `ctx` under `policy`, after the catalog
        generation `generation` (`CATALOG_CHANGES.mark()`, read before planning: a
        change while planning makes the entry unreachable rather than stale)."""
        return PlanKey(sql, id(ctx), id(policy), client_types, generation)

    def get(self, key: PlanKey) -> PreparedStatement | None:
        with self._lock:
            self._forget_older(key.generation)
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
        (_HITS if entry is not None else _MISSES).inc()
        return entry.statement if entry is not None else None

    def put(
        self, key: PlanKey, ctx: SessionContext, policy: object, statement: PreparedStatement
    ) -> None:
        """Keeps a query without parameters, planned (anything else is planned per execution)."""
        if (
            self.capacity == 0
            or statement.kind is not StatementKind.QUERY
            or statement.plan is None
            or statement.substrait is not None
        ):
            return
        with self._lock:
            self._forget_older(key.generation)
            if key.generation < self._generation:
                return  # planned against a catalog that has changed since
            self._entries[key] = _Entry(statement, ctx, policy)
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def _forget_older(self, generation: int) -> None:
        """Drops every entry once the generation moves: they are unreachable, and
        their plans hold providers whose claims keep old Delta files from vacuum."""
        if generation > self._generation:
            self._entries.clear()
            self._generation = generation

    def __len__(self) -> int:
        return len(self._entries)
