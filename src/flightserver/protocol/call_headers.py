"""What a call's headers say: the Flight SQL session it names, and whether a Java
client (the JDBC driver) made it. One middleware reads both, so a call pays one
Python callback for them; a call with neither (every ADBC call) gets none.

Sessions: the cookie names one (see `sessions`). Client kind: the result-type
conversions (view types to classic, unsigned to signed, zoned timestamps to UTC
wall time) exist for the Arrow Flight SQL JDBC driver, which cannot read those
types. They change values' types, and zoned timestamps' values, for clients that
read Arrow natively (ADBC, pyarrow, the Go and Rust clients), so they apply only
to Java clients: gRPC Java names itself in the user agent.
"""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie

from pyarrow import flight

CALL_HEADERS_KEY = "flightserver.call"
COOKIE = "arrow_flight_session_id"
_JAVA_AGENT = "grpc-java"

Headers = dict[str, list[str] | list[bytes]]


class CallHeaders(flight.ServerMiddleware):
    """A call that named a session, or that a Java client made."""

    def __init__(self, session_id: str | None, java: bool) -> None:
        self.session_id = session_id
        self.java = java


class CallHeadersFactory(flight.ServerMiddlewareFactory):
    def start_call(self, info: flight.CallInfo, headers: Headers) -> CallHeaders | None:
        cookies = headers.get("cookie")
        session_id = _session_cookie(cookies) if cookies else None
        java = any(_JAVA_AGENT in _text(agent) for agent in headers.get("user-agent", []))
        return None if session_id is None and not java else CallHeaders(session_id, java)


def _call_headers(call: flight.ServerCallContext) -> CallHeaders | None:
    middleware = call.get_middleware(CALL_HEADERS_KEY)
    return middleware if isinstance(middleware, CallHeaders) else None


def needs_client_types(call: flight.ServerCallContext) -> bool:
    """Whether this call's results are converted to the types the JDBC driver reads."""
    headers = _call_headers(call)
    return headers is not None and headers.java


def session_cookie(call: flight.ServerCallContext) -> str | None:
    """The session id this call's cookie names, if any."""
    headers = _call_headers(call)
    return None if headers is None else headers.session_id


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _session_cookie(values: list[str] | list[bytes]) -> str | None:
    for raw in values:
        cookie: SimpleCookie = SimpleCookie()
        try:
            cookie.load(_text(raw))
        except CookieError:
            continue
        if COOKIE in cookie:
            return cookie[COOKIE].value
    return None
