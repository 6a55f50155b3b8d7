"""A bare pyarrow.flight + DataFusion server: the limit our Flight SQL layer is measured against.

It does what flightserver does for a query and nothing else: GetFlightInfo plans the
SQL (the same session configuration and catalog) and DoGet streams it with the server's
streaming function. The SQL comes as a Flight SQL CommandStatementQuery (so the ADBC
driver can be the client, as for flightserver) or as the descriptor's plain text. With
`--hold QUERY` it keeps that query's result in memory and serves it whenever QUERY is
asked for: the transport limit, a stream with no engine behind it.

Run: python -m bench.bare_server --catalog-dir DIR [--hold QUERY] [--port 0]
"""

from __future__ import annotations

import argparse
import secrets
import threading
from pathlib import Path

import pyarrow as pa
from datafusion import DataFrame, SessionContext
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError
from pyarrow import flight

from bench.engines import client_dataframe, datafusion_context, stream_reader
from flightserver.protocol.generated import flight_sql_pb2 as sql_pb2

HELD = b"held"


class BareServer(flight.FlightServerBase):
    def __init__(
        self, location: str, ctx: SessionContext, hold_query: str | None, held: pa.Table | None
    ) -> None:
        super().__init__(location)
        self._ctx = ctx
        self._hold_query = hold_query
        self._held = held
        self._planned: dict[bytes, DataFrame] = {}
        self._lock = threading.Lock()

    def get_flight_info(
        self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor
    ) -> flight.FlightInfo:
        query = _query_text(descriptor.command or b"")
        if query == self._hold_query and self._held is not None:
            return _info(self._held.schema, descriptor, HELD)
        df = client_dataframe(self._ctx, query)
        ticket = secrets.token_bytes(16)
        with self._lock:
            self._planned[ticket] = df
        return _info(df.schema(), descriptor, ticket)

    def do_get(
        self, context: flight.ServerCallContext, ticket: flight.Ticket
    ) -> flight.FlightDataStream:
        if ticket.ticket == HELD and self._held is not None:
            return flight.RecordBatchStream(self._held)
        with self._lock:
            df = self._planned.pop(ticket.ticket)
        return flight.RecordBatchStream(stream_reader(self._ctx, df))


def _query_text(command: bytes) -> str:
    """The SQL of a Flight SQL CommandStatementQuery, or the command itself as text."""
    wrapper = any_pb2.Any()
    try:
        wrapper.ParseFromString(command)
    except DecodeError:
        return command.decode()
    statement = sql_pb2.CommandStatementQuery()
    if wrapper.Unpack(statement):
        return statement.query
    return command.decode()


def _info(
    schema: pa.Schema, descriptor: flight.FlightDescriptor, ticket: bytes
) -> flight.FlightInfo:
    return flight.FlightInfo(schema, descriptor, [flight.FlightEndpoint(ticket, [])], -1, -1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--catalog-dir", type=Path, required=True)
    parser.add_argument("--hold", help="a query whose result is held in memory as `held`")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    ctx = datafusion_context(args.catalog_dir)
    held = client_dataframe(ctx, args.hold).to_arrow_table() if args.hold else None
    server = BareServer(f"grpc://127.0.0.1:{args.port}", ctx, args.hold, held)
    print(f"bare server listening on grpc://127.0.0.1:{server.port}", flush=True)
    server.serve()


if __name__ == "__main__":
    main()
