"""Planned statements waiting for their DoGet, addressed by opaque handles."""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import pyarrow as pa
from datafusion import DataFrame

from flightserver.protocol.errors import NotFound


@dataclass(frozen=True)
class PlannedStatement:
    df: DataFrame
    schema: pa.Schema
    expires_at: float


class StatementRegistry:
    """Holds planned statements until their TTL passes; the oldest go first when full."""

    def __init__(self, ttl_seconds: float, capacity: int = 10_000) -> None:
        self._ttl = ttl_seconds
        self._capacity = capacity
        self._entries: OrderedDict[bytes, PlannedStatement] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, df: DataFrame, schema: pa.Schema) -> bytes:
        handle = secrets.token_bytes(16)
        now = time.monotonic()
        with self._lock:
            self._evict(now)
            self._entries[handle] = PlannedStatement(df, schema, now + self._ttl)
        return handle

    def get(self, handle: bytes) -> PlannedStatement:
        with self._lock:
            self._evict(time.monotonic())
            statement = self._entries.get(handle)
        if statement is None:
            raise NotFound("statement handle is unknown or has expired; execute the query again")
        return statement

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def _evict(self, now: float) -> None:
        while self._entries:
            handle, oldest = next(iter(self._entries.items()))
            if oldest.expires_at > now and len(self._entries) < self._capacity:
                return
            del self._entries[handle]
