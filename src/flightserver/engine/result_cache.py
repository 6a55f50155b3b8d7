"""The version-exact result cache: a query's answer, reused only when it would be identical.

A query is looked up once its logical plan is made and before it is physically
planned (`ResultCache.lookup`); a hit is served like a statement that already
ran (one endpoint streaming the stored batches), skipping planning and
execution. A miss streams as usual and collects its batches (`CacheFill`),
storing them only when the stream completed, stayed within `max_entry_bytes`,
was served as one endpoint, and no table it read changed meanwhile. What the key
holds: `engine.cache_key`. Entries are evicted least recently used first once
the stored results pass `max_bytes`. Changes never delete entries: they change
the keys, so older entries are unreachable and age out.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pyarrow as pa
from datafusion import DataFrame, SessionContext

from flightserver.artifacts.model import CacheStatus, ResultCacheOutcome
from flightserver.catalog.changes import CATALOG_CHANGES, CatalogChanges
from flightserver.catalog.delta import DeltaTables
from flightserver.config import ResultCacheConfig
from flightserver.engine.cache_key import (
    CacheKey,
    ScopeIdentity,
    SessionSettings,
    Uncacheable,
    query_key,
    volatile_functions,
)
from flightserver.ops import metrics

if TYPE_CHECKING:
    from flightserver.engine.session import Scope

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CachedResult:
    table: pa.Table
    size: int  # Arrow buffer bytes held


class ResultStore:
    """Results by key, bounded in bytes, least recently used evicted first."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[str, CachedResult] = OrderedDict()
        self._lock = threading.Lock()
        metrics.RESULT_CACHE_BYTES.set_function(lambda: self.bytes)
        metrics.RESULT_CACHE_ENTRIES.set_function(lambda: len(self._entries))

    def get(self, key: str) -> CachedResult | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key: str, result: CachedResult) -> None:
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self.bytes -= previous.size
            self._entries[key] = result
            self.bytes += result.size
            while self.bytes > self.max_bytes and self._entries:
                _, evicted = self._entries.popitem(last=False)
                self.bytes -= evicted.size
                metrics.RESULT_CACHE_EVICTIONS.inc()


@dataclass
class CacheDecision:
    """What the cache did for one query: a hit's result, or a miss being filled."""

    outcome: ResultCacheOutcome
    hit: pa.Table | None = None
    fill: CacheFill | None = None

    def bypass(self, reason: str) -> None:
        """Gives up storing the result (the query still runs)."""
        self.fill = None
        self.outcome = _bypass(reason)


@dataclass
class CacheFill:
    """A miss: collects the result's batches while they stream, and stores them
    when the stream completed and nothing it read changed."""

    decision: CacheDecision
    key: CacheKey
    mark: int  # the catalog generation before the query was planned
    schema: pa.Schema
    store: ResultStore
    changes: CatalogChanges
    max_entry_bytes: int
    _batches: list[pa.RecordBatch] | None = field(default_factory=list[pa.RecordBatch])
    _size: int = 0

    def add(self, batch: pa.RecordBatch) -> None:
        if self._batches is None:
            return
        self._size += batch.get_total_buffer_size()
        if self._size > self.max_entry_bytes:
            self._batches = None  # stop holding batches as soon as it is too large
            self.decision.bypass("result over max_entry_bytes")
            return
        self._batches.append(batch)

    def finish(self, completed: bool) -> None:
        batches, self._batches = self._batches, None
        if batches is None or self.decision.fill is not self:
            return
        if not completed:
            self.decision.bypass("the stream did not complete")
        elif self.changes.changed_since(self.mark, self.key.tables) or not all(
            listed.still_current() for listed in self.key.listings
        ):
            self.decision.bypass("a table it read changed while it ran")
        else:
            table = pa.Table.from_batches(batches, self.schema)
            self.store.put(self.key.sha256, CachedResult(table, self._size))


class ResultCache:
    def __init__(
        self, config: ResultCacheConfig, ctx: SessionContext, delta_tables: DeltaTables
    ) -> None:
        self.config = config
        self.store = ResultStore(config.max_bytes)
        self._delta_tables = delta_tables
        self._changes = CATALOG_CHANGES
        self._settings = SessionSettings(self._changes)
        # Every context registers the same functions.
        self._volatile = volatile_functions(ctx)

    def mark(self) -> int:
        """The catalog generation: taken before a query is planned."""
        return self._changes.mark()

    def lookup(
        self,
        scope: Scope,
        df: DataFrame,
        schema: pa.Schema,
        parameters: Mapping[str, pa.Scalar] | None,
        mark: int | None,
    ) -> CacheDecision:
        """Looks `df` up: a hit, a miss to fill, or a bypass (the query runs uncached)."""
        if not self.config.enabled:
            return _counted(CacheDecision(_bypass("disabled by configuration")))
        if not scope.result_cache:
            return _counted(CacheDecision(_bypass("disabled for the session")))
        try:
            key = query_key(
                scope.ctx,
                df,
                ScopeIdentity(_policy_identity(scope), scope.client_types),
                parameters,
                settings=self._settings,
                delta_tables=self._delta_tables.entries,
                volatile=self._volatile,
                changes=self._changes,
            )
        except Uncacheable as exc:
            return _counted(CacheDecision(_bypass(str(exc))))
        except Exception as exc:  # an optional layer never fails a query
            log.warning("result cache key not computed: %s", exc)
            return _counted(CacheDecision(_bypass(f"key not computed: {exc}")))
        found = self.store.get(key.sha256)
        if found is not None:
            outcome = ResultCacheOutcome(status=CacheStatus.HIT, key_sha256=key.sha256)
            return _counted(CacheDecision(outcome, hit=found.table))
        decision = CacheDecision(ResultCacheOutcome(status=CacheStatus.MISS, key_sha256=key.sha256))
        if mark is None:
            decision.bypass("planned before the cache could note the catalog's state")
        else:
            decision.fill = CacheFill(
                decision,
                key,
                mark,
                schema,
                self.store,
                self._changes,
                self.config.max_entry_bytes,
            )
        return _counted(decision)


def _policy_identity(scope: Scope) -> tuple[str | None, ...]:
    identity = scope.governing.plan_identity
    rulepack = identity.rulepack
    return (
        scope.governing.name,
        identity.policy_sha256,
        rulepack.config_sha256 if rulepack is not None else None,
    )


def _bypass(reason: str) -> ResultCacheOutcome:
    return ResultCacheOutcome(status=CacheStatus.BYPASS, reason=reason)


def _counted(decision: CacheDecision) -> CacheDecision:
    metrics.labelled(metrics.RESULT_CACHE_LOOKUPS, decision.outcome.status.value).inc()
    return decision
