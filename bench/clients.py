"""The clients a benchmark drives: ADBC, Flight SQL over bare pyarrow.flight, and the bare server's.

Each runs one query per call as a full round trip (GetFlightInfo, then DoGet) and
returns the result, so callers time exactly what a client waits for.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
from pyarrow import flight

from flightserver.protocol.commands import pack
from flightserver.protocol.generated import flight_sql_pb2 as sql_pb2


class ClientKind(StrEnum):
    ADBC = "adbc"  # what users run: the ADBC Flight SQL driver, to flightserver
    FLIGHT_SQL = "flightsql"  # Flight SQL messages over pyarrow.flight, to flightserver
    BARE = "bare"  # SQL in a plain descriptor over pyarrow.flight, to bench.bare_server


class QueryClient(Protocol):
    def query(self, sql: str) -> pa.Table: ...

    def close(self) -> None: ...


class AdbcClient:
    def __init__(self, uri: str) -> None:
        self._conn = flightsql.connect(uri, autocommit=True)
        self._cursor = self._conn.cursor()
        # Its own cursor: the DB-API cursor caches which query its statement holds.
        self._raw_cursor = self._conn.cursor()

    def query(self, sql: str, parameters: tuple[Any, ...] | None = None) -> pa.Table:
        """The DB-API path users take: the driver prepares each new query text first."""
        self._cursor.execute(sql, parameters)
        return self._cursor.fetch_arrow_table()

    def query_unprepared(self, sql: str) -> pa.Table:
        """The driver's statement API without Prepare: GetFlightInfo and DoGet only."""
        statement = self._raw_cursor.adbc_statement
        statement.set_sql_query(sql)
        stream, _ = statement.execute_query()
        return pa.RecordBatchReader.from_stream(stream).read_all()

    def close(self) -> None:
        self._raw_cursor.close()
        self._cursor.close()
        self._conn.close()


class FlightSqlClient:
    """Flight SQL without a driver: the server's share of a round trip, client cost minimal."""

    def __init__(self, uri: str) -> None:
        self._client = flight.connect(uri)

    def query(self, sql: str) -> pa.Table:
        command = pack(sql_pb2.CommandStatementQuery(query=sql))
        info = self._client.get_flight_info(flight.FlightDescriptor.for_command(command))
        return self._client.do_get(info.endpoints[0].ticket).read_all()

    def close(self) -> None:
        self._client.close()


class BareClient:
    """The bare server's protocol: the SQL text is the descriptor's command."""

    def __init__(self, uri: str) -> None:
        self._client = flight.connect(uri)

    def query(self, sql: str) -> pa.Table:
        info = self._client.get_flight_info(flight.FlightDescriptor.for_command(sql.encode()))
        return self._client.do_get(info.endpoints[0].ticket).read_all()

    def close(self) -> None:
        self._client.close()


def connect(kind: ClientKind, uri: str) -> QueryClient:
    match kind:
        case ClientKind.ADBC:
            return AdbcClient(uri)
        case ClientKind.FLIGHT_SQL:
            return FlightSqlClient(uri)
        case ClientKind.BARE:
            return BareClient(uri)
