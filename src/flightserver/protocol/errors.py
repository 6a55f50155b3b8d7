"""One table from failures to gRPC status codes.

Handlers raise `RequestError` subclasses (DataFusion's errors pass through
`engine_error`); `to_flight_error` turns any exception into the exception
pyarrow.flight maps to the intended gRPC status. Nothing else picks a status.

pyarrow sends a Python exception's formatted traceback along with its message
for every status that has no pyarrow.flight exception class (INVALID_ARGUMENT,
NOT_FOUND, UNIMPLEMENTED). Clients must get a clear message, not our stack, so
`_hide_client_tracebacks` formats the exceptions made here as their class name.
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any

import pyarrow as pa
from pyarrow import flight

from flightserver.engine.admission import Overloaded
from flightserver.engine.native import (
    DELTA_FILE_GONE_PREFIX,
    POLICY_ERROR_PREFIX,
    WORKER_UNAVAILABLE_PREFIX,
)
from flightserver.engine.session import UnknownRole
from flightserver.engine.streaming import QueryCancelledError, QueryTimedOutError
from flightserver.writes.delta import WriteConflict

log = logging.getLogger(__name__)


class _ClientStatus(Exception):
    """An exception raised to pyarrow only to carry a status and message to the client."""

    def __str__(self) -> str:
        # KeyError's str() would quote the message.
        return str(self.args[0]) if self.args else ""


class InvalidArgumentStatus(_ClientStatus, pa.ArrowInvalid):
    pass


class NotFoundStatus(_ClientStatus, pa.ArrowKeyError):
    pass


class UnimplementedStatus(_ClientStatus, pa.ArrowNotImplementedError):
    pass


class RequestError(Exception):
    """A request the server understood and refuses; the message goes to the client."""

    def to_flight(self) -> Exception:
        """The exception a handler raises to answer with this error's status."""
        return InvalidArgumentStatus(str(self))


class InvalidRequest(RequestError):
    """Malformed or semantically invalid input: INVALID_ARGUMENT."""


class NotFound(RequestError):
    """An unknown or expired handle, ticket or object: NOT_FOUND."""

    def to_flight(self) -> Exception:
        return NotFoundStatus(str(self))


class Unimplemented(RequestError):
    """A command or action this server does not offer: UNIMPLEMENTED."""

    def to_flight(self) -> Exception:
        return UnimplementedStatus(str(self))


class PermissionDenied(RequestError):
    """Refused by policy: PERMISSION_DENIED."""

    def to_flight(self) -> Exception:
        return flight.FlightUnauthorizedError(str(self))


class TooManyPreparedStatements(RequestError):
    """A session holds as many open prepared statements as it may: INVALID_ARGUMENT.

    The fitting status, RESOURCE_EXHAUSTED, is one pyarrow.flight cannot send
    (Arrow's TransportStatusCode has none). Of those it can, PERMISSION_DENIED
    must not be used for exhausted resources (gRPC's status code guide), and
    UNAVAILABLE tells clients to retry, which fails again until the client closes
    a statement; INVALID_ARGUMENT does not invite retries and is what the other
    per-request limits (SQL size, memory) answer. The message names the limit.
    """


class Unavailable(RequestError):
    """The server is too busy right now; retrying later may succeed: UNAVAILABLE."""

    def to_flight(self) -> Exception:
        return flight.FlightUnavailableError(str(self))


class TimedOut(RequestError):
    """The request ran past its deadline: DEADLINE_EXCEEDED (CANCELLED mid-stream)."""

    def to_flight(self) -> Exception:
        return flight.FlightTimedOutError(str(self))


class Cancelled(RequestError):
    """The client cancelled the request: CANCELLED."""

    def to_flight(self) -> Exception:
        return flight.FlightCancelledError(str(self))


def engine_error(exc: Exception) -> RequestError:
    """Classifies an error raised by DataFusion while planning or running SQL."""
    if isinstance(exc, QueryCancelledError):
        return Cancelled(str(exc))
    if isinstance(exc, QueryTimedOutError):
        return TimedOut(str(exc))
    if isinstance(exc, Overloaded | WriteConflict):
        return Unavailable(str(exc))
    message = _without_python_traceback(str(exc))
    if POLICY_ERROR_PREFIX in message:
        return PermissionDenied(message)
    if DELTA_FILE_GONE_PREFIX in message:  # the query again reads the current files
        return Unavailable(message)
    if WORKER_UNAVAILABLE_PREFIX in message:  # the next query plans around the worker
        return Unavailable(message)
    return InvalidRequest(message)


# How DataFusion words an exception raised by Python code it called (a table
# function, a UDF): the repr of the PyErr, traceback included.
_PYERR = re.compile(
    r"PyErr \{ type: <class '[^']*'>, value: \w+\((?P<q>['\"])(?P<message>.*?)(?P=q)\),"
    r" traceback: .*\}",
    re.DOTALL,
)


def _without_python_traceback(message: str) -> str:
    """`message` with a Python exception's repr and traceback reduced to its message."""
    return _PYERR.sub(lambda match: match.group("message"), message)


def to_stream_error(exc: Exception) -> Exception:
    """The exception to raise inside a result stream for an engine error.

    Results go out through `flight.GeneratorStream`, which keeps a Flight
    error's status (PERMISSION_DENIED, DEADLINE_EXCEEDED, ...) mid-stream.
    """
    return engine_error(exc).to_flight()


def to_flight_error(exc: Exception) -> Exception:
    """The exception to raise from a Flight handler for `exc`."""
    if isinstance(exc, RequestError):
        return exc.to_flight()
    if isinstance(exc, UnknownRole):  # a token naming a role since removed
        return PermissionDenied(str(exc)).to_flight()
    if isinstance(exc, flight.FlightError):
        return exc
    log.exception("internal error while serving a request")
    return flight.FlightInternalError(f"internal error: {type(exc).__name__}: {exc}")


def _hide_client_tracebacks() -> None:
    original = traceback.format_exception

    def format_exception(exc: Any, /, *args: Any, **kwargs: Any) -> list[str]:
        value = args[0] if args else exc
        if isinstance(value, _ClientStatus):
            return [type(value).__name__]
        return original(exc, *args, **kwargs)

    traceback.format_exception = format_exception


_hide_client_tracebacks()
