"""OpenTelemetry trace spans, one per Flight RPC; off unless an exporter is configured.

The RPC middleware (`ops/rpc.py`) opens a span when a call starts and ends it
when the call completes. The statement a call runs tags the call's span with
its query id (`tag_query`, from `ops/queries.py`), the id its log lines, metric
exemplars and artifact carry. A client's `traceparent` header makes the span a
child of the client's trace.

Off (the default), no tracer exists: the middleware makes no spans and
`tag_query` reads one context variable.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter

from flightserver.config import TraceExporter, TracingConfig

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter

QUERY_ID_ATTRIBUTE = "flightserver.query_id"
TRACER_NAME = "flightserver"

# The span of the RPC whose handler is running (see `in_span`).
RPC_SPAN: ContextVar[trace.Span | None] = ContextVar("flightserver_rpc_span", default=None)

Headers = dict[str, list[str] | list[bytes]]


def configure_tracing(config: TracingConfig) -> trace.Tracer | None:
    """The tracer RPC spans are made with; None when tracing is off."""
    if config.exporter is TraceExporter.NONE:
        return None
    # The SDK is loaded only when tracing is on.
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": config.service_name}))
    # Batched: spans are exported off the serving threads.
    provider.add_span_processor(BatchSpanProcessor(_exporter(config)))
    trace.set_tracer_provider(provider)
    return provider.get_tracer(TRACER_NAME)


def _exporter(config: TracingConfig) -> SpanExporter:
    if config.exporter is TraceExporter.CONSOLE:
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter(formatter=_json_line)
    # Imported only when used: it loads gRPC's and the OTLP protobuf modules.
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=config.otlp_endpoint)


def _json_line(span: ReadableSpan) -> str:
    return span.to_json(indent=None) + os.linesep


def tag_query(query_id: str) -> None:
    """Names the query this thread's RPC runs in its span (when tracing is on)."""
    span = RPC_SPAN.get()
    if span is not None:
        span.set_attribute(QUERY_ID_ATTRIBUTE, query_id)


class _HeaderGetter(Getter[Headers]):
    """Reads W3C trace context from gRPC metadata as pyarrow hands it over."""

    def get(self, carrier: Headers, key: str) -> list[str] | None:
        values = carrier.get(key)
        if not values:
            return None
        return [v.decode("latin-1") if isinstance(v, bytes) else v for v in values]

    def keys(self, carrier: Headers) -> list[str]:
        return list(carrier)


_GETTER = _HeaderGetter()


def start_rpc_span(tracer: trace.Tracer, method: str, headers: Headers) -> trace.Span:
    """A server span for one Flight RPC, the child of the client's trace if it sent one."""
    parent = propagate.extract(headers, getter=_GETTER)
    span = tracer.start_span(
        f"arrow.flight.protocol.FlightService/{method}",
        context=parent,
        kind=trace.SpanKind.SERVER,
        attributes={
            "rpc.system": "grpc",
            "rpc.service": "arrow.flight.protocol.FlightService",
            "rpc.method": method,
        },
    )
    return span


def end_rpc_span(span: trace.Span, status_code: str, error: BaseException | None) -> None:
    span.set_attribute("rpc.grpc.status_code", status_code)
    if error is not None:
        span.set_status(trace.Status(trace.StatusCode.ERROR, f"{status_code}: {error}"))
    span.end()


@contextmanager
def in_span(span: trace.Span) -> Generator[None]:
    """Inside, `tag_query` tags `span`.

    Set around each handler rather than when the call starts: pyarrow enters
    Python anew (a fresh context) for the middleware and for the handler.
    """
    token = RPC_SPAN.set(span)
    try:
        yield
    finally:
        RPC_SPAN.reset(token)
