"""Decoding Flight SQL commands: `google.protobuf.Any` bytes to typed messages."""

from __future__ import annotations

from typing import TypeVar

from google.protobuf import any_pb2
from google.protobuf.message import DecodeError, Message

from flightserver.protocol.errors import InvalidRequest, Unimplemented
from flightserver.protocol.generated import flight_sql_pb2 as sql

M = TypeVar("M", bound=Message)

# Every message a client may send us packed in an Any, by full protobuf name.
_KNOWN: dict[str, type[Message]] = {
    cls.DESCRIPTOR.full_name: cls
    for cls in (
        sql.CommandStatementQuery,
        sql.CommandStatementUpdate,
        sql.CommandStatementSubstraitPlan,
        sql.CommandStatementIngest,
        sql.CommandPreparedStatementQuery,
        sql.CommandPreparedStatementUpdate,
        sql.CommandGetSqlInfo,
        sql.CommandGetXdbcTypeInfo,
        sql.CommandGetCatalogs,
        sql.CommandGetDbSchemas,
        sql.CommandGetTables,
        sql.CommandGetTableTypes,
        sql.CommandGetPrimaryKeys,
        sql.CommandGetExportedKeys,
        sql.CommandGetImportedKeys,
        sql.CommandGetCrossReference,
        sql.TicketStatementQuery,
        sql.ActionCreatePreparedStatementRequest,
        sql.ActionCreatePreparedSubstraitPlanRequest,
        sql.ActionClosePreparedStatementRequest,
    )
}


def pack(message: Message) -> bytes:
    """Serializes `message` inside an Any, as Flight SQL puts commands and tickets."""
    wrapper = any_pb2.Any()
    wrapper.Pack(message)
    return wrapper.SerializeToString()


def unpack(data: bytes) -> Message:
    """Decodes Any-wrapped bytes into the message they carry."""
    wrapper = any_pb2.Any()
    try:
        wrapper.ParseFromString(data)
    except DecodeError as exc:
        raise InvalidRequest(f"request is not a valid Flight SQL command: {exc}") from exc
    name = wrapper.type_url.rpartition("/")[2]
    if not name:
        raise InvalidRequest("request is not a Flight SQL command: it names no message type")
    cls = _KNOWN.get(name)
    if cls is None:
        raise Unimplemented(f"unsupported Flight SQL command {name!r}")
    message = cls()
    try:
        wrapper.Unpack(message)
    except DecodeError as exc:
        raise InvalidRequest(f"malformed {name}: {exc}") from exc
    return message


def parse(cls: type[M], data: bytes) -> M:
    """Decodes a bare (not Any-wrapped) message, as action bodies are sent."""
    message = cls()
    try:
        message.ParseFromString(data)
    except DecodeError as exc:
        raise InvalidRequest(f"malformed {cls.DESCRIPTOR.full_name}: {exc}") from exc
    return message


def unpack_as(cls: type[M], data: bytes) -> M:
    """Decodes Any-wrapped bytes that must carry a `cls` message."""
    message = unpack(data)
    if not isinstance(message, cls):
        raise InvalidRequest(
            f"expected {cls.DESCRIPTOR.full_name}, got {message.DESCRIPTOR.full_name}"
        )
    return message
