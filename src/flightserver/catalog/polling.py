"""Optional background upkeep: re-read the catalog folder, re-pin Delta tables.

`catalog_refresh_seconds` and `delta_repin_seconds` (ServerConfig) turn each on;
both do what the RefreshCatalog and RepinDelta actions do.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from datafusion import SessionContext

from flightserver.catalog.loader import CatalogLoader
from flightserver.config import ServerConfig

log = logging.getLogger(__name__)


class Poller:
    """Runs each task every its interval seconds on one daemon thread, until stopped."""

    def __init__(self, tasks: dict[str, tuple[float, Callable[[], object]]]) -> None:
        self._tasks = tasks
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="catalog-poller", daemon=True)

    def start(self) -> Poller:
        if self._tasks:
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        due = {name: time.monotonic() + interval for name, (interval, _) in self._tasks.items()}
        while True:
            next_name = min(due, key=due.__getitem__)
            if self._stop.wait(max(0.0, due[next_name] - time.monotonic())):
                return
            interval, task = self._tasks[next_name]
            try:
                task()
            except Exception:  # keep polling: one failure must not end upkeep
                log.exception("catalog upkeep %s failed", next_name)
            due[next_name] = time.monotonic() + interval


def catalog_poller(config: ServerConfig, ctx: SessionContext, loader: CatalogLoader) -> Poller:
    tasks: dict[str, tuple[float, Callable[[], object]]] = {}
    if config.catalog_refresh_seconds is not None:
        tasks["refresh"] = (config.catalog_refresh_seconds, loader.refresh)
    if config.delta_repin_seconds is not None:
        tasks["re-pin"] = (
            config.delta_repin_seconds,
            lambda: loader.delta_tables.repin_latest(ctx),
        )
    return Poller(tasks)
