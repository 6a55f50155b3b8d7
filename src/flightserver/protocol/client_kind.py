"""Which clients get results in the types every driver reads (`engine.client_types`).

The conversions (view types to classic, unsigned to signed, zoned timestamps to
UTC wall time) exist for the Arrow Flight SQL JDBC driver, which cannot read
those types. They change values' types, and zoned timestamps' values, for
clients that read Arrow natively (ADBC, pyarrow, the Go and Rust clients), so
they apply only to Java clients: gRPC Java names itself in the user agent.
"""

from __future__ import annotations

from pyarrow import flight

CLIENT_KIND_KEY = "flightserver-client-kind"
_JAVA_AGENT = "grpc-java"


class JavaClient(flight.ServerMiddleware):
    """Marks a call made by a Java Flight client (the JDBC driver)."""


class ClientKindMiddlewareFactory(flight.ServerMiddlewareFactory):
    def start_call(
        self, info: flight.CallInfo, headers: dict[str, list[str] | list[bytes]]
    ) -> JavaClient | None:
        for agent in headers.get("user-agent", []):
            text = agent.decode(errors="replace") if isinstance(agent, bytes) else agent
            if _JAVA_AGENT in text:
                return JavaClient()
        return None


def needs_client_types(call: flight.ServerCallContext) -> bool:
    """Whether this call's results are converted to the types the JDBC driver reads."""
    return isinstance(call.get_middleware(CLIENT_KIND_KEY), JavaClient)
