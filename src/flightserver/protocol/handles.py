"""Server-side objects clients address by opaque handle, with expiry.

Planned statements wait here for their DoGet, prepared statements for their
executions. Handles are random (unguessable); an entry lives `ttl_seconds`
after its last use, and the least recently used go first when full.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from flightserver.protocol.errors import NotFound

T = TypeVar("T")

HANDLE_BYTES = 16


class HandleRegistry(Generic[T]):
    def __init__(self, kind: str, ttl_seconds: float, capacity: int = 10_000) -> None:
        self._kind = kind
        self._ttl = ttl_seconds
        self._capacity = capacity
        self._entries: OrderedDict[bytes, tuple[T, float]] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, value: T) -> bytes:
        handle = secrets.token_bytes(HANDLE_BYTES)
        with self._lock:
            self._expire(time.monotonic())
            self._entries[handle] = (value, time.monotonic() + self._ttl)
        return handle

    def get(self, handle: bytes) -> T:
        """The entry for `handle`, its expiry renewed; NotFound if unknown or expired."""
        value = self.find(handle)
        if value is None:
            raise NotFound(f"{self._kind} handle is unknown or has expired")
        return value

    def find(self, handle: bytes) -> T | None:
        """The entry for `handle`, its expiry renewed; None if unknown or expired."""
        now = time.monotonic()
        with self._lock:
            self._expire(now)
            entry = self._entries.get(handle)
            if entry is None:
                return None
            self._entries[handle] = (entry[0], now + self._ttl)
            self._entries.move_to_end(handle)
            return entry[0]

    def get_or_add(self, handle: bytes, make: Callable[[], T]) -> T:
        """The entry for `handle` (a key chosen by the caller), created if missing."""
        existing = self.find(handle)
        if existing is not None:
            return existing
        with self._lock:
            value = make()
            self._entries[handle] = (value, time.monotonic() + self._ttl)
            return value

    def discard(self, handle: bytes) -> None:
        with self._lock:
            self._entries.pop(handle, None)

    def update(self, handle: bytes, change: Callable[[T], T]) -> T:
        """Replaces the entry for `handle` by `change(entry)`."""
        with self._lock:
            entry = self._entries.get(handle)
            if entry is None:
                raise NotFound(f"{self._kind} handle is unknown or has expired")
            value = change(entry[0])
            self._entries[handle] = (value, time.monotonic() + self._ttl)
            return value

    def remove(self, handle: bytes) -> None:
        with self._lock:
            if self._entries.pop(handle, None) is None:
                raise NotFound(f"{self._kind} handle is unknown or has expired")

    def values(self) -> list[T]:
        """A snapshot of the live entries."""
        with self._lock:
            return [value for value, _ in self._entries.values()]

    def count(self, matches: Callable[[T], bool]) -> int:
        """How many live entries `matches`."""
        with self._lock:
            self._expire(time.monotonic())
            return sum(1 for value, _ in self._entries.values() if matches(value))

    def __len__(self) -> int:
        """Live entries: expired ones are dropped first."""
        with self._lock:
            self._expire(time.monotonic())
            return len(self._entries)

    def _expire(self, now: float) -> None:
        # Entries are ordered by last use, so expired ones are at the front.
        while self._entries:
            handle, (_, expires_at) = next(iter(self._entries.items()))
            if expires_at > now and len(self._entries) < self._capacity:
                return
            del self._entries[handle]
