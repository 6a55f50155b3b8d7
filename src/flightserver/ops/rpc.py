"""Per-RPC metrics and log lines, as a Flight server middleware."""

from __future__ import annotations

import logging
import time

from pyarrow import flight

from flightserver.ops import metrics

log = logging.getLogger(__name__)

MIDDLEWARE_KEY = "flightserver.ops"

# The gRPC status each pyarrow.flight exception carries.
_CODES: tuple[tuple[type[BaseException], str], ...] = (
    (flight.FlightCancelledError, "CANCELLED"),
    (flight.FlightTimedOutError, "DEADLINE_EXCEEDED"),
    (flight.FlightUnauthenticatedError, "UNAUTHENTICATED"),
    (flight.FlightUnauthorizedError, "PERMISSION_DENIED"),
    (flight.FlightUnavailableError, "UNAVAILABLE"),
    (flight.FlightInternalError, "INTERNAL"),
    (NotImplementedError, "UNIMPLEMENTED"),
    (KeyError, "NOT_FOUND"),
    (ValueError, "INVALID_ARGUMENT"),  # pyarrow.ArrowInvalid is a ValueError
)


def status_code(exception: BaseException | None) -> str:
    if exception is None:
        return "OK"
    for kind, code in _CODES:
        if isinstance(exception, kind):
            return code
    return "UNKNOWN"


class RpcMetricsMiddleware(flight.ServerMiddleware):
    def __init__(self, method: str) -> None:
        self.method = method
        self.started = time.perf_counter()

    def call_completed(self, exception: BaseException | None) -> None:
        seconds = time.perf_counter() - self.started
        code = status_code(exception)
        metrics.RPCS.labels(self.method, code).inc()
        metrics.RPC_DURATION.labels(self.method).observe(seconds)
        log.debug("rpc %s %s in %.3fs", self.method, code, seconds)


class RpcMetricsFactory(flight.ServerMiddlewareFactory):
    def start_call(
        self, info: flight.CallInfo, headers: dict[str, list[str] | list[bytes]]
    ) -> RpcMetricsMiddleware:
        return RpcMetricsMiddleware(info.method.name)
