"""Starting and stopping the operations side of `flightserver serve`.

Health and HTTP ports come up before the catalog loads (reporting not ready),
so orchestrators can watch a slow start; `serving` flips them once Flight SQL
listens with its catalog loaded.
"""

from __future__ import annotations

import logging

from flightserver.catalog.loader import TableStatus
from flightserver.config import ServerConfig
from flightserver.ops import metrics
from flightserver.ops.health import HealthServer
from flightserver.ops.http import OpsHttpServer
from flightserver.ops.queries import QueryTracker
from flightserver.ops.status import ServerState
from flightserver.protocol.sessions import SessionRegistry

log = logging.getLogger(__name__)


class Operations:
    def __init__(self, config: ServerConfig) -> None:
        self.state = ServerState()
        self.http: OpsHttpServer | None = None
        self.health: HealthServer | None = None
        if config.http_port is not None:
            self.http = OpsHttpServer(config.host, config.http_port, self.state)
            # Printed (not logged) so tests and scripts can read the bound port.
            print(f"flightserver http on http://{config.host}:{self.http.port}", flush=True)
        if config.health_port is not None:
            self.health = HealthServer(config.host, config.health_port)
            print(f"flightserver health on grpc://{config.host}:{self.health.port}", flush=True)

    def catalog_loaded(self, catalog: list[TableStatus], seconds: float) -> None:
        self.state.catalog = catalog
        loaded = sum(status.loaded for status in catalog)
        metrics.CATALOG_LOAD_SECONDS.set(seconds)
        metrics.CATALOG_TABLES.labels("loaded").set(loaded)
        metrics.CATALOG_TABLES.labels("failed").set(len(catalog) - loaded)

    def serving(self, queries: QueryTracker, sessions: SessionRegistry) -> None:
        """Flight SQL listens: report ready everywhere."""
        self.state.queries = queries
        metrics.ACTIVE_SESSIONS.set_function(lambda: len(sessions))
        self.state.ready = True
        metrics.READY.set(1)
        if self.health is not None:
            self.health.set_serving(True)
        log.info("ready")

    def stopping(self) -> None:
        """Shutdown began: report not ready, so balancers drain this server."""
        self.state.ready = False
        metrics.READY.set(0)
        if self.health is not None:
            self.health.set_serving(False)

    def stop(self) -> None:
        self.stopping()
        if self.health is not None:
            self.health.stop()
        if self.http is not None:
            self.http.stop()
