"""One table from failures to gRPC status codes.

Handlers raise `RequestError` subclasses (or let DataFusion errors through);
`to_flight_error` turns any exception into the pyarrow exception whose gRPC
status the client sees. Nothing else in the server chooses a status.
"""

from __future__ import annotations

import logging

import pyarrow as pa
from pyarrow import flight

from flightserver.engine.native import POLICY_ERROR_PREFIX

log = logging.getLogger(__name__)


class RequestError(Exception):
    """A request the server understood and refuses; the message goes to the client."""

    def to_flight(self) -> Exception:
        return pa.ArrowInvalid(str(self))  # INVALID_ARGUMENT


class InvalidRequest(RequestError):
    """Malformed or semantically invalid input: INVALID_ARGUMENT."""


class NotFound(RequestError):
    """An unknown or expired handle, ticket or object: NOT_FOUND."""

    def to_flight(self) -> Exception:
        return pa.ArrowKeyError(str(self))


class Unimplemented(RequestError):
    """A command or action this server does not offer: UNIMPLEMENTED."""

    def to_flight(self) -> Exception:
        return pa.ArrowNotImplementedError(str(self))


class PermissionDenied(RequestError):
    """Refused by policy: PERMISSION_DENIED."""

    def to_flight(self) -> Exception:
        return flight.FlightUnauthorizedError(str(self))


def engine_error(exc: Exception) -> RequestError:
    """Classifies an error raised by DataFusion while planning or running SQL."""
    message = str(exc)
    if POLICY_ERROR_PREFIX in message:
        return PermissionDenied(message)
    return InvalidRequest(message)


def to_flight_error(exc: Exception) -> Exception:
    """The exception to raise from a Flight handler for `exc`."""
    if isinstance(exc, RequestError):
        return exc.to_flight()
    if isinstance(exc, flight.FlightError):
        return exc
    log.exception("internal error while serving a request")
    return flight.FlightInternalError(f"internal error: {type(exc).__name__}: {exc}")
