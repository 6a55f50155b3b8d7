"""The operations HTTP port: Prometheus metrics, readiness and the status page.

Read-only: GET only. `/metrics` (Prometheus text, or OpenMetrics with
exemplars when asked), `/ready` (200 once serving, else 503), `/api/status`
(JSON snapshot) and `/` (the status page, which renders `/api/status`).
"""

from __future__ import annotations

import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

from prometheus_client import REGISTRY
from prometheus_client.exposition import choose_encoder

from flightserver.ops.status import ServerState, encode

log = logging.getLogger(__name__)

_PAGE = resources.files("flightserver.ops").joinpath("status.html")


class OpsHttpServer:
    def __init__(self, host: str, port: int, state: ServerState) -> None:
        handler = _handler_class(state)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self.host = host
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="ops-http", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler_class(state: ServerState) -> type[BaseHTTPRequestHandler]:
    page = _PAGE.read_bytes()

    class Handler(BaseHTTPRequestHandler):
        server_version = "flightserver"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                if state.queries is not None:
                    state.queries.expire_unread()  # keeps the active-queries gauge true
                encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
                self._send(HTTPStatus.OK, content_type, encoder(REGISTRY))
            elif path == "/ready":
                status = HTTPStatus.OK if state.ready else HTTPStatus.SERVICE_UNAVAILABLE
                self._send(status, "text/plain", b"ready\n" if state.ready else b"not ready\n")
            elif path == "/api/status":
                self._send(HTTPStatus.OK, "application/json", encode(state.snapshot()))
            elif path in ("/", "/index.html"):
                self._send(HTTPStatus.OK, "text/html; charset=utf-8", page)
            else:
                self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found\n")

        def _send(self, status: HTTPStatus, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("http %s", format % args)

    return Handler
