"""Admission control: at most N queries run at once; a bounded queue waits.

A query holds a slot while it plans or runs (including while its result
streams). Beyond the queue, or after waiting too long, a request is refused
at once: an overloaded server answers quickly instead of piling up work.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from contextlib import contextmanager


class Overloaded(RuntimeError):
    """No slot could be had: too many queries running and waiting."""


class Admission:
    def __init__(self, max_active: int, max_queued: int, wait_seconds: float) -> None:
        self._slots = threading.BoundedSemaphore(max_active)
        self._max_queued = max_queued
        self._wait = wait_seconds
        self._queued = 0
        self._lock = threading.Lock()

    @contextmanager
    def slot(self) -> Generator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()

    def acquire(self) -> None:
        if self._slots.acquire(blocking=False):
            return
        with self._lock:
            if self._queued >= self._max_queued:
                raise Overloaded(f"server busy: {self._max_queued} queries already waiting")
            self._queued += 1
        try:
            if not self._slots.acquire(timeout=self._wait):
                raise Overloaded(f"server busy: no query slot within {self._wait:g} s")
        finally:
            with self._lock:
                self._queued -= 1

    def release(self) -> None:
        self._slots.release()


class Deadline:
    """When a query must be done by; None: no limit."""

    def __init__(self, seconds: float | None) -> None:
        self._at = None if seconds is None else time.monotonic() + seconds
        self.seconds = seconds

    def expired(self) -> bool:
        return self._at is not None and time.monotonic() > self._at
