"""Per-RPC metrics, log lines and trace spans, as a Flight server middleware."""

from __future__ import annotations

import logging
import time
from contextlib import AbstractContextManager, nullcontext

from opentelemetry import trace
from pyarrow import flight

from flightserver.ops import metrics
from flightserver.ops.tracing import Headers, end_rpc_span, in_span, start_rpc_span

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


def rpc_name(method: str) -> str:
    """A FlightMethod name as the Flight service spells it: GET_FLIGHT_INFO -> GetFlightInfo."""
    return "".join(word.capitalize() for word in method.split("_"))


class RpcMetricsMiddleware(flight.ServerMiddleware):
    def __init__(self, method: str, span: trace.Span | None = None) -> None:
        self.method = method
        self.span = span
        self.started = time.perf_counter()

    def call_completed(self, exception: BaseException | None) -> None:
        seconds = time.perf_counter() - self.started
        code = status_code(exception)
        metrics.labelled(metrics.RPCS, self.method, code).inc()
        metrics.labelled(metrics.RPC_DURATION, self.method).observe(seconds)
        if self.span is not None:
            end_rpc_span(self.span, code, exception)
        log.debug("rpc %s %s in %.3fs", self.method, code, seconds)


class RpcMetricsFactory(flight.ServerMiddlewareFactory):
    """`tracer`: makes a span per RPC; None (tracing off): no spans."""

    def __init__(self, tracer: trace.Tracer | None = None) -> None:
        self._tracer = tracer

    def start_call(self, info: flight.CallInfo, headers: Headers) -> RpcMetricsMiddleware:
        method = info.method.name
        if self._tracer is None:
            return RpcMetricsMiddleware(method)
        return RpcMetricsMiddleware(method, start_rpc_span(self._tracer, rpc_name(method), headers))


def traced_call(call: flight.ServerCallContext) -> AbstractContextManager[None]:
    """Wraps an RPC handler: the statement it runs tags the call's span (tracing on)."""
    middleware = call.get_middleware(MIDDLEWARE_KEY)
    if isinstance(middleware, RpcMetricsMiddleware) and middleware.span is not None:
        return in_span(middleware.span)
    return nullcontext()
