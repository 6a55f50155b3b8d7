"""Flight SQL at the wire, with pyarrow.flight: schemas, statuses, actions, sessions."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pytest
from google.protobuf import any_pb2
from google.protobuf.message import Message
from pyarrow import flight

from flightserver.protocol import schemas
from flightserver.protocol.generated import flight_session_pb2 as fs
from flightserver.protocol.generated import flight_sql_pb2 as sql
from tests.server_process import ServerProcess


def packed(message: Message) -> bytes:
    wrapper = any_pb2.Any()
    wrapper.Pack(message)
    return wrapper.SerializeToString()


def descriptor(message: Message) -> flight.FlightDescriptor:
    return flight.FlightDescriptor.for_command(packed(message))


@pytest.fixture
def client(server: ServerProcess) -> Iterator[flight.FlightClient]:
    with flight.connect(server.uri) as connection:
        yield connection


def fetch(client: flight.FlightClient, message: Message) -> tuple[flight.FlightInfo, pa.Table]:
    info = client.get_flight_info(descriptor(message))
    tables = [client.do_get(endpoint.ticket).read_all() for endpoint in info.endpoints]
    return info, pa.concat_tables(tables) if tables else info.schema.empty_table()


METADATA_COMMANDS: list[tuple[Message, pa.Schema]] = [
    (sql.CommandGetSqlInfo(), schemas.SQL_INFO),
    (sql.CommandGetCatalogs(), schemas.CATALOGS),
    (sql.CommandGetDbSchemas(), schemas.DB_SCHEMAS),
    (sql.CommandGetTables(), schemas.TABLES),
    (sql.CommandGetTables(include_schema=True), schemas.TABLES_WITH_SCHEMA),
    (sql.CommandGetTableTypes(), schemas.TABLE_TYPES),
    (sql.CommandGetPrimaryKeys(table="nation"), schemas.PRIMARY_KEYS),
    (sql.CommandGetExportedKeys(table="nation"), schemas.FOREIGN_KEYS),
    (sql.CommandGetImportedKeys(table="nation"), schemas.FOREIGN_KEYS),
    (sql.CommandGetCrossReference(pk_table="nation", fk_table="customer"), schemas.FOREIGN_KEYS),
    (sql.CommandGetXdbcTypeInfo(), schemas.XDBC_TYPE_INFO),
]


@pytest.mark.parametrize(("command", "schema"), METADATA_COMMANDS, ids=lambda v: type(v).__name__)
def test_metadata_schema_is_exactly_the_spec(
    client: flight.FlightClient, command: Message, schema: pa.Schema
) -> None:
    info, table = fetch(client, command)
    assert info.schema.equals(schema)
    assert table.schema.equals(schema)
    assert all(not endpoint.locations for endpoint in info.endpoints)


def test_reference_schemas_match_the_specification_text() -> None:
    # The spec's text, transcribed: a second source that a typo in schemas.py cannot follow.
    assert str(schemas.TABLES) == (
        "catalog_name: string\ndb_schema_name: string\n"
        "table_name: string not null\ntable_type: string not null"
    )
    assert schemas.PRIMARY_KEYS.field("key_sequence").type == pa.int32()
    assert schemas.FOREIGN_KEYS.field("update_rule").type == pa.uint8()
    assert [schemas.SQL_INFO_VALUE.field(i).name for i in range(6)] == [
        "string_value",
        "bool_value",
        "bigint_value",
        "int32_bitmask",
        "string_list",
        "int32_to_int32_list_map",
    ]


def test_tables_filters_and_include_schema(client: flight.FlightClient) -> None:
    _, table = fetch(
        client, sql.CommandGetTables(table_name_filter_pattern="n_ti%", include_schema=True)
    )
    assert table["table_name"].to_pylist() == ["nation"]
    schema = pa.ipc.read_schema(pa.py_buffer(table["table_schema"][0].as_py()))
    metadata = schema.field("n_nationkey").metadata or {}
    assert metadata[b"ARROW:FLIGHT:SQL:TYPE_NAME"] == b"BIGINT"
    assert metadata[b"ARROW:FLIGHT:SQL:PRECISION"] == b"19"
    assert schema.field("n_name").type == pa.string_view()  # as queries return it
    _, none = fetch(
        client, sql.CommandGetTables(table_types=["VIEW"], db_schema_filter_pattern="public")
    )
    assert none.num_rows == 0
    _, everything = fetch(client, sql.CommandGetTables())
    assert {"customer", "nation", "region"} <= set(everything["table_name"].to_pylist())


def test_sql_info_values_have_the_types_drivers_cast_to(client: flight.FlightClient) -> None:
    _, table = fetch(client, sql.CommandGetSqlInfo(info=[0, 8, 504, 508, 522, 541, 517]))
    values = dict(zip(table["info_name"].to_pylist(), table["value"].to_pylist(), strict=True))
    union = table["value"].combine_chunks()
    assert isinstance(union, pa.UnionArray)
    children = dict(zip(table["info_name"].to_pylist(), union.type_codes.to_pylist(), strict=True))
    assert values[0] == "flightserver" and children[0] == 0
    assert values[8] == 0 and children[8] == 3  # transactions: none, as an int32
    assert values[504] == '"' and children[504] == 0
    assert "COPY" in (values[508] or []) and children[508] == 4
    assert children[522] == 3 and children[541] == 2 and children[517] == 5


def test_statement_update_through_do_put(client: flight.FlightClient) -> None:
    writer, reader = client.do_put(
        descriptor(
            sql.CommandStatementUpdate(query="CREATE TABLE flight_update AS VALUES (1), (2)")
        ),
        pa.schema([]),
    )
    writer.done_writing()
    result = sql.DoPutUpdateResult()
    result.ParseFromString(reader.read().to_pybytes())  # pyright: ignore[reportAttributeAccessIssue]
    writer.close()
    _, table = fetch(
        client, sql.CommandStatementQuery(query="SELECT count(*) AS n FROM flight_update")
    )
    assert table["n"].to_pylist() == [2]


def flight_error(call: object) -> flight.FlightError | pa.ArrowException:
    with pytest.raises((flight.FlightError, pa.ArrowException)) as raised:
        call()  # type: ignore[operator]
    return raised.value


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        (b"\xff\x00garbage", pa.ArrowInvalid),
        (packed(sql.TicketStatementQuery(statement_handle=b"x")), pa.ArrowNotImplementedError),
        (
            any_pb2.Any(type_url="type.googleapis.com/no.Such", value=b"").SerializeToString(),
            pa.ArrowNotImplementedError,
        ),
        (b"", pa.ArrowInvalid),
    ],
)
def test_malformed_commands_get_clear_statuses(
    client: flight.FlightClient, payload: bytes, status: type
) -> None:
    error = flight_error(
        lambda: client.get_flight_info(flight.FlightDescriptor.for_command(payload))
    )
    assert isinstance(error, status)
    assert "Traceback" not in str(error)
    # The server still answers.
    fetch(client, sql.CommandGetCatalogs())


def test_unknown_ticket_is_not_found(client: flight.FlightClient) -> None:
    ticket = flight.Ticket(packed(sql.TicketStatementQuery(statement_handle=b"0" * 16)))
    error = flight_error(lambda: client.do_get(ticket).read_all())
    assert isinstance(error, pa.ArrowKeyError)
    assert "unknown or has expired" in str(error)


def test_path_descriptor_is_invalid(client: flight.FlightClient) -> None:
    error = flight_error(lambda: client.get_flight_info(flight.FlightDescriptor.for_path("x")))
    assert isinstance(error, pa.ArrowInvalid)


def test_list_actions_describes_each_action(client: flight.FlightClient) -> None:
    # pyarrow returns ActionType values; its stubs say Action.
    actions = {a.type: a.description for a in client.list_actions()}  # pyright: ignore[reportAttributeAccessIssue]
    for name in (
        "CreatePreparedStatement",
        "ClosePreparedStatement",
        "CancelFlightInfo",
        "SetSessionOptions",
    ):
        assert actions[name]


def test_unknown_action_is_unimplemented(client: flight.FlightClient) -> None:
    error = flight_error(lambda: list(client.do_action(flight.Action("BeginTransaction", b""))))
    assert isinstance(error, pa.ArrowNotImplementedError)


def test_cancel_flight_info_cancels_the_query(client: flight.FlightClient) -> None:
    info = client.get_flight_info(
        descriptor(sql.CommandStatementQuery(query="SELECT * FROM customer CROSS JOIN nation"))
    )
    request = fs.CancelFlightInfoRequest(info=info.serialize())
    (result_bytes,) = [
        r.body.to_pybytes()
        for r in client.do_action(flight.Action("CancelFlightInfo", request.SerializeToString()))
    ]
    result = fs.CancelFlightInfoResult()
    result.ParseFromString(result_bytes)
    assert result.status == fs.CANCEL_STATUS_CANCELLED
    error = flight_error(lambda: client.do_get(info.endpoints[0].ticket).read_all())
    assert isinstance(error, flight.FlightCancelledError)


class CookieJar(flight.ClientMiddlewareFactory):
    """Keeps the session cookie, as the JDBC driver does."""

    def __init__(self) -> None:
        self.cookie: str | None = None

    def start_call(self, info: flight.CallInfo) -> flight.ClientMiddleware:
        jar = self

        class Middleware(flight.ClientMiddleware):
            def sending_headers(self) -> dict[str, list[str] | list[bytes]]:
                return {"cookie": [jar.cookie]} if jar.cookie else {}

            def received_headers(self, headers: dict[str, list[str] | list[bytes]]) -> None:
                for value in headers.get("set-cookie", []):
                    text = value.decode() if isinstance(value, bytes) else value
                    jar.cookie = text.split(";", 1)[0]

        return Middleware()


def session_action(client: flight.FlightClient, name: str, body: bytes = b"") -> list[bytes]:
    return [r.body.to_pybytes() for r in client.do_action(flight.Action(name, body))]


def test_session_catalog_and_schema_apply_to_later_queries(server: ServerProcess) -> None:
    jar = CookieJar()
    with flight.connect(server.uri, middleware=[jar]) as client:
        fetch(client, sql.CommandStatementQuery(query="CREATE SCHEMA IF NOT EXISTS sessions_s"))
        fetch(
            client,
            sql.CommandStatementQuery(query="CREATE TABLE sessions_s.only_here AS VALUES (7)"),
        )
        # Calls that use no session are offered no cookie (ADBC never sends one).
        assert jar.cookie is None
        session_action(client, "GetSessionOptions")
        assert jar.cookie is None
        request = fs.SetSessionOptionsRequest()
        request.session_options["schema"].string_value = "sessions_s"
        request.session_options["no_such_option"].string_value = "x"
        (answer,) = session_action(client, "SetSessionOptions", request.SerializeToString())
        result = fs.SetSessionOptionsResult()
        result.ParseFromString(answer)
        assert (
            dict(result.errors)["no_such_option"].value == fs.SetSessionOptionsResult.INVALID_NAME
        )
        assert jar.cookie is not None
        _, table = fetch(client, sql.CommandStatementQuery(query="SELECT * FROM only_here"))
        assert table.column(0).to_pylist() == [7]
        (options_bytes,) = session_action(client, "GetSessionOptions")
        options = fs.GetSessionOptionsResult()
        options.ParseFromString(options_bytes)
        assert options.session_options["schema"].string_value == "sessions_s"
        (closed,) = session_action(client, "CloseSession")
        assert fs.CloseSessionResult.FromString(closed).status == fs.CloseSessionResult.CLOSED
        # After CloseSession the defaults apply again.
        with pytest.raises(pa.ArrowInvalid):
            fetch(client, sql.CommandStatementQuery(query="SELECT * FROM only_here"))
        # The shared server's schema listing is other tests' business: leave none behind.
        fetch(client, sql.CommandStatementQuery(query="DROP TABLE sessions_s.only_here"))
        fetch(client, sql.CommandStatementQuery(query="DROP SCHEMA sessions_s"))


def test_prepared_query_executes_again_and_sees_new_rows(client: flight.FlightClient) -> None:
    # Its first execution runs the plan made when preparing; later ones plan afresh.
    fetch(client, sql.CommandStatementQuery(query="CREATE TABLE prepared_again AS VALUES (1), (2)"))
    request = sql.ActionCreatePreparedStatementRequest(
        query="SELECT count(*) AS n FROM prepared_again"
    )
    (answer,) = session_action(client, "CreatePreparedStatement", packed(request))
    created = sql.ActionCreatePreparedStatementResult()
    assert any_pb2.Any.FromString(answer).Unpack(created)
    command = sql.CommandPreparedStatementQuery(
        prepared_statement_handle=created.prepared_statement_handle
    )
    assert fetch(client, command)[1].column("n").to_pylist() == [2]
    fetch(client, sql.CommandStatementQuery(query="INSERT INTO prepared_again VALUES (3)"))
    assert fetch(client, command)[1].column("n").to_pylist() == [3]
