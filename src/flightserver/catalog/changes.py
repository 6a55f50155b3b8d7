"""The catalog generation: a counter every change of what a table name reads moves.

Every registration, swap, re-pin, refresh, DDL and write stamps the tables it
changes (by qualified name, `catalog.schema.table`), or, when it cannot name
them (a client's DDL, a SET), every table at once (`ANY_TABLE`). The result
cache puts the stamps of the tables a query reads in its key, so a change makes
the entries before it unreachable, and it stores a result only when none of its
tables changed between planning and the stream's end (`changed_since`): a plan
holds the providers it resolved, so a change in between could otherwise file an
old table's rows under the new state's key.

Changes the server controls are bracketed (`changing`): a table being swapped
counts as changed until the swap is done. Changes it learns of after the fact
(`changed`) are stamped when they return.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Generator, Iterable
from contextlib import contextmanager

ANY_TABLE = "*"  # a change whose tables are not known: every table


class CatalogChanges:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generation = 0
        self._stamps: dict[str, int] = {}  # name -> generation of its last change
        self._active: Counter[str] = Counter()  # changes begun and not ended, by name

    def mark(self) -> int:
        """The generation now: take it before planning, compare with `changed_since`."""
        with self._lock:
            return self._generation

    @contextmanager
    def changing(self, names: Iterable[str] | None = None) -> Generator[None]:
        """Brackets a change of `names` (None: of any table)."""
        touched = _names(names)
        with self._lock:
            self._active.update(touched)
        try:
            yield
        finally:
            with self._lock:
                self._active.subtract(touched)
                self._stamp(touched)

    def changed(self, names: Iterable[str] | None = None) -> None:
        """Stamps a change of `names` (None: of any table) that has already happened."""
        with self._lock:
            self._stamp(_names(names))

    def stamps(self, names: Iterable[str]) -> tuple[int, ...]:
        """The generation of the last change of every table in `names`, then of `ANY_TABLE`."""
        with self._lock:
            return (*(self._stamps.get(name, 0) for name in names), self._stamps.get(ANY_TABLE, 0))

    def changed_since(self, mark: int, names: Iterable[str]) -> bool:
        """Whether any of `names` (or every table) changed after `mark`, or is changing now."""
        with self._lock:
            for name in (*names, ANY_TABLE):
                if self._active[name] > 0 or self._stamps.get(name, 0) > mark:
                    return True
            return False

    def _stamp(self, names: list[str]) -> None:
        self._generation += 1
        for name in names:
            self._stamps[name] = self._generation


def _names(names: Iterable[str] | None) -> list[str]:
    return [ANY_TABLE] if names is None else list(names)


# One per process: the catalog objects a server's contexts share are its own.
CATALOG_CHANGES = CatalogChanges()
